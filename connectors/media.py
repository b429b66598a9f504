"""Media a WeChat customer sent (image, voice, video), fetched once and kept.

A customer's image/voice/video message carries `/channels/media/<inbox key>/<media_id>` as its
attachment (connectors.inbound). WeChat keeps temporary media 3 days, so the first agent who opens
it makes us fetch it through the API client (media/get, the shared access token), check it as an
upload is checked (size, type from the first bytes), convert voice to MP3 (AMR through PyAV/FFmpeg,
SILK through pysilk: browsers play neither) and store it through the upload storage
(default_storage: the local folder or the S3 bucket), under a name derived from the inbox and the
media id. Every later view serves the stored copy.

The StoredUpload row counts the file against the workspace's quota; it is written `attached`, so
the unattached-upload sweep (lifecycle.storage) never deletes it: the message refers to it through
the media URL, which the sweep does not read."""

import hashlib
import io
import logging
from dataclasses import dataclass

import av
import pysilk
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError
from django.utils.translation import gettext_lazy as _

from chat import uploads
from chat.models import StoredUpload
from helpdesk.errors import DomainError, invalid, not_found

from .models import ChannelAccount
from .wechat import client

log = logging.getLogger(__name__)

MEDIA_DIR = "channels"
AMR_NB, AMR_WB = b"#!AMR\n", b"#!AMR-WB\n"
SILK = (b"#!SILK_V3", b"\x02#!SILK_V3")  # WeChat's SILK files start with an extra 0x02
SILK_RATE = 24000
MAX_VOICE_SECONDS = 10 * 60  # WeChat voice is at most 60 s; more is a malformed or hostile file
MP3_BIT_RATE = 32000  # speech: small files that every browser plays
# What this module stores: (content type, kind shown by the console).
TYPES = {
    "jpg": ("image/jpeg", "image"), "png": ("image/png", "image"), "gif": ("image/gif", "image"), "webp": ("image/webp", "image"),
    "mp4": ("video/mp4", "video"), "mp3": ("audio/mpeg", "voice"),
}


@dataclass(frozen=True)
class Media:
    """What the view serves: a stored file (`path`), or bytes in hand (`data`) when storing was not
    possible (quota full, or another request is storing the same file right now)."""

    content_type: str
    kind: str
    ext: str
    path: str = ""
    data: bytes = b""


def media_unavailable():
    return DomainError("media_unavailable", _("WeChat no longer has this file (it keeps media for 3 days) or refused to send it."),
                       status=404)


def _prefix(inbox, media_id):
    # The media id is WeChat's (up to 128 chars, any characters): hashed into a fixed, safe name.
    digest = hashlib.sha256(f"{inbox.pk}:{media_id}".encode()).hexdigest()[:40]
    return f"{MEDIA_DIR}/{int(inbox.workspace_id)}/{int(inbox.pk)}/{digest}."


def stored(inbox, media_id):
    """The stored copy of this media, or None (one indexed lookup on the unique path)."""
    row = StoredUpload.objects.filter(workspace_id=inbox.workspace_id, path__startswith=_prefix(inbox, media_id)).first()
    if row is None:
        return None
    ext = row.path.rsplit(".", 1)[-1]
    if ext not in TYPES:
        return None
    return Media(*TYPES[ext], ext=ext, path=row.path)


def get(inbox, media_id):
    """The media, fetched from WeChat and stored the first time. DomainError when it cannot be had."""
    found = stored(inbox, media_id)
    if found is not None:
        return found
    account = ChannelAccount.objects.filter(inbox=inbox).first()
    if account is None:
        raise not_found()
    data = _download(account, media_id)
    data, ext = checked(data)
    return _store(inbox, media_id, data, ext)


def _download(account, media_id):
    try:
        data, _content_type = client.for_account(account).get_media(media_id)
    except client.WeChatError as error:
        # The type WeChat claims is not trusted: checked() reads the bytes.
        log.warning("media/get failed for inbox %s: %s", account.inbox_id, error)
        if error.transient:
            raise DomainError("wechat_unavailable", _("WeChat did not answer; try again in a moment."), status=503) from None
        raise media_unavailable() from None
    return data


# --- checks and conversion -----------------------------------------------------------------------


