"""The widget's avatar in Chromium, zh-Hans. In the editor (1440 px) the founder chooses a picture:
the preview shows it at once, before anything is saved; saved, the page shows it as the current
avatar with 去掉头像, which hides it in the preview. On a phone (375 × 812) the customer's chat window
shows the picture (a phone photo whose EXIF with GPS was taken out) in its header and beside the agent's
reply; an inbox without one keeps the default look. Pictures encoded by Chromium itself, with metadata
added and taken out again, still draw. A window holding the address of a replaced (deleted) picture
falls back to the default look, never a broken image."""

import base64
import struct
import zlib

import pytest

from chat import avatars
from chat.admin import InboxForm
from chat.models import Inbox
from conftest import BROWSER_WAIT_MS, outside_the_browser_loop, widget_session_open
from helpdesk.tests.test_csp_browser import logged_in_context, watch_violations

from .test_console_browser import no_serious_accessibility_violations
from .test_faq_wrapup_browser import assert_tap_targets
from .test_widget_avatar import XMP, exif_with_gps, riff_chunk, segment

pytestmark = [pytest.mark.django_db(transaction=True)]


def logo_png(size=96):
    """A real RGB PNG: a white disc on orange, the kind of brand mark a shop uploads."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    centre, radius = (size - 1) / 2, size * 0.3
    rows = []
    for y in range(size):
        row = bytearray(b"\x00")
        for x in range(size):
            inside = (x - centre) ** 2 + (y - centre) ** 2 <= radius ** 2
            row += b"\xff\xff\xff" if inside else b"\xe8\x6a\x17"
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b"")


def loaded(img):
    return img.evaluate("(el) => el.complete && el.naturalWidth > 0")


def encoded_by_chromium(page, mime, size=96):
    """A real picture from Chromium's own encoder (a canvas): a white disc on orange."""
    url = page.evaluate("""([mime, size]) => {
      const canvas = Object.assign(document.createElement("canvas"), { width: size, height: size });
      const g = canvas.getContext("2d");
      g.fillStyle = "#e86a17"; g.fillRect(0, 0, size, size);
      g.fillStyle = "#fff"; g.beginPath(); g.arc(size / 2, size / 2, size * 0.3, 0, 2 * Math.PI); g.fill();
      return canvas.toDataURL(mime, 0.9);
    }""", [mime, size])
    assert url.startswith(f"data:{mime};base64,"), url[:40]
    return base64.b64decode(url.split(",", 1)[1])


def with_metadata(kind, data, size):
    """The picture as a phone or an editor would save it: EXIF with GPS, XMP, text chunks."""
    if kind == "jpg":
        return data[:2] + segment(0xE1, exif_with_gps()) + segment(0xE1, XMP) + segment(0xFE, b"shot at home") + data[2:]
    if kind == "png":
        def chunk(name, body):
            return struct.pack(">I", len(body)) + name + body + struct.pack(">I", zlib.crc32(name + body) & 0xFFFFFFFF)
        return data[:33] + chunk(b"tEXt", b"Comment\x00GPS 31.2304,121.4737") + chunk(b"eXIf", exif_with_gps()[6:]) + data[33:]
    extra = riff_chunk(b"EXIF", exif_with_gps()[6:]) + riff_chunk(b"XMP ", XMP)
    if data[12:16] == b"VP8X":  # Chromium's encoder writes the extended format (with an alpha chunk): flag the two
        body = data[8:20] + bytes((data[20] | 0x0C,)) + data[21:] + extra
    else:  # the simple format, made extended to carry them
        vp8x = b"\x0c\x00\x00\x00" + (size - 1).to_bytes(3, "little") + (size - 1).to_bytes(3, "little")
        body = b"WEBP" + riff_chunk(b"VP8X", vp8x) + data[12:] + extra
    return b"RIFF" + struct.pack("<I", len(body)) + body


