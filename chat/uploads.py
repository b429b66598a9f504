"""Chat attachments: validate an uploaded file at the edge and store it.

What a file is gets decided from its first bytes (magic numbers), never from the
content type or file name the client sends. Those are used only to refuse more:
a file named or labelled as an image that is not one, or a text file named like
a page or a script, is refused. Everything is stored under a random name with the
extension of the type we found, through `default_storage` only (a local folder by
default, an S3-compatible bucket when UPLOADS_S3_BUCKET is set: helpdesk/settings.py), so
several app hosts serve the same files. Sniffing reads the upload in hand, never a stored path.
A PNG, JPEG or WebP picture is stored without its metadata (chat.image_metadata: a phone photo's
EXIF says where it was taken); GIF is stored as sent.
"""

import os
import re
import struct
import unicodedata
import uuid
import zipfile
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Workspace
from helpdesk.errors import DomainError, invalid

from . import image_metadata
from .models import StoredUpload

UPLOAD_DIR = "uploads"
MAX_NAME_CHARS = 120
SNIFF_BYTES = 8192
JPEG_SCAN_BYTES = 256 * 1024  # EXIF and other segments may come before the frame header

# Extension of the stored file -> (content type, kind). The only types we store and serve.
TYPES = {
    "png": ("image/png", "image"),
    "jpg": ("image/jpeg", "image"),
    "gif": ("image/gif", "image"),
    "webp": ("image/webp", "image"),
    "pdf": ("application/pdf", "file"),
    "docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "file"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "file"),
    "pptx": ("application/vnd.openxmlformats-officedocument.presentationml.presentation", "file"),
    "zip": ("application/zip", "file"),
    "txt": ("text/plain", "file"),
    "mp3": ("audio/mpeg", "file"),
    "m4a": ("audio/mp4", "file"),
    "mp4": ("video/mp4", "file"),
}
STORED_NAME_RE = re.compile(r"^%s/(\d+)/\d{4}/\d{2}/[0-9a-f]{32}\.(%s)$" % (UPLOAD_DIR, "|".join(TYPES)))

