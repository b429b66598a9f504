"""Uploading chat attachments (`POST /api/v1/uploads`) and serving them (`GET /media/...`)."""

from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import FileResponse, Http404
from django.views.decorators.http import require_safe
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from chat import uploads
from connectors import media
from helpdesk import ratelimit
from surfaces import throttle
from surfaces.api.views import actor_for

MULTIPART_OVERHEAD_BYTES = 64 * 1024  # boundaries and part headers around the file

AttachmentOut = inline_serializer(
    "Attachment",
    {
        "url": serializers.CharField(),
        "name": serializers.CharField(),
        "size": serializers.IntegerField(),
        "content_type": serializers.CharField(),
        "kind": serializers.ChoiceField(choices=["image", "file"]),
        "width": serializers.IntegerField(required=False),
        "height": serializers.IntegerField(required=False),
    },
)


class UploadView(APIView):
    """Customers (visitor token) and agents (session or API token) upload one file; the answer
    is the attachment to send as attachments[0] of an image or file message."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": inline_serializer("UploadIn", {"file": serializers.FileField()})},
        responses={201: AttachmentOut},
        summary="Upload an image or file for a chat message",
    )
    def post(self, request):
        actor = actor_for(request)
        throttle.upload(actor, ratelimit.request_ip(request))  # customers only; before the body is parsed
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.CHAT["MAX_UPLOAD_BYTES"]
        if length > limit + MULTIPART_OVERHEAD_BYTES:
            raise uploads.too_large(limit)  # refused before the body is parsed
        attachment = uploads.store_upload(actor, as_playable(request.FILES.get("file"), limit))
        return Response(attachment, status=status.HTTP_201_CREATED)


def as_playable(f, limit):
    """A voice recording in WeChat's formats (AMR, SILK: what a phone's WeChat saves) as MP3, which
    every browser plays; any other file as it came. AMR starts with "#!", which the upload check
    would otherwise refuse as a script."""
    if f is None or not f.size or f.size > limit:
        return f  # store_upload gives the error
    f.seek(0)
    head = f.read(16)
    f.seek(0)
    if head.startswith((media.AMR_NB, media.AMR_WB)):
        data = media.amr_to_mp3(f.read())
    elif head.startswith(media.SILK):
        data = media.silk_to_mp3(f.read())
    else:
        return f
    stem = Path(f.name or "").stem or "voice"
    return SimpleUploadedFile(f"{stem}.mp3", data, content_type="audio/mpeg")


YEAR = 365 * 24 * 3600


def _inside_uploads(name):
    """False for a local file that is a link out of the uploads folder. Remote storages (S3) have
    keys, not paths (Storage.path raises NotImplementedError): nothing there can point elsewhere."""
    try:
        local, root = default_storage.path(name), default_storage.path(uploads.UPLOAD_DIR)
    except NotImplementedError:
        return True
    return Path(local).resolve().is_relative_to(Path(root).resolve())


@require_safe
def serve_media(request, path):
    """Serve an uploaded file from the uploads storage (default_storage), and nothing else there.

    Access is by unguessable name (uuid4) only: anyone holding the url can fetch the file,
    like a message link. Checking that the caller may see a conversation holding the url
    could be added here later (look the url up in Message.attachments for the actor).
    Files are immutable (a new upload gets a new name), hence the long cache lifetime.
    The headers keep a browser from running anything in them: no sniffing, a sandboxing
    CSP, and a download (not a page) for anything but images. With an S3 bucket the file is
    streamed through here rather than redirected to a signed bucket link: the bucket would
    send its own headers (and run on its own origin), and a link would outlive access rules."""
    if not uploads.STORED_NAME_RE.match(path):  # also rules out "..", absolute and odd names
        raise Http404
    if not _inside_uploads(path):
        raise Http404
    try:
        handle = default_storage.open(path, "rb")  # one lookup: no exists() round trip first
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise Http404 from None
    name = path.rsplit("/", 1)[-1]
    content_type, kind = uploads.TYPES[name.rsplit(".", 1)[-1]]
    if content_type == "text/plain":
        content_type = "text/plain; charset=utf-8"
    response = FileResponse(handle, content_type=content_type, as_attachment=kind != "image", filename=name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    response["Cache-Control"] = f"private, max-age={YEAR}, immutable"
    return response
