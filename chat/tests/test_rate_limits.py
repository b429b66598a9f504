"""Finding 4 of issue 14: throttles on the public edges (sends over HTTP and the customer socket, new
visitors per address, uploads, help-center search), the per-workspace storage quota and the sweep
of uploads never attached. A refusal is 429 `rate_limited` with retry_after and changes nothing;
what was already accepted is never affected."""

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from chat.models import Customer, Message, StoredUpload
from chat.tests.test_uploads import png_bytes
from chat.tests.wsutil import connect_customer, frames_until, send_json, sync_to_async
from conftest import make_visitor, send, verified_client
from helpdesk import ratelimit
from lifecycle import storage, worker
from replies.models import QuickPhrase

pytestmark = [pytest.mark.django_db]

START = 600_000_000.0  # a multiple of every window used here
PNG = png_bytes(60, 20)  # a real picture without metadata: stored as sent, so the quota counts len(PNG)


@pytest.fixture
def clock(monkeypatch):
    now = [START]
    monkeypatch.setattr(ratelimit, "clock", lambda: now[0])
    return now


@pytest.fixture
def limits(settings):
    def set_limits(**scopes):
        settings.RATE_LIMITS = {**settings.RATE_LIMITS, **scopes}

    return set_limits


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def stored_files(root):
    return sorted(p for p in Path(root).rglob("*") if p.is_file()) if Path(root).exists() else []


def customer_client(token, ip="203.0.113.5"):
    return Client(HTTP_AUTHORIZATION=f"Customer {token}", HTTP_ACCEPT_LANGUAGE="en", REMOTE_ADDR=ip)


def post_send(client, client_msg_id, body="hi"):
    return client.post("/api/v1/customer/messages", {"client_msg_id": client_msg_id, "body": body}, content_type="application/json")


def upload(client, name="a.png", data=PNG):
    return client.post("/api/v1/uploads", {"file": SimpleUploadedFile(name, data, content_type="image/png")})


def assert_rate_limited(response, retry_after):
    assert response.status_code == 429, response.content
    error = response.json()["error"]
    assert error["code"] == "rate_limited" and error["retry_after"] == retry_after and error["message"]
    assert response["Retry-After"] == str(retry_after)


# --- customer sends ----------------------------------------------------------------------


def test_http_sends_are_throttled_per_visitor_nothing_stored_retries_of_stored_ones_answered(personas, clock, limits):
    limits(send_visitor=(3, 10))
    customer = customer_client(personas.visitor_token)
    clock[0] = START + 3
    for n in range(3):
        assert post_send(customer, f"m{n}").status_code == 201
    refused = post_send(customer, "m3", "one too many")
    assert_rate_limited(refused, 7)
    assert not Message.objects.filter(client_msg_id="m3").exists()
    # The ack of m2 was lost: its retry gets the stored message, throttled or not.
    retry = post_send(customer, "m2")
    assert retry.status_code == 200 and retry.json()["duplicate"] is True and retry.json()["message"]["client_msg_id"] == "m2"
    # Another visitor is not affected; the refused message goes through in the next window.
    other, _ = make_visitor(personas.inbox_a)
    assert post_send(customer_client(identity_token(other, personas)), "o1").status_code == 201
    clock[0] = START + 10
    assert post_send(customer, "m3", "one too many").status_code == 201
    assert list(Message.objects.filter(sender_key=personas.visitor.key).order_by("seq").values_list("client_msg_id", flat=True)) == [
        "m0", "m1", "m2", "m3"]


def identity_token(actor, personas):
    from chat import identity

    return identity.make_customer_token(Customer.objects.get(pk=actor.customer_id), personas.inbox_a)


def test_sends_are_throttled_per_address_and_per_inbox(personas, clock, limits):
    limits(send_ip=(2, 60))
    visitors = [make_visitor(personas.inbox_a)[1] for _ in range(3)]
    assert post_send(customer_client(visitors[0], ip="198.51.100.1"), "a").status_code == 201
    assert post_send(customer_client(visitors[1], ip="198.51.100.1"), "b").status_code == 201
    assert_rate_limited(post_send(customer_client(visitors[2], ip="198.51.100.1"), "c"), 60)
    assert post_send(customer_client(visitors[2], ip="198.51.100.2"), "c").status_code == 201

    limits(send_ip=None, send_inbox=(1, 60))
    clock[0] = START + 60
    assert post_send(customer_client(visitors[0]), "d").status_code == 201
    assert_rate_limited(post_send(customer_client(visitors[1]), "e"), 60)
    other_inbox = make_visitor(personas.inbox_b)[1]
    assert post_send(customer_client(other_inbox), "f").status_code == 201
    assert not Message.objects.filter(client_msg_id="e").exists()