def set_avatar(inbox_pk, data, name="logo.png"):
    """The owner saves the inbox's widget editor with this picture (the old one is deleted); its url."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    inbox = Inbox.objects.get(pk=inbox_pk)
    form = InboxForm(data={"workspace": inbox.workspace_id, "name": inbox.name, "kind": inbox.kind, "widget_color": "#e86a17",
                           "widget_position": "right", "widget_title": "茶馆客服"},
                     files={"widget_avatar": SimpleUploadedFile(name, data, "application/octet-stream")}, instance=inbox)
    assert form.is_valid(), form.errors
    return form.save().widget_avatar_url


@pytest.fixture
def media(settings, tmp_path):
    """The test process stores in the live server's MEDIA_ROOT (conftest.live_server_url)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def test_the_editor_previews_saves_and_removes_the_avatar(personas, media, live_server_url, browser, artifacts):
    from playwright.sync_api import expect

    context = logged_in_context(browser, live_server_url, personas.owner_user, locale="zh-CN")
    page = context.new_page()
    violations = watch_violations(page)
    page.set_viewport_size({"width": 1440, "height": 900})
    url = f"{live_server_url}/admin/chat/inbox/{personas.inbox_a.pk}/change/"
    page.goto(url)
    preview = page.locator("[data-widget-preview]")
    avatar = preview.locator("[data-preview-avatar]")
    expect(avatar).to_be_hidden()  # no picture yet: the default look
    chooser = page.get_by_label("头像")
    expect(chooser).to_have_attribute("accept", "image/png,image/jpeg,image/webp")
    chooser.set_input_files({"name": "logo.png", "mimeType": "image/png", "buffer": logo_png()})
    expect(avatar).to_be_visible()
    assert avatar.get_attribute("src").startswith("blob:") and loaded(avatar)  # shown before saving
    assert_tap_targets(chooser)
    preview.screenshot(path=artifacts / "admin-widget-avatar-preview.png")
    page.locator("input[name=_continue]").click()
    expect(page.locator(".messagelist .success")).to_be_visible()

    stored = outside_the_browser_loop(lambda: Inbox.objects.get(pk=personas.inbox_a.pk).widget_avatar)
    assert stored.startswith(f"uploads/{personas.workspace.pk}/") and stored.endswith(".png")
    expect(avatar).to_have_attribute("src", f"/media/{stored}")
    assert loaded(avatar) and loaded(page.locator(".avatar-field__current"))
    remove = page.locator("label.avatar-field__remove")
    expect(remove).to_have_text("去掉头像")
    assert_tap_targets(page.locator(".avatar-field input[type=file], label.avatar-field__remove"))
    page.locator(".avatar-field").scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "admin-widget-avatar-editor-desktop.png")
    assert violations == []
    no_serious_accessibility_violations(page)
    violations.clear()  # axe-core's injected styles are refused by the policy, as they should be

    remove.click()
    expect(avatar).to_be_hidden()
    page.locator("input[name=_continue]").click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    assert outside_the_browser_loop(lambda: Inbox.objects.get(pk=personas.inbox_a.pk).widget_avatar) == ""
    expect(page.locator(".avatar-field__current")).to_have_count(0)
    context.close()


def test_the_customer_sees_the_avatar_on_a_phone(personas, media, live_server_url, online_agent, browser, artifacts):
    from django.core.files.storage import default_storage
    from playwright.sync_api import expect

    maker = browser.new_page()
    photo = with_metadata("jpg", encoded_by_chromium(maker, "image/jpeg"), 96)  # a phone photo with where it was taken
    maker.close()
    avatar_url = outside_the_browser_loop(lambda: set_avatar(personas.inbox_a.pk, photo, "IMG_0001.JPG"))
    stored = outside_the_browser_loop(lambda: default_storage.open(avatar_url.removeprefix("/media/")).read())
    assert stored.startswith(b"\xff\xd8") and b"Exif" not in stored and b"2026:05:01" not in stored and len(stored) < len(photo)
    context = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    shop = context.new_page()
    shop.goto(f"{live_server_url}/widget/demo/?inbox={personas.inbox_a.public_key}")
    shop.locator("[data-helpdesk-launcher]").click()
    frame = shop.frame_locator("[data-helpdesk-frame]")
    header_avatar = frame.locator(".w-header img.w-avatar")
    expect(header_avatar).to_be_visible(timeout=BROWSER_WAIT_MS)
    assert header_avatar.get_attribute("src") == avatar_url and loaded(header_avatar)
    expect(frame.locator(".w-header h1")).to_have_text("茶馆客服")
    box = header_avatar.bounding_box()
    assert box["width"] == 36 and box["height"] == 36, box

    widget_session_open(frame)
    frame.locator("[data-action=start]").click()
    expect(frame.locator("#w-input")).to_be_editable(timeout=BROWSER_WAIT_MS)
    frame.locator("#w-input").fill("你好，请问今天发货吗？")
    frame.locator("#w-composer button[type=submit]").click()
    conversation_id = online_agent.wait_for_message(lambda m: m["body"] == "你好，请问今天发货吗？")["conversation_id"]
    online_agent.send("您好，今天下午发货。", conversation_id=conversation_id)
    reply = frame.locator(".w-msg--agent", has_text="今天下午发货")
    expect(reply).to_be_visible(timeout=BROWSER_WAIT_MS)
    beside = reply.locator("img.w-msg-avatar")
    assert beside.get_attribute("src") == avatar_url and loaded(beside)
    assert beside.bounding_box()["x"] + beside.bounding_box()["width"] <= reply.locator(".w-body").bounding_box()["x"]  # beside, not over
    assert frame.locator(".w-msg--mine img").count() == 0  # the customer's own messages carry none
    assert shop.evaluate("document.documentElement.scrollWidth") <= 375
    shop.screenshot(path=artifacts / "widget-avatar-phone.png")

    # The same chat window as a page (H5), checked by axe-core; another inbox keeps the default look.
    h5 = context.new_page()
    h5.goto(f"{live_server_url}/widget/chat/?inbox={personas.inbox_a.public_key}")
    expect(h5.locator(".w-header img.w-avatar")).to_be_visible()
    widget_session_open(h5)
    no_serious_accessibility_violations(h5)
    other = context.new_page()
    other.goto(f"{live_server_url}/widget/chat/?inbox={personas.inbox_b.public_key}")
    expect(other.locator(".w-header h1")).to_have_text("App B")
    assert other.locator(".w-header img").count() == 0
    context.close()



