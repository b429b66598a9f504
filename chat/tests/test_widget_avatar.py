"""The widget's avatar (issue 20, widget editor): the owner uploads a PNG, JPEG or WebP picture of at
most 1 MB and 1024 × 1024 pixels on the inbox admin; anything else (a page named .png, SVG, GIF, too
large either way) is a field error in the owner's language and nothing is stored or changed. The
picture is stored like any upload (the workspace's folder, its quota, a random name), shown in that
inbox's chat window only, replaced or removed with the old file deleted, and the change audited.
Its metadata is taken out before it is stored (no Pillow: the file's structure is walked): a phone
photo's EXIF with where it was taken, PNG text chunks, WebP EXIF and XMP; a broken structure is refused."""

import struct
import zlib
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation

from accounts.audit_text import describe, names_for
from accounts.models import AuditLog
from accounts.tests.test_admin_relations import page_values
from chat import avatars, image_metadata, uploads
from chat.admin import InboxForm
from chat.models import Inbox, StoredUpload
from chat.tests.test_uploads import MB, gif_bytes, jpeg_bytes, png_bytes
from conftest import verified_client

pytestmark = [pytest.mark.django_db]

SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="4"/></svg>'


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_URL = "/media/"
    return settings.MEDIA_ROOT


def files_in(root):
    return sorted(p.relative_to(root).as_posix() for p in Path(root).rglob("*") if p.is_file())


def picture(data, name="logo.png", content_type="image/png"):
    return SimpleUploadedFile(name, data, content_type=content_type)


def riff_chunk(kind, data):
    return kind + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) % 2 else b"")


def webp_bytes(width, height, flags=0, extra=()):
    """An extended WebP (VP8X) with a lossless image chunk, and the chunks of `extra` after it."""
    vp8x = bytes((flags,)) + b"\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    bits = (width - 1) | ((height - 1) << 14)
    body = b"WEBP" + riff_chunk(b"VP8X", vp8x) + riff_chunk(b"VP8L", b"\x2f" + bits.to_bytes(4, "little") + b"\x00" * 8) + b"".join(extra)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def form(inbox, files=None, **data):
    base = {"workspace": inbox.workspace_id, "name": inbox.name, "kind": inbox.kind, "widget_color": inbox.widget_color,
            "widget_position": inbox.widget_position}
    return InboxForm(data={**base, **data}, files=files or {}, instance=inbox)


def save_avatar(inbox, upload, django_capture_on_commit_callbacks):
    bound = form(inbox, files={"widget_avatar": upload})
    assert bound.is_valid(), bound.errors
    with django_capture_on_commit_callbacks(execute=True):
        return bound.save()


@pytest.mark.parametrize("data, name, ext", [
    (png_bytes(256, 256), "logo.png", "png"), (jpeg_bytes(512, 512), "照片.JPG", "jpg"), (webp_bytes(1024, 1024), "a.webp", "webp"),
])
def test_a_picture_is_stored_in_the_workspaces_folder_and_kept(personas, media, data, name, ext, django_capture_on_commit_callbacks):
    inbox = save_avatar(personas.inbox_a, picture(data, name), django_capture_on_commit_callbacks)
    inbox.refresh_from_db()
    match = uploads.STORED_NAME_RE.match(inbox.widget_avatar)
    assert match and int(match.group(1)) == personas.workspace.pk and match.group(2) == ext  # random name, type from the bytes
    assert Path(inbox.widget_avatar).stem not in name
    assert default_storage.open(inbox.widget_avatar).read() == data
    row = StoredUpload.objects.get(path=inbox.widget_avatar)
    assert row.workspace_id == personas.workspace.pk and row.size == len(data) and row.attached  # counted, never swept
    assert inbox.widget_avatar_url == f"/media/{inbox.widget_avatar}"


def refused(inbox, upload):
    with translation.override("zh-hans"):
        bound = form(inbox, files={"widget_avatar": upload})
        assert not bound.is_valid()
        return [str(m) for m in bound.errors["widget_avatar"]]