def test_agents_are_not_throttled(personas, clock, limits, sender):
    limits(send_visitor=(1, 60), send_inbox=(1, 60))
    first, _ = sender(personas.visitor, "hello")
    agent = verified_client(personas.agent_a_user)
    for n in range(3):
        r = agent.post(f"/api/v1/conversations/{first.conversation_id}/messages", {"client_msg_id": f"a{n}", "body": "ok"},
                       content_type="application/json")
        assert r.status_code == 201, r.content


@pytest.mark.engine_db
@pytest.mark.django_db(transaction=True)
async def test_socket_send_refused_with_retry_after_and_its_client_msg_id_and_the_socket_stays_open(personas, clock, limits):
    limits(send_visitor=(2, 10))
    comm = await connect_customer(personas.visitor_token)
    acks = []
    for n in range(2):
        await send_json(comm, {"type": "send", "client_msg_id": f"w{n}", "body": f"hi {n}"})
        acks.append((await frames_until(comm, "ack"))[0])
    await send_json(comm, {"type": "send", "client_msg_id": "w2", "body": "too fast", "ref": "r9"})
    error, _ = await frames_until(comm, "error")
    assert error["code"] == "rate_limited"
    assert (error["retry_after"], error["client_msg_id"], error["ref"]) == (10, "w2", "r9")
    # A retry of an acknowledged message still gets its ack; the socket is still open.
    await send_json(comm, {"type": "send", "client_msg_id": "w1", "body": "hi 1"})
    again, _ = await frames_until(comm, "ack")
    assert again["duplicate"] is True and again["message"]["seq"] == acks[1]["message"]["seq"]
    clock[0] = START + 10
    await send_json(comm, {"type": "send", "client_msg_id": "w2", "body": "too fast"})
    late, _ = await frames_until(comm, "ack")
    assert late["duplicate"] is False
    await comm.disconnect()
    stored = await sync_to_async(lambda: list(Message.objects.filter(sender_key=personas.visitor.key).values_list("client_msg_id", flat=True)))()
    assert sorted(stored) == ["w0", "w1", "w2"]


# --- new visitors -----------------------------------------------------------------------------


def open_session(ip, token="", **extra):
    body = {"inbox_key": extra.pop("inbox_key"), "token": token}
    return Client(REMOTE_ADDR=ip, HTTP_ACCEPT_LANGUAGE="en", **extra).post("/api/v1/customer/session", body, content_type="application/json")


def test_new_visitors_per_address_are_limited_renewals_are_not_and_nothing_is_created(personas, clock, limits, settings):
    limits(new_customer_ip=(2, 60))
    key = personas.inbox_a.public_key
    tokens = [open_session("198.51.100.7", inbox_key=key).json()["token"] for _ in range(2)]
    before = Customer.objects.count()
    assert_rate_limited(open_session("198.51.100.7", inbox_key=key), 60)
    # A spoofed X-Forwarded-For does not help while no proxy is trusted.
    assert_rate_limited(open_session("198.51.100.7", inbox_key=key, HTTP_X_FORWARDED_FOR="192.0.2.99"), 60)
    assert Customer.objects.count() == before
    # Returning visitors (a valid token) are not new customers: never counted, never refused.
    renewed = open_session("198.51.100.7", token=tokens[0], inbox_key=key)
    assert renewed.status_code == 200 and renewed.json()["token"]
    assert open_session("198.51.100.8", inbox_key=key).status_code == 200
    # Behind one trusted proxy the forwarded address is the visitor's.
    settings.TRUSTED_PROXY_COUNT = 1
    assert open_session("10.0.0.1", inbox_key=key, HTTP_X_FORWARDED_FOR="192.0.2.99").status_code == 200
    assert_rate_limited(open_session("10.0.0.1", inbox_key=key, HTTP_X_FORWARDED_FOR="192.0.2.50, 198.51.100.7"), 60)
    assert Customer.objects.count() == before + 2


# --- uploads, quota, sweep -------------------------------------------------------------------


def test_uploads_are_throttled_per_visitor_and_nothing_is_written(personas, clock, limits, media):
    limits(upload_visitor=(2, 600))
    customer = customer_client(personas.visitor_token)
    assert [upload(customer).status_code for _ in range(2)] == [201, 201]
    assert_rate_limited(upload(customer), 600)
    assert len(stored_files(media)) == 2 and StoredUpload.objects.count() == 2
    agent = verified_client(personas.agent_a_user)
    assert upload(agent).status_code == 201  # agents are members: not throttled


