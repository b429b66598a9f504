"""The founder changes the widget's look in the admin (zh-Hans, 1440 px): the preview follows as they
type, the embed code is copied with one click; the merchant's page then shows the launcher on the
left in the new colour with its caption, and the panel's header in that colour with readable text,
on a desktop and on a phone."""

import pytest

from chat.models import Inbox
from conftest import BROWSER_WAIT_MS, outside_the_browser_loop
from helpdesk.tests.test_csp_browser import logged_in_context, watch_violations

from .test_console_browser import no_serious_accessibility_violations

pytestmark = [pytest.mark.django_db(transaction=True)]

YELLOW = "rgb(255, 212, 0)"
DARK = "rgb(27, 31, 36)"


def style(locator, prop):
    return locator.evaluate(f"(el) => getComputedStyle(el).{prop}")


def test_founder_restyles_the_widget_and_copies_the_snippet(personas, live_server_url, browser, artifacts):
    from playwright.sync_api import expect

    context = logged_in_context(browser, live_server_url, personas.owner_user, locale="zh-CN")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server_url)
    page = context.new_page()
    violations = watch_violations(page)
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(f"{live_server_url}/admin/chat/inbox/{personas.inbox_a.pk}/change/")
    preview = page.locator("[data-widget-preview]")
    expect(preview.locator("[data-preview-title]")).to_have_text("Site A")
    page.get_by_label("聊天窗口标题").fill("茶馆客服")
    page.locator("#id_widget_color").fill("#ffd400")
    page.get_by_label("左下角").check()
    page.get_by_label("按钮文字").fill("在线客服")
    expect(preview.locator("[data-preview-title]")).to_have_text("茶馆客服")
    expect(preview.locator("[data-preview-caption]")).to_have_text("在线客服")
    header = preview.locator("[data-preview-header]")
    assert style(header, "backgroundColor") == YELLOW and style(header, "color") == DARK  # readable on yellow
    preview.screenshot(path=artifacts / "admin-widget-preview.png")
    launcher = preview.locator("[data-preview-launcher]")
    assert launcher.bounding_box()["x"] < preview.bounding_box()["x"] + 60  # moved to the left
    page.locator("[data-embed-code] [data-copy]").first.click()
    expect(page.locator("[data-embed-code] [data-copied]").first).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == f'<script src="{live_server_url}/static/chat/widget/loader.js" data-inbox="{personas.inbox_a.public_key}" async></script>'
    secret = page.locator("[data-secret]")
    expect(secret).to_have_attribute("type", "password")
    page.get_by_role("button", name="显示密钥").click()
    expect(secret).to_have_attribute("type", "text")
    page.locator("[data-embed-code]").scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "admin-widget-editor-desktop.png", full_page=True)
    assert violations == []
    no_serious_accessibility_violations(page)
    violations.clear()  # axe-core's injected styles are refused by the policy, as they should be
    page.locator("input[name=_continue]").click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    stored = outside_the_browser_loop(lambda: Inbox.objects.values("widget_color", "widget_position", "widget_launcher_text").get(
        pk=personas.inbox_a.pk))
    assert stored == {"widget_color": "#ffd400", "widget_position": "left", "widget_launcher_text": "在线客服"}

    # the merchant's page: the launcher follows the look, on a desktop and on a phone
    for viewport, name in (({"width": 1440, "height": 900}, "desktop"), ({"width": 375, "height": 812}, "phone")):
        shop = browser.new_context(locale="zh-CN", viewport=viewport, is_mobile=name == "phone", has_touch=name == "phone").new_page()
        shop.goto(f"{live_server_url}/widget/demo/?inbox={personas.inbox_a.public_key}")
        button = shop.locator("[data-helpdesk-launcher]")
        expect(button).to_contain_text("在线客服", timeout=BROWSER_WAIT_MS)
        expect(button).to_be_visible()
        assert style(button, "backgroundColor") == YELLOW and style(button, "color") == DARK
        box = button.bounding_box()
        assert box["x"] < 40 and box["height"] >= 44, box  # bottom left, a thumb-sized target
        button.click()
        frame = shop.frame_locator("[data-helpdesk-frame]")
        expect(frame.locator(".w-header h1")).to_have_text("茶馆客服", timeout=BROWSER_WAIT_MS)
        assert style(frame.locator(".w-header"), "backgroundColor") == YELLOW
        assert style(frame.locator(".w-header"), "color") == DARK
        shop.screenshot(path=artifacts / f"widget-restyled-{name}.png")
        shop.context.close()
    context.close()


def test_the_launcher_shows_at_once_on_the_next_page_in_the_kept_look(personas, live_server_url, browser, artifacts):
    """The first page waits for the frame's look (or 3 s) before showing the launcher; the frame's look is
    kept on the merchant's site, so on the next page the launcher shows in it at once, even while the
    frame has not loaded (here: never loads)."""
    from playwright.sync_api import expect

    outside_the_browser_loop(lambda: Inbox.objects.filter(pk=personas.inbox_a.pk).update(
        widget_color="#ffd400", widget_position="left", widget_launcher_text="在线客服"))
    shop_url = f"{live_server_url}/widget/demo/?inbox={personas.inbox_a.public_key}"
    context = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    shop = context.new_page()
    shop.goto(shop_url)
    button = shop.locator("[data-helpdesk-launcher]")
    expect(button).to_contain_text("在线客服", timeout=BROWSER_WAIT_MS)  # the frame said how it looks
    expect(button).to_be_visible()

    context.route("**/widget/frame/**", lambda route: route.abort())  # the frame never comes now
    shop.goto(shop_url)
    expect(button).to_be_visible(timeout=BROWSER_WAIT_MS)
    expect(button).to_contain_text("在线客服")
    assert style(button, "backgroundColor") == YELLOW and style(button, "color") == DARK
    assert button.bounding_box()["x"] < 40  # on the left, as kept
    shop.screenshot(path=artifacts / "widget-launcher-kept-look-phone.png")
    context.close()

    # A first visit with the frame not loading: hidden at first, then the default launcher after 3 s.
    fresh = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    fresh.route("**/widget/frame/**", lambda route: route.abort())
    first = fresh.new_page()
    first.goto(shop_url)
    launcher = first.locator("[data-helpdesk-launcher]")
    expect(launcher).to_be_attached()
    assert launcher.evaluate("(el) => el.style.visibility") == "hidden"
    expect(launcher).to_be_visible(timeout=BROWSER_WAIT_MS)
    assert launcher.inner_text() == "" and style(launcher, "backgroundColor") != YELLOW
    fresh.close()