@pytest.mark.parametrize("upload, says", [
    (picture(b"<html><script>alert(1)</script></html>", "logo.png"), "PNG、JPEG 或 WebP"),  # a page dressed as a PNG
    (picture(b"\x89PNG\r\n\x1a\n" + b"<script>alert(1)</script>" * 4, "logo.png"), "无法读取"),  # PNG magic, no image header
    (picture(SVG, "logo.svg", "image/svg+xml"), "PNG、JPEG 或 WebP"),
    (picture(SVG, "logo.png"), "PNG、JPEG 或 WebP"),
    (picture(gif_bytes(), "logo.gif", "image/gif"), "PNG、JPEG 或 WebP"),
    (picture(png_bytes(padding=b"x" * MB), "big.png"), "1 MB"),
    (picture(png_bytes(2000, 100), "wide.png"), "2000 × 100"),
    (picture(jpeg_bytes(800, 1025), "tall.jpg", "image/jpeg"), "最大 1024 × 1024"),
    # A structure that does not add up: nothing could say what it hides.
    (picture(jpeg_bytes(64, 64)[:-2], "cut.jpg", "image/jpeg"), "无法读取"),  # no end of image
    (picture(b"\xff\xd8" + b"\xff\xe1\x40\x00Exif\x00\x00GPS" + jpeg_bytes(64, 64)[2:], "a.jpg"), "无法读取"),  # APP1 past the end
    (picture(png_bytes(64, 64)[:-1] + b"\x00", "crc.png"), "无法读取"),  # IEND's checksum broken
    (picture(png_bytes(64, 64)[:-12], "cut.png"), "无法读取"),  # no IEND
    (picture(b"RIFF" + struct.pack("<I", 4 + 18) + b"WEBP" + b"VP8X" + struct.pack("<I", 10) + b"\x00" * 10, "a.webp"), "无法读取"),  # no image
    (picture(webp_bytes(64, 64)[:-3], "cut.webp"), "无法读取"),  # RIFF size past the end
])
def test_a_bad_picture_is_a_field_error_and_changes_nothing(personas, media, upload, says):
    before = Inbox.objects.values().get(pk=personas.inbox_a.pk)
    errors = refused(personas.inbox_a, upload)
    assert any(says in e for e in errors), errors
    assert Inbox.objects.values().get(pk=personas.inbox_a.pk) == before
    assert files_in(media) == [] and not StoredUpload.objects.exists()


def test_another_bad_field_stores_no_picture(personas, media):
    bound = form(personas.inbox_a, files={"widget_avatar": picture(png_bytes(64, 64))}, widget_color="yellow")
    assert not bound.is_valid() and "widget_color" in bound.errors
    assert files_in(media) == [] and not StoredUpload.objects.exists()


def test_a_full_quota_is_a_field_error(personas, media, settings):
    settings.UPLOADS = {**settings.UPLOADS, "WORKSPACE_QUOTA_BYTES": 1}
    errors = refused(personas.inbox_a, picture(png_bytes(64, 64)))
    assert errors and files_in(media) == []


def test_replacing_and_removing_delete_the_old_file(personas, media, django_capture_on_commit_callbacks):
    first = save_avatar(personas.inbox_a, picture(png_bytes(64, 64)), django_capture_on_commit_callbacks).widget_avatar
    second = save_avatar(personas.inbox_a, picture(jpeg_bytes(64, 64), "b.jpg", "image/jpeg"),
                         django_capture_on_commit_callbacks).widget_avatar
    assert second != first and files_in(media) == [second]
    assert list(StoredUpload.objects.values_list("path", flat=True)) == [second]
    # The form as the page posts it again with nothing chosen keeps the picture.
    kept = form(personas.inbox_a, widget_title="茶馆")
    assert kept.is_valid(), kept.errors
    assert kept.save().widget_avatar == second and "widget_avatar" not in kept.changed_data
    removed = form(personas.inbox_a, **{"widget_avatar-clear": "on"})
    assert removed.is_valid(), removed.errors
    with django_capture_on_commit_callbacks(execute=True):
        removed.save()
    personas.inbox_a.refresh_from_db()
    assert personas.inbox_a.widget_avatar == "" and personas.inbox_a.widget_avatar_url == ""
    assert files_in(media) == [] and not StoredUpload.objects.exists()