def test_workspace_quota_refuses_with_a_clear_error_and_writes_nothing(personas, media, settings):
    settings.UPLOADS = {**settings.UPLOADS, "WORKSPACE_QUOTA_BYTES": 2 * len(PNG) + 10}
    customer = customer_client(personas.visitor_token, ip="198.51.100.20")
    first, second = upload(customer), upload(customer)
    assert (first.status_code, second.status_code) == (201, 201)
    full = upload(customer)
    assert full.status_code == 413
    error = full.json()["error"]
    assert error["code"] == "quota_exceeded" and "storage" in error["message"]
    assert len(stored_files(media)) == 2 and StoredUpload.objects.filter(workspace=personas.workspace).count() == 2
    # Another workspace has its own quota.
    assert upload(customer_client(personas.other_visitor_token, ip="198.51.100.21")).status_code == 201
    # Space given back by the sweep can be used again.
    StoredUpload.objects.filter(path=first.json()["url"].removeprefix("/media/")).update(created_at=timezone.now() - timedelta(hours=25))
    assert storage.sweep_unattached_uploads() == 1
    assert upload(customer).status_code == 201


@pytest.mark.django_db(transaction=True)
def test_concurrent_uploads_never_overshoot_the_quota(personas, media, settings):
    settings.UPLOADS = {**settings.UPLOADS, "WORKSPACE_QUOTA_BYTES": 3 * len(PNG)}
    statuses, lock = [], threading.Lock()

    def one(i):
        status = upload(customer_client(personas.visitor_token, ip=f"198.51.100.{30 + i}")).status_code
        with lock:
            statuses.append(status)

    from conftest import run_threads

    run_threads(6, one)
    assert sorted(statuses) == [201, 201, 201, 413, 413, 413]
    assert len(stored_files(media)) == 3


@pytest.mark.django_db(transaction=True)
def test_sweep_deletes_only_old_uploads_nothing_refers_to_and_runs_in_the_worker_loop(personas, media, settings):
    customer = customer_client(personas.visitor_token)
    agent = verified_client(personas.agent_a_user)
    sent, phrased, abandoned, fresh = (upload(customer).json() for _ in range(4))
    message, _ = send(personas.visitor, msg_type="image", attachments=[sent], body="")
    QuickPhrase.objects.create(workspace=personas.workspace, title="t", shortcut="t", body="x", attachment=phrased)
    card_image = upload(agent).json()
    send(personas.agent_a, msg_type="image", attachments=[card_image], conversation_id=message.conversation_id, body="")
    old = timezone.now() - timedelta(hours=25)
    paths = {a["url"].removeprefix("/media/") for a in (sent, phrased, abandoned, card_image)}
    StoredUpload.objects.filter(path__in=paths).update(created_at=old)

    stats = worker.run_loop(threading.Event(), once=True, sweep_interval=0)
    assert stats["pruned"] >= 1 and stats["errors"] == 0
    left = {p.relative_to(media).as_posix() for p in stored_files(media)}
    gone = abandoned["url"].removeprefix("/media/")
    assert gone not in left and not StoredUpload.objects.filter(path=gone).exists()
    kept = {a["url"].removeprefix("/media/") for a in (sent, phrased, card_image, fresh)}
    assert kept == left
    assert set(StoredUpload.objects.filter(attached=True).values_list("path", flat=True)) == kept - {fresh["url"].removeprefix("/media/")}
    assert Client().get(sent["url"]).status_code == 200
    assert storage.sweep_unattached_uploads(now=timezone.now() + timedelta(days=30)) == 1  # only `fresh`, in a month


# --- help-center search -------------------------------------------------------------------


def test_help_center_search_is_throttled_per_address(personas, clock, limits, monkeypatch):
    import knowledge.search as engine

    monkeypatch.setattr(engine, "search", lambda *args, **kwargs: [])
    limits(search_ip=(2, 60))
    client = Client(REMOTE_ADDR="198.51.100.40", HTTP_ACCEPT_LANGUAGE="en")
    url = f"/help/{personas.workspace.slug}/en/search.json?q=refund"
    assert [client.get(url).status_code for _ in range(2)] == [200, 200]
    assert_rate_limited(client.get(url), 60)
    page = client.get(f"/help/{personas.workspace.slug}/en/search/?q=refund")
    assert page.status_code == 429 and page["Retry-After"] == "60"
    assert Client(REMOTE_ADDR="198.51.100.41").get(url).status_code == 200


def test_widget_help_search_is_throttled_per_address(personas, clock, limits, monkeypatch):
    from surfaces.widget import api as widget_api

    monkeypatch.setattr(widget_api, "widget_search", lambda *args: [])
    limits(search_ip=(1, 60))
    customer = customer_client(personas.visitor_token, ip="198.51.100.42")
    assert customer.get("/api/v1/customer/help/search?q=refund").status_code == 200
    assert_rate_limited(customer.get("/api/v1/customer/help/search?q=refund"), 60)
