"""Finding 6 of issue 14 (attachments): what an agent attaches is loaded by the customer's browser,
so images and files are the workspace's own uploads (or hosts the installation allows); any other
address only as the link of a card or article, and never `//host` (another host to a browser)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from chat.models import Message
from chat.tests.test_uploads import png_bytes
from conftest import send, verified_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat(personas, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    first, _ = send(personas.visitor, "which size?")
    agent = verified_client(personas.agent_a_user, Client(HTTP_ACCEPT_LANGUAGE="en"))
    return agent, first.conversation_id


def post(agent, conversation_id, msg_type, attachment, n=[0]):
    n[0] += 1
    return agent.post(f"/api/v1/conversations/{conversation_id}/messages",
                      {"client_msg_id": f"att-{n[0]}", "type": msg_type, "body": "see", "attachments": [attachment]},
                      content_type="application/json")


@pytest.mark.parametrize("msg_type,attachment", [
    ("image", {"url": "https://evil.example/track.png", "name": "x.png"}),
    ("image", {"url": "//evil.example/track.png", "name": "x.png"}),
    ("file", {"url": "http://10.0.0.5/internal.pdf", "name": "x.pdf"}),
    ("image", {"url": "/\\evil.example/x.png", "name": "x.png"}),
    ("card", {"url": "//evil.example/", "name": "Deal"}),
    ("card", {"url": "javascript:alert(1)", "name": "Deal"}),
    ("card", {"url": "https://shop.example/deal", "name": "Deal", "image": "https://evil.example/pixel.gif"}),
    ("article", {"url": "//evil.example/help", "name": "Help"}),
])
def test_foreign_addresses_are_refused_and_nothing_is_stored(chat, msg_type, attachment):
    agent, conversation_id = chat
    before = Message.objects.count()
    answer = post(agent, conversation_id, msg_type, attachment)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_attachments"
    assert Message.objects.count() == before


def test_own_uploads_links_and_allowed_hosts_are_accepted(chat, settings):
    agent, conversation_id = chat
    uploaded = agent.post("/api/v1/uploads", {"file": SimpleUploadedFile("a.png", png_bytes(), content_type="image/png")}).json()
    assert post(agent, conversation_id, "image", uploaded).status_code == 201
    assert post(agent, conversation_id, "card", {"url": "https://shop.example/deal", "name": "Deal", "image": uploaded["url"]}).status_code == 201
    assert post(agent, conversation_id, "article", {"url": "/help/ws-1/returns/", "name": "Returns"}).status_code == 201
    assert post(agent, conversation_id, "image", {"url": "https://cdn.shop.example/a.png", "name": "a.png"}).status_code == 400
    settings.CHAT = {**settings.CHAT, "ATTACHMENT_HOSTS": ["shop.example"]}
    assert post(agent, conversation_id, "image", {"url": "https://cdn.shop.example/a.png", "name": "a.png"}).status_code == 201
    assert post(agent, conversation_id, "image", {"url": "http://cdn.shop.example/a.png", "name": "a.png"}).status_code == 400
    assert post(agent, conversation_id, "image", {"url": "https://shop.example.evil.io/a.png", "name": "a.png"}).status_code == 400
