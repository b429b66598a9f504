"""Web Push to agents, end to end: a real local push service (an HTTP server on 127.0.0.1)
receives what pywebpush sends for a subscription made the way a browser makes one; the test
checks the VAPID JWT against our public key and decrypts the aes128gcm body with the
browser's private key."""

import base64
import json
import os
import struct
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import http_ece
import pytest
from channels.db import database_sync_to_async as sync_to_async
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client
from django.utils import timezone, translation

from accounts.models import UserPreferences
from chat import states
from chat.models import Conversation, ConversationEvent, Message, PushSubscription
from chat.tests.wsutil import connect_agent, connect_customer, frames_until, send_json
from conftest import send, verified_client
from helpdesk import workspace_cache
from lifecycle import push
from lifecycle.models import FollowUp
from routing import actions as routing
from routing.models import AgentGroup, AgentPresence
from routing.selection import Strategy

pytestmark = [pytest.mark.django_db(transaction=True)]


# --- a push service on 127.0.0.1 ----------------------------------------------------------


class PushService:
    """Records every request (header names lower-cased); answers 201 unless told otherwise for a path."""

    def __init__(self):
        self.requests = []
        self.status = {}
        self.delay = {}
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(service.delay.get(self.path, 0))
                service.requests.append({"method": "POST", "path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                self.send_response(service.status.get(self.path, 201))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def origin(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def url(self, path):
        return self.origin + path

    def to(self, path):
        return [r for r in self.requests if r["path"] == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def service():
    s = PushService()
    yield s
    s.close()


@pytest.fixture(autouse=True)
def web_push_settings(settings, monkeypatch):
    settings.WEB_PUSH = {**settings.WEB_PUSH, "ENABLED": True, "ALLOW_INSECURE_ENDPOINTS": True}
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # the local push service is never reached through a proxy
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


# --- a browser's side --------------------------------------------------------------------


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Device:
    """What a browser's PushManager.subscribe() creates: an ECDH P-256 key pair and a 16-byte auth secret."""

    def __init__(self, endpoint):
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        self.endpoint = endpoint

    def subscription(self):
        point = self.private_key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": {"p256dh": b64url(point), "auth": b64url(self.auth)}}

    def decrypt(self, body):
        return json.loads(http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm"))


def register(service, user, workspace, path):
    device = Device(service.url(path))
    push.subscribe(user, workspace.pk, device.subscription(), "Mozilla/5.0 test")
    return device


def presence(user, workspace, status="online", visible_for=None):
    until = timezone.now() + timedelta(seconds=visible_for) if visible_for else None
    AgentPresence.objects.update_or_create(workspace=workspace, user=user, defaults={"status": status, "console_visible_until": until})


def new_chat(visitor, text):
    message, _created = send(visitor, text)
    return Conversation.objects.get(pk=message.conversation_id)


def verify_vapid(request, endpoint):
    """The Authorization header is RFC 8292 `vapid t=<JWT>, k=<our public key>` and the JWT is ES256-signed by us."""
    scheme, params = request["headers"]["authorization"].split(" ", 1)
    assert scheme == "vapid"
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    assert fields["k"] == push.public_key()
    header_b64, claims_b64, signature_b64 = fields["t"].split(".")
    assert json.loads(unb64url(header_b64)) == {"typ": "JWT", "alg": "ES256"}
    signature = unb64url(signature_b64)
    assert len(signature) == 64
    der = utils.encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(push.public_key()))
    key.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))  # raises if not ours
    with pytest.raises(InvalidSignature):
        key.verify(der, f"{header_b64}.{claims_b64}x".encode(), ec.ECDSA(hashes.SHA256()))
    claims = json.loads(unb64url(claims_b64))
    parts = urlsplit(endpoint)
    assert claims["aud"] == f"{parts.scheme}://{parts.netloc}"
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert claims["sub"] == settings.WEB_PUSH["SUBJECT"] == "mailto:admin@localhost"


# --- delivery ----------------------------------------------------------------------------


def test_new_chat_reaches_the_assigned_agents_device_signed_and_encrypted(personas, service):
    routing.set_status(personas.agent_a, "online")
    device = register(service, personas.agent_a_user, personas.workspace, "/push/agent-a")

    conversation = new_chat(personas.visitor, "您好，我的订单 1234 还没发货")

    assert conversation.assignee_id == personas.agent_a_user.pk
    assert len(service.requests) == 1
    request = service.requests[0]
    assert request["method"] == "POST" and request["path"] == "/push/agent-a"
    verify_vapid(request, device.endpoint)
    headers = request["headers"]
    assert headers["content-encoding"] == "aes128gcm"
    assert headers["ttl"] == str(settings.WEB_PUSH["TTL_SECONDS"])
    assert headers["urgency"] == "high" and headers["topic"] == f"conv-{conversation.pk}"
    assert b"1234" not in request["body"]  # encrypted on the wire
    payload = device.decrypt(request["body"])
    assert payload["type"] == "conversation"
    assert payload["conversation_id"] == conversation.pk
    assert payload["url"] == f"/console/c/{conversation.pk}/" and payload["tag"] == f"conv-{conversation.pk}"
    assert payload["body"] == "您好，我的订单 1234 还没发货"
    assert str(personas.visitor.customer_id) in payload["title"]
    stored = PushSubscription.objects.get(endpoint=device.endpoint)
    assert stored.last_success_at is not None and stored.failures == 0


def test_customer_message_goes_to_the_assignee_only_and_agents_own_messages_push_nothing(personas, service):
    routing.set_status(personas.agent_a, "online")
    routing.set_status(personas.owner, "busy")  # serves inbox A too, but is not the assignee
    routing.set_status(personas.agent_b, "online")  # serves inbox B only
    device_a = register(service, personas.agent_a_user, personas.workspace, "/push/a")
    register(service, personas.owner_user, personas.workspace, "/push/owner")
    register(service, personas.agent_b_user, personas.workspace, "/push/b")
    conversation = new_chat(personas.visitor, "hello")
    assert conversation.assignee_id == personas.agent_a_user.pk
    service.requests.clear()

    send(personas.agent_a, "马上为您查询", conversation_id=conversation.pk)
    send(personas.agent_a, "internal note", conversation_id=conversation.pk, is_private=True)
    assert service.requests == []

    long_text = "订单" * 300
    message, _created = send(personas.visitor, long_text)
    assert len(service.requests) == 1 and service.requests[0]["path"] == "/push/a"
    payload = device_a.decrypt(service.requests[0]["body"])
    assert payload["type"] == "message" and payload["conversation_id"] == conversation.pk == message.conversation_id
    assert payload["body"] == long_text[:120]
    assert len(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()) <= 1024


def test_a_message_that_reopens_a_chat_is_announced_once(personas, service):

    routing.set_status(personas.agent_a, "online")
    device = register(service, personas.agent_a_user, personas.workspace, "/push/a")
    conversation = new_chat(personas.visitor, "hello")
    send(personas.agent_a, "done!", conversation_id=conversation.pk)
    states.change_state(personas.agent_a, conversation.pk, "resolved")
    service.requests.clear()

    send(personas.visitor, "one more thing", conversation_id=conversation.pk)  # reopens: routed again

    conversation.refresh_from_db()
    assert conversation.state == "assigned" and conversation.assignee_id == personas.agent_a_user.pk
    assert len(service.requests) == 1  # the assignment push; the message's own push would double it
    payload = device.decrypt(service.requests[0]["body"])
    assert payload["type"] == "conversation" and payload["body"] == "one more thing"


def test_pooled_chat_reaches_every_online_agent_serving_the_inbox_and_nobody_else(personas, service):
    group = routing.default_group(personas.workspace.pk)
    AgentGroup.objects.filter(pk=group.pk).update(strategy=Strategy.CLAIM)
    for actor in (personas.agent_a, personas.owner, personas.agent_b, personas.other_agent):
        routing.set_status(actor, "online")
    devices = {
        "a": register(service, personas.agent_a_user, personas.workspace, "/push/a"),
        "owner": register(service, personas.owner_user, personas.workspace, "/push/owner"),
    }
    register(service, personas.agent_b_user, personas.workspace, "/push/b")
    register(service, personas.other_agent_user, personas.other_workspace, "/push/other")

    conversation = new_chat(personas.visitor, "anyone there?")

    assert conversation.state == "queued" and conversation.assignee_id is None
    assert sorted(r["path"] for r in service.requests) == ["/push/a", "/push/owner"]
    for name, device in devices.items():
        payload = device.decrypt(service.to(f"/push/{name}")[0]["body"])
        assert payload["type"] == "conversation" and payload["conversation_id"] == conversation.pk and payload["body"] == "anyone there?"

    service.requests.clear()
    routing.claim(personas.agent_a, conversation.pk)  # nobody is pushed about their own claim
    assert service.requests == []


def test_a_visible_console_tab_gets_no_push(personas, service):
    routing.set_status(personas.agent_a, "online")
    presence(personas.agent_a_user, personas.workspace, visible_for=60)
    register(service, personas.agent_a_user, personas.workspace, "/push/a")

    conversation = new_chat(personas.visitor, "hello")
    assert conversation.assignee_id == personas.agent_a_user.pk
    send(personas.visitor, "still there?")
    assert service.requests == []

    presence(personas.agent_a_user, personas.workspace, visible_for=None)  # the tab was hidden
    send(personas.visitor, "hello??")
    assert [r["path"] for r in service.requests] == ["/push/a"]


def test_offline_or_absent_agents_get_no_push(personas, service):
    presence(personas.agent_a_user, personas.workspace, status="offline")  # owner: no presence at all
    register(service, personas.agent_a_user, personas.workspace, "/push/a")
    register(service, personas.owner_user, personas.workspace, "/push/owner")
    conversation = new_chat(personas.visitor, "hello")
    send(personas.visitor, "is anyone there?")
    assert conversation.state == "queued" and service.requests == []

    # An assignee who went offline is not pushed either.
    routing.set_status(personas.agent_a, "online")
    conversation.refresh_from_db()
    assert conversation.assignee_id == personas.agent_a_user.pk
    service.requests.clear()
    send(personas.agent_a, "looking", conversation_id=conversation.pk)
    AgentPresence.objects.filter(user=personas.agent_a_user).update(status="offline")
    send(personas.visitor, "thanks")
    assert service.requests == []


def test_another_workspaces_agent_and_devices_never_get_the_push(personas, service):
    routing.set_status(personas.agent_a, "online")
    routing.set_status(personas.other_agent, "online")
    register(service, personas.agent_a_user, personas.workspace, "/push/a")
    register(service, personas.other_agent_user, personas.other_workspace, "/push/other")
    # agent A's phone registered while they looked at another workspace: not for this one's chats
    register(service, personas.agent_a_user, personas.other_workspace, "/push/a-elsewhere")

    new_chat(personas.visitor, "hello from shop A")
    assert [r["path"] for r in service.requests] == ["/push/a"]

    service.requests.clear()
    new_chat(personas.other_visitor, "hello from shop Z")
    assert [r["path"] for r in service.requests] == ["/push/other"]


def test_gone_subscriptions_are_deleted_failures_counted_and_nothing_raises(personas, service):
    routing.set_status(personas.agent_a, "online")
    service.status = {"/gone": 410, "/missing": 404, "/broken": 500}
    for path in ("/ok", "/gone", "/missing", "/broken"):
        register(service, personas.agent_a_user, personas.workspace, path)
    closed = Device("http://127.0.0.1:9/nobody-listens")  # connection refused
    push.subscribe(personas.agent_a_user, personas.workspace.pk, closed.subscription())

    message, created = send(personas.visitor, "hello")  # the caller never sees push failures

    assert created and Conversation.objects.get(pk=message.conversation_id).assignee_id == personas.agent_a_user.pk
    assert sorted(r["path"] for r in service.requests) == ["/broken", "/gone", "/missing", "/ok"]
    remaining = {urlsplit(s.endpoint).path: s for s in PushSubscription.objects.all()}
    assert set(remaining) == {"/ok", "/broken", "/nobody-listens"}
    assert remaining["/broken"].failures == 1 and remaining["/nobody-listens"].failures == 1
    assert remaining["/ok"].failures == 0 and remaining["/ok"].last_success_at is not None


def test_pushes_leave_the_committing_thread_at_once(personas, service, settings):
    settings.FOLLOWUPS = {**settings.FOLLOWUPS, "SYNC": False}  # the production path: the follow-up worker threads
    routing.set_status(personas.agent_a, "online")
    register(service, personas.agent_a_user, personas.workspace, "/push/slow")
    service.delay = {"/push/slow": 1.5}

    started = time.monotonic()
    conversation = new_chat(personas.visitor, "hello")
    assert time.monotonic() - started < 1.0  # did not wait for the push service
    deadline = time.monotonic() + 10
    while not PushSubscription.objects.filter(last_success_at__isnull=False).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [r["path"] for r in service.requests] == ["/push/slow"]
    assert PushSubscription.objects.get().last_success_at is not None and conversation.assignee_id == personas.agent_a_user.pk


def test_a_workspace_without_devices_hands_no_job_to_the_push_workers(personas, service, monkeypatch):
    def jobs():
        return list(FollowUp.objects.filter(kind__startswith="push_").values_list("kind", flat=True))

    routing.set_status(personas.agent_a, "online")
    first = new_chat(personas.visitor, "hello")
    send(personas.visitor, "still there?", conversation_id=first.pk)
    assert first.assignee_id == personas.agent_a_user.pk and jobs() == []  # nobody has a device: no job at all

    register(service, personas.agent_a_user, personas.workspace, "/push/a")  # subscribing here drops the cached "none"
    send(personas.visitor, "hello again", conversation_id=first.pk)
    assert jobs() == ["push_message"] and len(service.to("/push/a")) == 1

    # a device registered through another process (no call here) is noticed once the cached answer expires
    push.unsubscribe(personas.agent_a_user, service.url("/push/a"))
    assert push.workspace_has_devices(personas.workspace.pk) is False
    keys = Device(service.url("/push/b")).subscription()["keys"]
    PushSubscription.objects.create(user=personas.agent_a_user, workspace=personas.workspace, endpoint=service.url("/push/b"), **keys)
    assert push.workspace_has_devices(personas.workspace.pk) is False
    monkeypatch.setattr(workspace_cache.time, "monotonic", lambda real=time.monotonic: real() + push.DEVICES_TTL_SECONDS + 1)
    assert push.workspace_has_devices(personas.workspace.pk) is True


def test_sensitive_word_alert_reaches_supervisors_devices_but_not_agents_nor_a_visible_console(personas, service):
    from replies.models import SensitiveWordList

    SensitiveWordList.objects.create(workspace=personas.workspace, name="complaints", words="投诉\n12315", action=SensitiveWordList.Action.ALERT)
    routing.set_status(personas.agent_a, "online")
    owner_device = register(service, personas.owner_user, personas.workspace, "/push/owner")  # founder: CONFIGURE, never went online
    agent_device = register(service, personas.agent_a_user, personas.workspace, "/push/agent-a")
    conversation = new_chat(personas.visitor, "hello")
    service.requests.clear()

    send(personas.visitor, "再不处理我就打12315投诉", conversation_id=conversation.pk)
    alerts = service.to("/push/owner")
    assert len(alerts) == 1 and alerts[0]["headers"]["topic"] == f"alert-{conversation.pk}"
    payload = owner_device.decrypt(alerts[0]["body"])
    assert payload["type"] == "alert" and payload["url"] == f"/console/c/{conversation.pk}/" and payload["tag"] == f"alert-{conversation.pk}"
    assert "12315" in payload["body"] and "投诉" in payload["body"]
    assert [agent_device.decrypt(r["body"])["type"] for r in service.to("/push/agent-a")] == ["message"]  # no alert for agents

    presence(personas.owner_user, personas.workspace, status="offline", visible_for=60)  # a console tab of theirs is showing
    send(personas.visitor, "我要投诉", conversation_id=conversation.pk)
    assert ConversationEvent.objects.filter(conversation=conversation, kind="flagged").count() == 2  # alerted again...
    assert len(service.to("/push/owner")) == 1  # ...but the visible console shows it: no second push


def test_preview_labels_images_and_files():
    with translation.override("en"):
        assert push._preview(Message(msg_type="image", body="")) == "[Image]"
        assert push._preview(Message(msg_type="file", body="invoice.pdf")) == "[File] invoice.pdf"
    assert push._preview(Message(msg_type="text", body="two\n\nlines   here")) == "two lines here"


# --- subscriptions over HTTP --------------------------------------------------------------


def csrf_client(user):
    client = verified_client(user, Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE="en"))
    client.get("/console/push/test/")  # sets the csrftoken cookie
    return client, client.cookies["csrftoken"].value