def test_a_new_picture_and_remove_at_once_is_refused(personas, media, django_capture_on_commit_callbacks):
    save_avatar(personas.inbox_a, picture(png_bytes(64, 64)), django_capture_on_commit_callbacks)
    with translation.override("zh-hans"):
        both = form(personas.inbox_a, files={"widget_avatar": picture(png_bytes(32, 32))}, **{"widget_avatar-clear": "on"})
        assert not both.is_valid() and "widget_avatar" in both.errors
    assert len(files_in(media)) == 1


def test_discard_never_touches_another_workspaces_file(personas, media, django_capture_on_commit_callbacks):
    theirs = save_avatar(personas.other_inbox, picture(png_bytes(64, 64)), django_capture_on_commit_callbacks).widget_avatar
    with django_capture_on_commit_callbacks(execute=True):
        avatars.discard(personas.workspace.pk, theirs)
        avatars.discard(personas.workspace.pk, "../secret_key")
    assert files_in(media) == [theirs]


def test_the_chat_window_shows_the_avatar_of_its_own_inbox_only(personas, media, django_capture_on_commit_callbacks):
    mine = save_avatar(personas.inbox_a, picture(png_bytes(64, 64)), django_capture_on_commit_callbacks).widget_avatar_url
    client = Client()
    frame = client.get("/widget/frame/", {"inbox": personas.inbox_a.public_key}).content.decode()
    assert f'<img class="w-avatar" src="{mine}"' in frame and f'data-avatar="{mine}"' in frame
    for other in (personas.inbox_b, personas.other_inbox):  # same workspace or another: no picture, the default look
        page = client.get("/widget/chat/", {"inbox": other.public_key}).content.decode()
        assert "w-avatar" not in page and 'data-avatar=""' in page and mine not in page
    served = client.get(mine)
    assert served.status_code == 200 and served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff" and "sandbox" in served["Content-Security-Policy"]


