"""The widget's avatar (the brand picture in the chat window's header and beside agents' messages),
uploaded by the owner in the inbox admin's widget editor.

Checked at the edge before anything is stored: PNG, JPEG or WebP by the file's first bytes (never its
name or claimed type; no SVG, which can carry script), at most 1 MB and 1024 × 1024 pixels read from
the image header. Pillow is not a dependency, so the picture is not re-encoded; its metadata (a
phone photo's EXIF with where it was taken, text chunks, XMP) is taken out by walking the file's
structure (chat.image_metadata), and a file whose structure does not add up is refused.
Stored like any upload (chat.uploads.save_file: default_storage, so the S3 option works; the
workspace's folder and quota; a random name) and served by the same media view with its safety
headers. The picture is public by nature (every visitor sees it); its name is unguessable like every
upload's, so it reveals nothing of the workspace's other files.
"""

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from helpdesk.errors import DomainError

from . import image_metadata, uploads
from .models import StoredUpload

TYPES = ("png", "jpg", "webp")
ACCEPT = "image/png,image/jpeg,image/webp"
MAX_BYTES = 1024 * 1024
MAX_SIDE = 1024


def check(uploaded_file):
    """The picture to store, without its metadata: a ContentFile whose `avatar_ext` is the stored
    extension. Otherwise a ValidationError in the reader's language."""
    if uploaded_file.size > MAX_BYTES:
        raise ValidationError(_("The picture is too large: at most 1 MB."), code="too_large")
    try:
        ext = uploads.sniff(uploaded_file, getattr(uploaded_file, "name", ""), getattr(uploaded_file, "content_type", ""))
    except DomainError:
        ext = None
    if ext not in TYPES:
        raise ValidationError(_("Choose a PNG, JPEG or WebP picture (SVG and other files are not accepted)."), code="type")
    unreadable = ValidationError(_("This picture cannot be read. Save it again as PNG, JPEG or WebP."), code="unreadable")
    try:
        data = image_metadata.strip(ext, uploads._read(uploaded_file))
    except image_metadata.Malformed:
        raise unreadable from None
    size = uploads.image_size(ext, data)  # stripped, a JPEG's frame header comes early
    if not size or not all(0 < side for side in size):
        raise unreadable
    if max(size) > MAX_SIDE:
        raise ValidationError(_("The picture is %(width)s × %(height)s pixels: at most %(max)s × %(max)s.")
                              % {"width": size[0], "height": size[1], "max": MAX_SIDE}, code="too_wide")
    picture = ContentFile(data, name=f"avatar.{ext}")
    picture.avatar_ext = ext
    return picture


def store(workspace_id, uploaded_file, ext):
    """Store a checked avatar for the workspace; returns its storage name. Not yet kept: a form that
    fails later leaves an unattached upload, which the storage sweep deletes (lifecycle.storage)."""
    try:
        return uploads.save_file(workspace_id, uploaded_file, ext, uploaded_file.size)
    except DomainError as exc:  # quota_exceeded
        raise ValidationError(exc.message, code=exc.code) from None


def replace(workspace_id, old, new):
    """The inbox now shows `new` (a storage name, or "" for none): keep it for good, and delete the
    old picture once the change is committed (a rolled-back save keeps it)."""
    if new:
        StoredUpload.objects.filter(workspace_id=workspace_id, path=new).update(attached=True)
    if old and old != new:
        discard(workspace_id, old)


def discard(workspace_id, name):
    """Delete one of the workspace's avatars (file and quota row) after the transaction commits."""
    match = uploads.STORED_NAME_RE.match(name or "")
    if match is None or int(match.group(1)) != int(workspace_id):
        return  # never another workspace's file, whatever the column holds

    def delete():
        default_storage.delete(name)
        StoredUpload.objects.filter(workspace_id=workspace_id, path=name).delete()

    transaction.on_commit(delete)
