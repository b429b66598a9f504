"""Channel media: fetched from WeChat once, checked, voice converted to MP3, kept in the upload
storage, served to agents who see the inbox and to nobody else."""

import io
import math
import random
import struct

import av
import pysilk
import pytest
from django.urls import reverse

from accounts.models import Role
from chat.models import Inbox, StoredUpload
from conftest import make_agent, make_inbox, make_visitor, make_workspace, send, verified_client
from connectors import media
from connectors.models import ChannelAccount
from connectors.wechat.client import WeChatError

pytestmark = pytest.mark.django_db

JPEG = (b"\xff\xd8\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
        + b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, 8, 8, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
        + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + b"\x00" * 16 + b"\xff\xd9")


def amr_sample(seconds=1):
    """Real AMR-NB: the magic line, then 12.2 kbit/s frames (header 0x3C + 31 bytes of speech bits)."""
    rnd = random.Random(7)
    return b"#!AMR\n" + b"".join(b"\x3c" + bytes(rnd.randrange(256) for _ in range(31)) for _ in range(50 * seconds))


def silk_sample():
    """Real SILK v3 as WeChat writes it (leading 0x02), encoded from a 440 Hz tone by pysilk."""
    pcm = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 24000))) for i in range(24000))
    out = io.BytesIO()
    pysilk.encode(io.BytesIO(pcm), out, 24000, 24000)
    return out.getvalue()


class FakeWeChat:
    def __init__(self, files):
        self.files, self.calls = files, []

    def for_account(self, account):
        return self

    def get_media(self, media_id):
        self.calls.append(media_id)
        if media_id not in self.files:
            raise WeChatError(40007, "invalid media_id")
        if self.files[media_id] == "down":
            raise WeChatError(0, "network: ConnectTimeout", transient=True)
        return self.files[media_id], "application/octet-stream"


@pytest.fixture
def wechat(monkeypatch):
    fake = FakeWeChat({"img-1": JPEG, "voice-amr": amr_sample(), "voice-silk": silk_sample(), "page": b"<html><script>x</script>",
                       "prog": b"MZ\x90\x00" + b"\x00" * 100, "down": "down"})
    monkeypatch.setattr(media.client, "for_account", fake.for_account)
    return fake


@pytest.fixture
def setup(tmp_path, settings):
    settings.STORAGES = {**settings.STORAGES, "default": {"BACKEND": "django.core.files.storage.FileSystemStorage",
                                                          "OPTIONS": {"location": str(tmp_path)}}}
    workspace = make_workspace()
    inbox = make_inbox(workspace, kind=Inbox.Kind.WECHAT_OA)
    acc = ChannelAccount(inbox=inbox, app_id="wx5823bf96d3bd56c7", token="QDG6eK")
    acc.app_secret = "0123456789abcdef0123456789abcdef"
    acc.save()
    user, _ = make_agent(workspace, [inbox])
    visitor, _token = make_visitor(inbox)
    send(visitor, "a picture")  # the conversation the media belongs to
    return inbox, verified_client(user)


def url(inbox, media_id):
    return reverse("connectors:media", args=[inbox.public_key, media_id])


def body(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_an_image_is_fetched_once_then_served_from_storage(setup, wechat):
    inbox, client = setup
    first = client.get(url(inbox, "img-1"))
    assert first.status_code == 200 and first["Content-Type"] == "image/jpeg" and body(first) == JPEG
    assert first["X-Content-Type-Options"] == "nosniff" and "sandbox" in first["Content-Security-Policy"]
    again = client.get(url(inbox, "img-1"))
    assert body(again) == JPEG and wechat.calls == ["img-1"]
    row = StoredUpload.objects.get()
    assert row.workspace_id == inbox.workspace_id and row.size == len(JPEG) and row.attached  # the sweep keeps it


def test_amr_voice_is_served_as_mp3(setup, wechat):
    inbox, client = setup
    response = client.get(url(inbox, "voice-amr"))
    assert response.status_code == 200 and response["Content-Type"] == "audio/mpeg"
    data = body(response)
    with av.open(io.BytesIO(data)) as played:
        stream = played.streams.audio[0]
        assert stream.codec_context.name.startswith("mp3")
        assert sum(frame.samples for frame in played.decode(stream)) >= 7000  # about one second at 8 kHz
    assert StoredUpload.objects.get().path.endswith(".mp3")


def test_silk_voice_is_served_as_mp3(setup, wechat):
    inbox, client = setup
    response = client.get(url(inbox, "voice-silk"))
    assert response.status_code == 200 and response["Content-Type"] == "audio/mpeg"
    with av.open(io.BytesIO(body(response))) as played:
        assert sum(frame.samples for frame in played.decode(played.streams.audio[0])) >= 20000  # one second at 24 kHz


def test_what_uploads_refuse_is_refused_here_and_not_stored(setup, wechat):
    inbox, client = setup
    for media_id in ("page", "prog"):
        response = client.get(url(inbox, media_id))
        assert response.status_code == 400 and response.json()["error"]["code"] == "file_type_not_allowed"
    assert not StoredUpload.objects.exists()


def test_an_oversized_file_is_refused(setup, wechat, settings):
    inbox, client = setup
    settings.CHAT = {**settings.CHAT, "MAX_UPLOAD_BYTES": 10}
    assert client.get(url(inbox, "img-1")).json()["error"]["code"] == "file_too_large"


def test_expired_media_and_wechat_down_say_so(setup, wechat):
    inbox, client = setup
    gone = client.get(url(inbox, "no-such-media"))
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "media_unavailable"
    down = client.get(url(inbox, "down"))
    assert down.status_code == 503 and down.json()["error"]["code"] == "wechat_unavailable"
    assert not StoredUpload.objects.exists()


def test_a_missing_file_is_fetched_again(setup, wechat, tmp_path):
    inbox, client = setup
    client.get(url(inbox, "img-1"))
    (tmp_path / StoredUpload.objects.get().path).unlink()
    assert body(client.get(url(inbox, "img-1"))) == JPEG and wechat.calls == ["img-1", "img-1"]


def test_a_full_quota_still_shows_the_file_without_keeping_it(setup, wechat, settings):
    inbox, client = setup
    settings.UPLOADS = {**settings.UPLOADS, "WORKSPACE_QUOTA_BYTES": 10}
    assert body(client.get(url(inbox, "img-1"))) == JPEG and not StoredUpload.objects.exists()


def test_only_agents_who_see_the_inbox_get_it(setup, wechat):
    inbox, _client = setup
    other_inbox = make_inbox(inbox.workspace, kind=Inbox.Kind.WECHAT_OA)
    colleague, _ = make_agent(inbox.workspace, [other_inbox])  # serves another inbox only
    assert verified_client(colleague).get(url(inbox, "img-1")).status_code == 404
    stranger, _ = make_agent(make_workspace(), [], role=Role.FOUNDER)  # another workspace's owner
    assert verified_client(stranger).get(url(inbox, "img-1")).status_code == 404
    from django.test import Client

    anonymous = Client().get(url(inbox, "img-1"))
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]
    assert wechat.calls == []  # nothing fetched for them
    assert verified_client(stranger).get(url(inbox, "img-1")).status_code == verified_client(stranger).get(
        reverse("connectors:media", args=["no-such-inbox", "img-1"])).status_code