def test_the_admin_page_uploads_shows_and_audits_the_picture(personas, media):
    owner = verified_client(personas.owner_user)
    url = f"/admin/chat/inbox/{personas.inbox_a.pk}/change/"
    page = owner.get(url)
    assert 'enctype="multipart/form-data"' in page.content.decode()
    data = page_values(page.context, personas.workspace)
    data["widget_avatar"] = picture(png_bytes(128, 128))
    response = owner.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    personas.inbox_a.refresh_from_db()
    stored = personas.inbox_a.widget_avatar
    assert stored and files_in(media) == [stored]
    log = AuditLog.objects.get(action="inbox.change", target_id=str(personas.inbox_a.pk))
    assert log.before == {"widget_avatar": ""} and log.after == {"widget_avatar": stored}
    with translation.override("zh-hans"):
        assert "头像" in describe(log, names_for([log]))
    html = owner.get(url).content.decode()
    assert f'src="/media/{stored}"' in html and 'name="widget_avatar-clear"' in html  # the current picture and 去掉头像
    # A refused picture on the page: the owner's language, next to the field, nothing changed.
    data = page_values(owner.get(url).context, personas.workspace)
    data["widget_avatar"] = picture(SVG, "logo.svg", "image/svg+xml")
    with translation.override("zh-hans"):
        response = owner.post(url, data, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200 and "widget_avatar" in response.context["adminform"].form.errors
    personas.inbox_a.refresh_from_db()
    assert personas.inbox_a.widget_avatar == stored and files_in(media) == [stored]


def test_deleting_the_inbox_deletes_its_picture(personas, media, django_capture_on_commit_callbacks):
    save_avatar(personas.inbox_b, picture(png_bytes(64, 64)), django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        response = verified_client(personas.owner_user).post(f"/admin/chat/inbox/{personas.inbox_b.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not Inbox.objects.filter(pk=personas.inbox_b.pk).exists()
    assert files_in(media) == [] and not StoredUpload.objects.exists()


# --- metadata taken out ------------------------------------------------------------------------


def segment(marker, payload):
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def exif_with_gps():
    """EXIF as a phone writes it (big-endian TIFF): IFD0 with the camera's make and a GPS IFD with the
    date and where the photo was taken (31°13'49"N 121°28'25"E)."""

    def entry(tag, kind, count, value):
        return struct.pack(">HHI", tag, kind, count) + value

    rationals = lambda *parts: b"".join(struct.pack(">II", p, 1) for p in parts)  # noqa: E731
    ifd0 = struct.pack(">H", 2) + entry(0x010F, 2, 6, struct.pack(">I", 38)) + entry(0x8825, 4, 1, struct.pack(">I", 44)) + b"\0" * 4
    gps = (struct.pack(">H", 5) + entry(1, 2, 2, b"N\0\0\0") + entry(2, 5, 3, struct.pack(">I", 122)) + entry(3, 2, 2, b"E\0\0\0")
           + entry(4, 5, 3, struct.pack(">I", 146)) + entry(0x1D, 2, 11, struct.pack(">I", 110)) + b"\0" * 4)
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + ifd0 + b"Apple\0" + gps + b"2026:05:01\0\0" + rationals(31, 13, 49) + rationals(121, 28, 25)
    assert len(tiff) == 170
    return b"Exif\x00\x00" + tiff


GPS_DATE = b"2026:05:01"
XMP = b'http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><rdf:Description exif:GPSLatitude="31,13.8N"/></x:xmpmeta>'
ICC = b"ICC_PROFILE\x00\x01\x01" + b"\x00\x00\x02\x0cappl" + b"\x11" * 40
ADOBE = b"Adobe\x00\x64\x00\x00\x00\x00\x01"


def test_a_phone_jpeg_loses_its_exif_and_keeps_what_draws_it(personas, media, django_capture_on_commit_callbacks):
    jfif = b"JFIF\x00\x01\x01\x00\x00\x48\x00\x48"
    sof = segment(0xC0, struct.pack(">BHHB", 8, 64, 64, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01")
    dht = segment(0xC4, b"\x00" + b"\x01" + b"\x00" * 15 + b"\xd9")  # a table byte 0xd9 is not an end of image
    sos = segment(0xDA, b"\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00")
    # Entropy-coded data: stuffed 0xff 0x00 (then 0xd9), a restart marker, fill bytes before the next marker.
    scan = b"\x12\xff\x00\xd9\x34\xff\xd0\x56\x78"
    second_scan = segment(0xDA, b"\x01\x01\x00\x00\x3f\x00") + b"\x9a\xff\x00\xbc"
    frame = sof + dht + sos + scan
    sent = (b"\xff\xd8" + segment(0xE0, jfif + b"\x01\x01" + b"\xe8\x6a\x17")  # JFIF with a 1 × 1 thumbnail
            + segment(0xE1, exif_with_gps()) + segment(0xE1, XMP) + segment(0xE2, ICC)
            + segment(0xED, b"Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x0cIPTC caption")
            + segment(0xEE, ADOBE) + segment(0xFE, b"shot at home") + frame
            + b"\xff\xff" + segment(0xE1, exif_with_gps()) + second_scan
            + b"\xff\xd9"
            + b"\xff\xd8" + segment(0xE1, exif_with_gps()) + b"MPF second picture\xff\xd9")  # what phones append
    inbox = save_avatar(personas.inbox_a, picture(sent, "IMG_0001.JPG", "image/jpeg"), django_capture_on_commit_callbacks)
    stored = default_storage.open(inbox.widget_avatar).read()
    assert stored == (b"\xff\xd8" + segment(0xE0, jfif + b"\x00\x00") + segment(0xE2, ICC) + segment(0xEE, ADOBE) + frame
                      + second_scan + b"\xff\xd9")
    assert stored.startswith(b"\xff\xd8\xff") and b"\xff\xda" in stored and stored.endswith(b"\xff\xd9")
    for secret in (b"Exif", GPS_DATE, b"Apple", b"GPSLatitude", b"IPTC", b"shot at home", b"MPF"):
        assert secret not in stored
    assert StoredUpload.objects.get(path=inbox.widget_avatar).size == len(stored)  # the quota counts what is kept
    assert uploads.image_size("jpg", stored) == (64, 64)


def png_chunks(data):
    """(kind, crc right?) of every chunk after the signature."""
    found, i = [], 8
    while i < len(data):
        (length,) = struct.unpack(">I", data[i:i + 4])
        kind, body, (crc,) = data[i + 4:i + 8], data[i + 8:i + 8 + length], struct.unpack(">I", data[i + 8 + length:i + 12 + length])
        found.append((kind, crc == zlib.crc32(kind + body) & 0xFFFFFFFF))
        i += 12 + length
    return found


def test_a_png_loses_its_text_and_exif_chunks(personas, media, django_capture_on_commit_callbacks):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    plain = png_bytes(64, 64)
    ihdr, rest = plain[8:33], plain[33:]
    sent = (plain[:8] + ihdr + chunk(b"tEXt", b"Comment\x00GPS 31.2304,121.4737") + chunk(b"zTXt", b"Author\x00\x00" + zlib.compress(b"Li Lei"))
            + chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP) + chunk(b"eXIf", exif_with_gps()[6:])
            + chunk(b"tIME", b"\x07\xea\x05\x01\x08\x00\x00") + chunk(b"pHYs", b"\x00\x00\x0b\x13\x00\x00\x0b\x13\x01") + chunk(b"prVt", b"private")
            + rest + b"trailing data after IEND")
    inbox = save_avatar(personas.inbox_a, picture(sent), django_capture_on_commit_callbacks)
    stored = default_storage.open(inbox.widget_avatar).read()
    assert stored == plain[:8] + ihdr + chunk(b"pHYs", b"\x00\x00\x0b\x13\x00\x00\x0b\x13\x01") + rest
    assert png_chunks(stored) == [(b"IHDR", True), (b"pHYs", True), (b"IDAT", True), (b"IEND", True)]
    for secret in (b"GPS", b"Li Lei", b"xmp", GPS_DATE, b"private", b"trailing"):
        assert secret not in stored


def test_a_webp_loses_its_exif_and_xmp_chunks(personas, media, django_capture_on_commit_callbacks):
    icc = riff_chunk(b"ICCP", b"\x00\x00\x02\x0cappl" + b"\x11" * 20)
    exif, xmp = riff_chunk(b"EXIF", exif_with_gps()[6:] + b"!"), riff_chunk(b"XMP ", XMP)  # odd size: a padding byte
    sent = webp_bytes(256, 128, flags=0x20 | 0x08 | 0x04, extra=[icc, exif, xmp, riff_chunk(b"ABCD", b"unknown")])
    inbox = save_avatar(personas.inbox_a, picture(sent, "a.webp", "image/webp"), django_capture_on_commit_callbacks)
    stored = default_storage.open(inbox.widget_avatar).read()
    assert stored == webp_bytes(256, 128, flags=0x20, extra=[icc])  # ICC flag kept, EXIF and XMP flags cleared
    assert struct.unpack("<I", stored[4:8])[0] == len(stored) - 8
    assert stored[30:34] == b"VP8L" and stored[12:16] == b"VP8X"
    for secret in (b"EXIF", b"XMP ", GPS_DATE, b"ABCD"):
        assert secret not in stored
    assert uploads.image_size("webp", stored) == (256, 128)


@pytest.mark.parametrize("ext, data", [
    ("png", png_bytes(8, 8)), ("jpg", jpeg_bytes(8, 8)), ("webp", webp_bytes(8, 8)), ("webp", webp_bytes(8, 8, flags=0x10)),
])
def test_a_picture_without_metadata_is_kept_byte_for_byte(ext, data):
    assert image_metadata.strip(ext, data) == data