def test_pictures_without_their_metadata_still_draw(personas, media, live_server_url, browser):
    """PNG, JPEG and WebP from Chromium's encoder, given EXIF, XMP and text, then stored without them:
    Chromium decodes each at its size."""
    maker = browser.new_page()
    sent = {kind: with_metadata(kind, encoded_by_chromium(maker, mime, 80), 80)
            for kind, mime in (("png", "image/png"), ("jpg", "image/jpeg"), ("webp", "image/webp"))}
    maker.close()

    def store_all():
        from django.core.files.storage import default_storage
        from django.core.files.uploadedfile import SimpleUploadedFile

        urls = {}
        for kind, data in sent.items():
            name = avatars.store(personas.workspace.pk, avatars.check(SimpleUploadedFile(f"a.{kind}", data)), kind)
            assert len(default_storage.open(name).read()) < len(data)
            urls[kind] = f"/media/{name}"
        return urls

    urls = outside_the_browser_loop(store_all)
    page = browser.new_context().new_page()
    page.goto(f"{live_server_url}/widget/chat/?inbox={personas.inbox_b.public_key}")
    sizes = page.evaluate("""async (urls) => Promise.all(urls.map(async (url) => {
      const img = new Image();
      img.src = url;
      await img.decode();
      return [img.naturalWidth, img.naturalHeight];
    }))""", list(urls.values()))
    assert sizes == [[80, 80]] * 3, dict(zip(urls, sizes))


def test_a_replaced_avatar_gives_way_to_the_default_look(personas, media, live_server_url, online_agent, browser, artifacts):
    """The customer's window was served while the old picture was set; the owner replaces it before the
    picture has loaded, so its address answers 404. The window shows no picture (header or messages)
    rather than a broken image."""
    import time

    from django.test import Client
    from playwright.sync_api import expect

    old_url = outside_the_browser_loop(lambda: set_avatar(personas.inbox_a.pk, logo_png()))
    context = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    page = context.new_page()
    violations = watch_violations(page)
    held = []
    page.route(f"{live_server_url}{old_url}", lambda route: held.append(route))  # the picture's request waits until the owner has replaced it
    url = f"{live_server_url}/widget/chat/?inbox={personas.inbox_a.public_key}"
    page.goto(url, wait_until="domcontentloaded")
    deadline = time.monotonic() + BROWSER_WAIT_MS / 1000
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(50)  # lets Playwright deliver the routed request
    assert held and page.locator(".w-header img.w-avatar").get_attribute("src") == old_url
    new_url = outside_the_browser_loop(lambda: set_avatar(personas.inbox_a.pk, logo_png(64)))
    assert new_url != old_url and outside_the_browser_loop(lambda: Client().get(old_url).status_code) == 404
    held[0].continue_()  # to the server, which has deleted the file
    widget_session_open(page)
    expect(page.locator(".w-header img")).to_have_count(0)
    expect(page.locator(".w-header h1")).to_have_text("茶馆客服")
    page.locator("[data-action=start]").click()
    expect(page.locator("#w-input")).to_be_editable(timeout=BROWSER_WAIT_MS)
    page.locator("#w-input").fill("头像怎么不见了？")
    page.locator("#w-composer button[type=submit]").click()
    conversation_id = online_agent.wait_for_message(lambda m: m["body"] == "头像怎么不见了？")["conversation_id"]
    online_agent.send("我们刚换了新头像。", conversation_id=conversation_id)
    reply = page.locator(".w-msg--agent", has_text="刚换了新头像")
    expect(reply).to_be_visible(timeout=BROWSER_WAIT_MS)
    assert reply.locator("img").count() == 0 and "w-msg--avatar" not in reply.get_attribute("class")  # the default look
    assert page.evaluate("[...document.images].filter((img) => !img.complete || !img.naturalWidth).length") == 0  # nothing broken
    assert violations == []
    page.screenshot(path=artifacts / "widget-avatar-replaced-phone.png")
    # Loaded afresh, the page names the new picture and shows it.
    fresh = context.new_page()
    fresh.goto(url)
    header_avatar = fresh.locator(".w-header img.w-avatar")
    expect(header_avatar).to_be_visible()
    assert header_avatar.get_attribute("src") == new_url and loaded(header_avatar)
    context.close()