IMAGE_NAME_EXTS = {"png", "jpg", "jpeg", "jpe", "gif", "webp", "bmp", "ico", "svg", "svgz", "tif", "tiff", "avif", "heic", "apng"}
# Names a plain-text upload may not have: pages, markup and scripts a browser or OS would run.
DANGEROUS_NAME_EXTS = {
    "html", "htm", "xhtml", "shtml", "mhtml", "svg", "svgz", "xml", "xsl", "xslt", "js", "mjs", "cjs", "jsx", "ts",
    "hta", "bat", "cmd", "com", "exe", "dll", "scr", "msi", "ps1", "psm1", "vbs", "vbe", "wsf", "wsh", "jse",
    "jar", "lnk", "reg", "sh", "php", "swf", "appcache", "manifest",
}
MARKUP_MARKERS = ("<!doctype", "<html", "<head", "<body", "<script", "<svg", "<?xml", "<iframe", "<object", "<embed", "<xsl", "<meta")
MARKUP_START_RE = re.compile(r"<[!?/a-z]")
EXECUTABLE_MAGIC = (
    b"MZ",  # Windows PE / DOS
    b"\x7fELF",
    b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe", b"\xcf\xfa\xed\xfe",  # Mach-O
    b"\xca\xfe\xba\xbe",  # Mach-O fat binary / Java class
    b"#!",  # scripts
    b"\x00asm",  # WebAssembly
)
MP4_BRANDS = {b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V ", b"M4VH", b"M4VP", b"dash", b"mmp4", b"MSNV"}
M4A_BRANDS = {b"M4A ", b"M4B "}
JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _mb(n):
    return f"{n / (1024 * 1024):.1f}".rstrip("0").rstrip(".")


def not_allowed(message=None):
    return invalid(
        "file_type_not_allowed",
        message or _("This type of file is not allowed. Send an image (PNG, JPEG, GIF, WebP), a PDF, a Word, Excel or PowerPoint document, a ZIP archive, plain text, or MP3, M4A or MP4 audio or video."),
    )


def too_large(limit, image=False):
    if image:
        return invalid("file_too_large", _("The image is too large (at most %(limit)s MB).") % {"limit": _mb(limit)})
    return invalid("file_too_large", _("The file is too large (at most %(limit)s MB).") % {"limit": _mb(limit)})


# --- sniffing -------------------------------------------------------------------


def _read(f, n=None):
    f.seek(0)
    data = f.read() if n is None else f.read(n)
    f.seek(0)
    return data


def _office_kind(f):
    """docx / xlsx / pptx for an Office Open XML package, zip for any other archive. Reads only the directory."""
    try:
        with zipfile.ZipFile(f) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise not_allowed(_("The archive is damaged.")) from None
    finally:
        f.seek(0)
    if "[Content_Types].xml" in names:
        if any(n.lower().endswith("vbaproject.bin") for n in names):
            raise not_allowed(_("Office documents with macros are not allowed."))
        for part, ext in (("word/document.xml", "docx"), ("xl/workbook.xml", "xlsx"), ("ppt/presentation.xml", "pptx")):
            if part in names:
                return ext
    return "zip"


def _is_mp3(head):
    if head.startswith(b"ID3"):
        return True
    # MPEG audio frame sync, layer III, version not "reserved".
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06 == 0x02 and head[1] & 0x18 != 0x08


def _plain_text_or_refuse(f, name_ext):
    data = _read(f)
    if b"\x00" in data:
        raise not_allowed()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise not_allowed() from None
    start = text[:4096].lstrip().lower()
    if MARKUP_START_RE.match(start) or any(marker in start for marker in MARKUP_MARKERS) or name_ext in DANGEROUS_NAME_EXTS:
        raise not_allowed(_("Web pages, SVG, XML and scripts are not allowed."))
    return "txt"


def sniff(f, claimed_name="", claimed_type=""):
    """The stored extension (a key of TYPES) for the file's content, or a DomainError."""
    head = _read(f, SNIFF_BYTES)
    name_ext = os.path.splitext(claimed_name or "")[1].lstrip(".").lower()
    if head.startswith(EXECUTABLE_MAGIC):
        raise not_allowed(_("Programs and scripts are not allowed."))
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        ext = "png"
    elif head.startswith(b"\xff\xd8\xff"):
        ext = "jpg"
    elif head[:6] in (b"GIF87a", b"GIF89a"):
        ext = "gif"
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        ext = "webp"
    elif head.startswith(b"%PDF-"):
        ext = "pdf"
    elif head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        ext = _office_kind(f)
    elif head[4:8] == b"ftyp" and head[8:12] in M4A_BRANDS:
        ext = "m4a"
    elif head[4:8] == b"ftyp" and head[8:12] in MP4_BRANDS:
        ext = "mp4"
    elif _is_mp3(head):
        ext = "mp3"
    else:
        ext = None
    claims_image = name_ext in IMAGE_NAME_EXTS or str(claimed_type or "").lower().startswith("image/")
    if claims_image and (ext is None or TYPES[ext][1] != "image"):
        # An HTML page, SVG or script dressed up as a picture.
        raise not_allowed(_("The file is not the image it claims to be."))
    if ext is None:
        ext = _plain_text_or_refuse(f, name_ext)
    return ext


# --- image size from the header (best effort, no Pillow) --------------------------


def image_size(ext, data):
    """(width, height) from the image header, or None."""
    try:
        if ext == "png" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if ext == "gif":
            return struct.unpack("<HH", data[6:10])
        if ext == "webp":
            return _webp_size(data)
        if ext == "jpg":
            return _jpeg_size(data)
    except (struct.error, IndexError):
        return None
    return None


def _webp_size(data):
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if chunk == b"VP8L" and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _jpeg_size(data):
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        while data[i] == 0xFF:  # fill bytes
            i += 1
        marker = data[i]
        if marker in JPEG_SOF:
            h, w = struct.unpack(">HH", data[i + 4:i + 8])
            return w, h
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # no length
            i += 1
            continue
        if marker == 0xD9 or marker == 0xDA:  # end of image, start of scan: no frame header found
            return None
        (length,) = struct.unpack(">H", data[i + 1:i + 3])
        i += 1 + length
    return None


# --- names and storage ---------------------------------------------------------------


def clean_display_name(name, ext):
    """Basename only, no control or format characters (no right-to-left override tricks), at most 120 chars."""
    name = re.split(r"[\\/]", str(name or ""))[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"))
    name = name.strip().strip(".").strip()
    if not name:
        name = f"{'image' if TYPES[ext][1] == 'image' else 'file'}.{ext}"
    if len(name) > MAX_NAME_CHARS:
        stem, dot_ext = os.path.splitext(name)
        if dot_ext and len(dot_ext) <= 16:
            name = stem[: MAX_NAME_CHARS - len(dot_ext)] + dot_ext
        else:
            name = name[:MAX_NAME_CHARS]
    return name


def upload_prefix(workspace_id):
    """The url prefix of one workspace's uploads: `/media/uploads/<workspace_id>/`."""
    return f"{settings.MEDIA_URL}{UPLOAD_DIR}/{int(workspace_id)}/"


def is_link(url):
    """An absolute http(s) URL or a path on this site; never //host, which browsers read as another host."""
    if url.startswith(("https://", "http://")):
        return bool(urlsplit(url).hostname)
    return url.startswith("/") and not url.startswith(("//", "/\\"))


def is_allowed_remote(url):
    """An https URL on a host the installation allows to be loaded as an image or file (CHAT_ATTACHMENT_HOSTS)."""
    if not url.startswith("https://"):
        return False
    host = (urlsplit(url).hostname or "").lower()
    return any(host == allowed or host.endswith("." + allowed) for allowed in settings.CHAT["ATTACHMENT_HOSTS"])


def type_for_url(url, workspace_id):
    """(content_type, kind) when `url` names a file stored by store_upload for this workspace, else None."""
    if not isinstance(url, str) or not url.startswith(upload_prefix(workspace_id)):
        return None
    match = STORED_NAME_RE.match(url[len(settings.MEDIA_URL):])
    if match is None or int(match.group(1)) != int(workspace_id):
        return None
    return TYPES[match.group(2)]


# A channel's media (WeChat image/voice/video) is fetched on first view by the product's own endpoint
# (connectors' media view) at /channels/media/<inbox public key>/<platform media id>.
CHANNEL_MEDIA_PREFIX = "/channels/media/"
CHANNEL_MEDIA_RE = re.compile(r"^/channels/media/([A-Za-z0-9_-]{1,40})/([A-Za-z0-9_.=-]{1,200})$")
CHANNEL_MEDIA_TYPES = {"jpg": ("image/jpeg", "image"), "png": ("image/png", "image"), "gif": ("image/gif", "image"),
                       "amr": ("audio/amr", "file"), "silk": ("audio/silk", "file"), "speex": ("audio/speex", "file"),
                       "mp3": ("audio/mpeg", "file"), "mp4": ("video/mp4", "file")}


def channel_media_type(url, inbox, name=""):
    """(content_type, kind) when `url` is this inbox's channel media address, else None. Only the
    channel's customer attaches these (connectors.inbound); the name's extension says what it is."""
    match = CHANNEL_MEDIA_RE.match(url) if isinstance(url, str) else None
    if match is None or inbox is None or match.group(1) != inbox.public_key:
        return None
    ext = os.path.splitext(name)[1].lower().lstrip(".")
    return CHANNEL_MEDIA_TYPES.get(ext, ("application/octet-stream", "file"))


def store_upload(actor, uploaded_file):
    """Validate and store one uploaded file for the actor's workspace; returns the attachment dict
    {url, name, size, content_type, kind[, width, height]} to send as a message attachment."""
    limits = settings.CHAT
    if uploaded_file is None:
        raise invalid("file_missing", _('Send the file in the multipart field "file".'))
    size = uploaded_file.size or 0
    if size > limits["MAX_UPLOAD_BYTES"]:
        raise too_large(limits["MAX_UPLOAD_BYTES"])
    if size == 0:
        raise invalid("empty_file", _("The file is empty."))
    ext = sniff(uploaded_file, getattr(uploaded_file, "name", ""), getattr(uploaded_file, "content_type", ""))
    content_type, kind = TYPES[ext]
    if kind == "image" and size > limits["MAX_IMAGE_BYTES"]:
        raise too_large(limits["MAX_IMAGE_BYTES"], image=True)
    if ext in image_metadata.FORMATS:
        uploaded_file = without_metadata(ext, uploaded_file)
        size = uploaded_file.size
    attachment = {"name": clean_display_name(getattr(uploaded_file, "name", ""), ext), "size": size, "content_type": content_type, "kind": kind}
    if kind == "image":
        dims = image_size(ext, _read(uploaded_file, JPEG_SCAN_BYTES if ext == "jpg" else SNIFF_BYTES))
        if dims and all(0 < d < 1_000_000 for d in dims):
            attachment["width"], attachment["height"] = int(dims[0]), int(dims[1])
    # Our own url, not the storage's (a bucket address): serve_media keeps the access rules and
    # safety headers, and messages keep working whichever storage holds the file.
    return {"url": stored_url(save_file(actor.workspace_id, uploaded_file, ext, size)), **attachment}


def without_metadata(ext, uploaded_file):
    """The picture without its metadata, as a file to store; refused when its structure does not add up."""
    try:
        data = image_metadata.strip(ext, _read(uploaded_file))
    except image_metadata.Malformed:
        raise invalid("unreadable_image", _("This picture could not be read. Please send it again, for example as a screenshot.")) from None
    return ContentFile(data, name=getattr(uploaded_file, "name", "") or f"picture.{ext}")


def save_file(workspace_id, uploaded_file, ext, size):
    """Store a checked file under a new random name in the workspace's folder, counted against its
    quota (quota_exceeded otherwise); returns the storage name."""
    now = timezone.now()
    path = f"{UPLOAD_DIR}/{int(workspace_id)}/{now:%Y}/{now:%m}/{uuid.uuid4().hex}.{ext}"
    record = reserve(workspace_id, path, size)
    uploaded_file.seek(0)
    try:
        stored = default_storage.save(path, uploaded_file if isinstance(uploaded_file, File) else File(uploaded_file))
    except BaseException:
        record.delete()  # nothing stored: give the space back
        raise
    if stored != path:
        StoredUpload.objects.filter(pk=record.pk).update(path=stored)
    return stored


def stored_url(name):
    """The attachment url of a storage name: /media/uploads/<ws>/<yyyy>/<mm>/<hex>.<ext>."""
    return f"{settings.MEDIA_URL}{name}"


def quota_exceeded():
    return DomainError("quota_exceeded", _("This workspace has no storage space left for files. Please contact the site owner."), status=413)


def reserve(workspace_id, path, size, attached=False):
    """The row that counts this file against the workspace's quota, written before the file (the
    workspace row lock makes concurrent uploads take turns, so the quota is never overshot).
    attached: already part of a message (the storage sweep leaves it alone)."""
    quota = settings.UPLOADS["WORKSPACE_QUOTA_BYTES"]
    with transaction.atomic():
        if quota:
            Workspace.objects.select_for_update().filter(pk=workspace_id).values_list("pk").first()
            used = StoredUpload.objects.filter(workspace_id=workspace_id).aggregate(total=Sum("size"))["total"] or 0
            if used + size > quota:
                raise quota_exceeded()
        return StoredUpload.objects.create(workspace_id=workspace_id, path=path, size=size, attached=attached)


def url_path(url):
    """The storage name of an upload url of any workspace (uploads/<ws>/...), or None."""
    if not isinstance(url, str) or not url.startswith(settings.MEDIA_URL):
        return None
    name = url[len(settings.MEDIA_URL):]
    return name if STORED_NAME_RE.match(name) else None