def checked(data):
    """(bytes to store, extension): voice converted to MP3; images and videos checked by their first
    bytes exactly like uploads; anything else refused."""
    limit = settings.CHAT["MAX_UPLOAD_BYTES"]
    if len(data) > limit:
        raise uploads.too_large(limit)
    if not data:
        raise invalid("empty_file", _("The file is empty."))
    if data.startswith((AMR_NB, AMR_WB)):
        return amr_to_mp3(data), "mp3"
    if data.startswith(SILK):
        return silk_to_mp3(data), "mp3"
    ext = uploads.sniff(ContentFile(data))  # raises for executables, markup, archives that lie...
    if ext not in TYPES:
        raise uploads.not_allowed(_("WeChat sent a file that is not an image, a voice message or a video."))
    if TYPES[ext][1] == "image" and len(data) > settings.CHAT["MAX_IMAGE_BYTES"]:
        raise uploads.too_large(settings.CHAT["MAX_IMAGE_BYTES"], image=True)
    return data, ext


def unplayable():
    return invalid("voice_unreadable", _("This voice message could not be converted."))


def amr_to_mp3(data):
    try:
        with av.open(io.BytesIO(data), format="amr") as source:
            stream = source.streams.audio[0]
            return _encode_mp3(source.decode(stream), stream.codec_context.sample_rate or 8000)
    except (av.FFmpegError, IndexError, ValueError) as exc:
        log.info("AMR conversion failed: %s", exc)
        raise unplayable() from None


def silk_to_mp3(data):
    pcm = io.BytesIO()
    try:
        pysilk.decode(io.BytesIO(data), pcm, SILK_RATE)
    except Exception as exc:  # pysilk raises its own SilkError and ValueError for damaged input
        log.info("SILK conversion failed: %s", exc)
        raise unplayable() from None
    raw = pcm.getvalue()
    if not raw:
        raise unplayable()
    try:
        return _encode_mp3(_pcm_frames(raw, SILK_RATE), SILK_RATE)
    except (av.FFmpegError, ValueError) as exc:
        log.info("SILK to MP3 failed: %s", exc)
        raise unplayable() from None


def _pcm_frames(raw, rate, samples=4096):
    """Signed 16-bit mono PCM as PyAV frames (no numpy needed)."""
    raw = raw[: len(raw) - len(raw) % 2]
    for start in range(0, len(raw), samples * 2):
        chunk = raw[start:start + samples * 2]
        frame = av.AudioFrame(format="s16", layout="mono", samples=len(chunk) // 2)
        frame.planes[0].update(chunk)
        frame.sample_rate = rate
        yield frame


def _encode_mp3(frames, rate):
    out = io.BytesIO()
    total = 0
    with av.open(out, "w", format="mp3") as target:
        stream = target.add_stream("libmp3lame", rate=rate, layout="mono")
        stream.bit_rate = MP3_BIT_RATE
        context = stream.codec_context
        resampler = av.AudioResampler(format=context.format.name, layout="mono", rate=rate, frame_size=context.frame_size or None)
        for frame in [*frames, None]:
            if frame is not None:
                total += frame.samples
                if total > rate * MAX_VOICE_SECONDS:
                    raise ValueError("voice too long")
            for chunk in resampler.resample(frame):
                target.mux(stream.encode(chunk))
        target.mux(stream.encode(None))
    return out.getvalue()


# --- storage ---------------------------------------------------------------------------------------


def _store(inbox, media_id, data, ext):
    content_type, kind = TYPES[ext]
    path = _prefix(inbox, media_id) + ext
    in_hand = Media(content_type, kind, ext, data=data)
    try:
        record = uploads.reserve(inbox.workspace_id, path, len(data), attached=True)  # attached: the sweep keeps it
    except IntegrityError:
        return in_hand  # another request is storing it right now: show this one what we fetched
    except DomainError:
        log.warning("workspace %s: no storage left for channel media; served without keeping it", inbox.workspace_id)
        return in_hand
    try:
        name = default_storage.save(path, ContentFile(data))
    except BaseException:
        record.delete()
        raise
    if name != path:  # a leftover file had the name: the storage picked another, keep the row right
        StoredUpload.objects.filter(pk=record.pk).update(path=name)
    return Media(content_type, kind, ext, path=name)




def open_stored(media):
    """A readable file for a stored Media; None if the file is gone (then fetch again)."""
    try:
        return default_storage.open(media.path, "rb")
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def forget(inbox, media_id):
    """Drop a stored row whose file is missing, so the next view fetches the media again."""
    StoredUpload.objects.filter(workspace_id=inbox.workspace_id, path__startswith=_prefix(inbox, media_id)).delete()