def post_json(client, url, data, token, method="post"):
    return getattr(client, method)(url, json.dumps(data), content_type="application/json", HTTP_X_CSRFTOKEN=token)


def test_subscribe_validates_endpoint_and_keys(personas, service, settings):
    client, token = csrf_client(personas.agent_a_user)
    url = "/console/push/subscriptions"
    good = Device("https://fcm.googleapis.com/fcm/send/abc").subscription()  # a known push service (test_web_push_security.py)
    point = unb64url(good["keys"]["p256dh"])
    bad = [
        ("invalid_endpoint", {**good, "endpoint": "ftp://push.example.net/x"}),
        ("invalid_endpoint", {**good, "endpoint": "http://push.example.net/x"}),  # plain http off localhost: never
        ("invalid_endpoint", {**good, "endpoint": "https://"}),
        ("invalid_endpoint", {**good, "endpoint": "https://push.example.net/" + "x" * 1000}),
        ("invalid_endpoint", {**good, "endpoint": 42}),
        ("invalid_subscription", {"endpoint": good["endpoint"]}),
        ("invalid_subscription", ["not", "an", "object"]),
        ("invalid_keys", {**good, "keys": {**good["keys"], "p256dh": b64url(point[:33])}}),
        ("invalid_keys", {**good, "keys": {**good["keys"], "p256dh": b64url(b"\x05" + point[1:])}}),
        ("invalid_keys", {**good, "keys": {**good["keys"], "p256dh": b64url(b"\x04" + bytes(64))}}),  # not on the curve
        ("invalid_keys", {**good, "keys": {**good["keys"], "auth": b64url(os.urandom(15))}}),
        ("invalid_keys", {**good, "keys": {**good["keys"], "auth": "not base64!"}}),
        ("invalid_keys", {**good, "keys": {"p256dh": good["keys"]["p256dh"]}}),
    ]
    for code, data in bad:
        response = post_json(client, url, data, token)
        assert response.status_code == 400, (code, data)
        assert response.json()["error"]["code"] == code and response.json()["error"]["message"]
    malformed = client.post(url, b"{not json", content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "malformed_json"
    settings.WEB_PUSH = {**settings.WEB_PUSH, "ALLOW_INSECURE_ENDPOINTS": False}
    assert post_json(client, url, {**good, "endpoint": service.url("/push/x")}, token).status_code == 400
    assert PushSubscription.objects.count() == 0

    assert client.post(url, json.dumps(good), content_type="application/json").status_code == 403  # no CSRF token
    assert PushSubscription.objects.count() == 0

    first = post_json(client, url, good, token)
    again = post_json(client, url, good, token)
    assert first.status_code == 201 and first.json()["created"] is True
    assert again.status_code == 200 and again.json() == {"id": first.json()["id"], "created": False}
    stored = PushSubscription.objects.get()
    assert stored.user_id == personas.agent_a_user.pk and stored.workspace_id == personas.workspace.pk
    assert stored.p256dh == good["keys"]["p256dh"] and stored.auth == good["keys"]["auth"]

    # Someone else cannot take the device's row over (409), nor delete it.
    other, other_token = csrf_client(personas.agent_b_user)
    assert post_json(other, url, good, other_token).status_code == 409
    assert PushSubscription.objects.get().user_id == personas.agent_a_user.pk
    assert post_json(other, url, {"endpoint": good["endpoint"]}, other_token, method="delete").json() == {"deleted": False}
    assert post_json(client, url, {"endpoint": good["endpoint"]}, token, method="delete").json() == {"deleted": True}
    assert PushSubscription.objects.count() == 0


def test_push_endpoints_need_a_logged_in_workspace_member(personas):
    anonymous = Client()
    assert anonymous.post("/console/push/subscriptions", "{}", content_type="application/json").status_code == 302
    assert anonymous.get("/console/push/test/").status_code == 302
    client, token = csrf_client(personas.agent_a_user)
    response = client.post(f"/console/push/subscriptions?workspace={personas.other_workspace.pk}",
                           json.dumps(Device("https://push.example.net/z").subscription()), content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"  # not theirs: as if it did not exist
    assert PushSubscription.objects.count() == 0


# --- the visibility frame -----------------------------------------------------------------


async def test_visibility_frame_sets_and_clears_console_visible_until(personas):
    await sync_to_async(presence)(personas.agent_a_user, personas.workspace)
    read = sync_to_async(lambda: AgentPresence.objects.get(user=personas.agent_a_user, workspace=personas.workspace).console_visible_until)
    agent = await connect_agent(personas.agent_a_user)

    before = timezone.now()
    await send_json(agent, {"type": "visibility", "visible": True, "ref": "v1"})
    ok, _ = await frames_until(agent, "visibility.ok")
    assert ok == {"type": "visibility.ok", "visible": True, "ref": "v1"}
    until = await read()
    assert before + timedelta(seconds=69) <= until <= timezone.now() + timedelta(seconds=71)

    await send_json(agent, {"type": "visibility", "visible": False, "ref": "v2"})
    await frames_until(agent, "visibility.ok")
    assert await read() is None

    await send_json(agent, {"type": "visibility", "visible": "yes", "ref": "v3"})
    error, _ = await frames_until(agent, "error")
    assert error["code"] == "invalid_visible" and error["ref"] == "v3"
    assert await read() is None

    customer = await connect_customer(personas.visitor_token)
    await send_json(customer, {"type": "visibility", "visible": True})
    unknown, _ = await frames_until(customer, "error")
    assert unknown["code"] == "unknown_type"
    await agent.disconnect()
    await customer.disconnect()


# --- test page, service worker, manifest --------------------------------------------------


def test_test_page_lists_devices_and_test_push_reaches_each_one(personas, service):
    device = register(service, personas.agent_a_user, personas.workspace, "/push/phone")
    register(service, personas.agent_a_user, personas.workspace, "/push/old")
    service.status = {"/push/old": 410}
    register(service, personas.agent_b_user, personas.workspace, "/push/someone-else")
    UserPreferences.objects.create(user=personas.agent_a_user, language="en")  # pushes speak the agent's language
    client, token = csrf_client(personas.agent_a_user)

    page = client.get("/console/push/test/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "Enable notifications on this device" in html and "Send a test push" in html
    assert push.public_key() in html and 'data-subscribe-url="/console/push/subscriptions"' in html
    assert html.count("Mozilla/5.0 test") == 2  # agent A's two devices, not agent B's

    response = client.post("/console/push/test/", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200 and response.json() == {"sent": 1, "failed": 1}
    assert sorted(r["path"] for r in service.requests) == ["/push/old", "/push/phone"]
    payload = device.decrypt(service.to("/push/phone")[0]["body"])
    assert payload["type"] == "test" and payload["url"] == "/console/" and payload["title"] == "Test notification"
    assert not PushSubscription.objects.filter(endpoint=service.url("/push/old")).exists()
    assert client.post("/console/push/test/").status_code == 403  # CSRF enforced


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def test_service_worker_and_manifest(personas):
    assert Client().get("/console/sw.js").status_code == 302  # login required
    client = verified_client(personas.agent_a_user, Client(HTTP_ACCEPT_LANGUAGE="en"))
    sw = client.get("/console/sw.js")
    assert sw.status_code == 200
    assert sw["Content-Type"].startswith("application/javascript")
    assert sw["Service-Worker-Allowed"] == "/console/" and sw["Cache-Control"] == "no-cache"
    source = sw.content.decode()
    assert source.startswith("self.CONSOLE_SW_CONFIG = ")
    assert 'addEventListener("push"' in source and 'addEventListener("notificationclick"' in source
    config = json.loads(source.split("\n", 1)[0].removeprefix("self.CONSOLE_SW_CONFIG = ").rstrip(";"))
    assert config["icon"] == "/static/chat/console/icon-192.png" and config["version"]

    response = Client(HTTP_ACCEPT_LANGUAGE="en").get("/console/manifest.webmanifest")  # public: fetched without cookies
    assert response.status_code == 200 and response["Content-Type"].startswith("application/manifest+json")
    manifest = json.loads(response.content)
    assert manifest["name"] == manifest["short_name"] == "Agent console"
    assert manifest["start_url"] == manifest["scope"] == "/console/" and manifest["display"] == "standalone"
    assert manifest["theme_color"].startswith("#") and manifest["background_color"].startswith("#")
    sizes = {}
    for icon in manifest["icons"]:
        path = finders.find(icon["src"].removeprefix(settings.STATIC_URL))
        assert path is not None, icon
        sizes[icon["sizes"]] = icon["type"]
        if icon["type"] == "image/png":
            width, height = png_size(path)
            assert f"{width}x{height}" == icon["sizes"]
    assert sizes == {"192x192": "image/png", "512x512": "image/png", "any": "image/svg+xml"}


def test_vapid_key_is_stable_and_a_configured_key_wins(settings):
    derived = push.public_key()
    assert len(unb64url(derived)) == 65 and unb64url(derived)[0] == 4
    assert push.public_key() == derived  # the same from SECRET_KEY every time
    settings.SECRET_KEY = "another-secret-key-for-this-test-only"
    assert push.public_key() != derived
    key = ec.generate_private_key(ec.SECP256R1())
    settings.WEB_PUSH = {**settings.WEB_PUSH, "VAPID_PRIVATE_KEY": b64url(key.private_numbers().private_value.to_bytes(32, "big"))}
    expected = b64url(key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint))
    assert push.public_key() == expected
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    settings.WEB_PUSH = {**settings.WEB_PUSH, "VAPID_PRIVATE_KEY": pem}
    assert push.public_key() == expected

