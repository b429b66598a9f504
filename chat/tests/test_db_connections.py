"""Database connections stay bounded under uvicorn (issue 15, item 5).

Under ASGI each HTTP request runs on a thread of its own; with persistent connections
(CONN_MAX_AGE > 0) every such thread left a PostgreSQL connection behind until garbage
collection, so enough calls exhausted the server's max_connections. With the pool
(helpdesk/settings.py, OPTIONS["pool"]) a process never holds more than DB_POOL_MAX_SIZE.

A real uvicorn on the PostgreSQL test database, with the production settings (pool on,
DB_CONN_MAX_AGE unset), the embedded scheduler thread and the follow-up worker threads running
too. Its backends are counted in pg_stat_activity by their application_name, sampled by a
thread of the test all along and after every 100 calls."""

import asyncio
import http.client
import json
import threading
import uuid
from datetime import time as clock_time

import psycopg
import pytest
import websockets
from django.conf import settings
from django.db import connection

from chat.models import Message
from chat.tests.test_scheduler_processes import database_url, wait_for
from conftest import make_visitor
from helpdesk import processes
from replies.models import ReplySettings

pytestmark = [pytest.mark.scaleout, pytest.mark.django_db(transaction=True)]

HOSTING = "值班时间外：您的留言我们会尽快回复。"
POOL_MAX = 4  # below the client threads' concurrency, so requests do queue for a connection
HTTP_CALLS = 2000
CLIENT_THREADS = 16
WS_CUSTOMERS = 200


class Probe:
    """Counts the server's backends on its own connection (not the test's pool)."""

    def __init__(self, app_name):
        self.app_name = app_name
        db = connection.settings_dict
        self.conn = psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"],
                                    autocommit=True, application_name="pool-test-probe")
        self.lock = threading.Lock()
        self.samples = []
        self.stop = threading.Event()

    def count(self):
        with self.lock:
            n = self.conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [self.app_name]).fetchone()[0]
            self.samples.append(n)
            return n

    def _loop(self):
        while True:  # about 100 samples a second: a busy loop would take a core from the server it measures
            self.count()
            if self.stop.wait(0.01):
                return

    def __enter__(self):
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.conn.close()


@pytest.fixture
def pooled_server(tmp_path, monkeypatch):
    """One uvicorn as in production: DB_CONN_MAX_AGE unset (scripts/test.sh sets it to 0), pool of POOL_MAX."""
    monkeypatch.delenv("DB_CONN_MAX_AGE", raising=False)
    app_name = f"pool-test-{uuid.uuid4().hex[:8]}"
    env = {"DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL, "CHANNEL_PREFIX": f"t{uuid.uuid4().hex[:8]}",
           "DB_APPLICATION_NAME": app_name, "DB_POOL_MAX_SIZE": str(POOL_MAX), "DB_POOL_TIMEOUT": "30",
           "RATE_LIMITS_ENABLED": "false",  # thousands of visitors from one address: the limits are not under test
           "SCHEDULER_EMBEDDED": "true", "SCHEDULER_INTERVAL_SECONDS": "0.05"}  # its thread takes pool connections too
    port = processes.free_port()
    proc = processes.start_uvicorn(port, env, tmp_path / "uvicorn.log")
    yield port, app_name
    processes.stop(proc)


def test_two_thousand_http_calls_stay_within_the_pool(personas, pooled_server):
    port, app_name = pooled_server
    key = personas.inbox_a.public_key
    counter = iter(range(HTTP_CALLS))
    counter_lock = threading.Lock()
    statuses, errors, every_hundred = {}, [], []

    def client(probe):
        """Keep-alive calls: a new visitor's session, then its inbox and a session renewal (all touch the database)."""
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        token = None
        try:
            while True:
                with counter_lock:
                    n = next(counter, None)
                if n is None:
                    return
                if token is None or n % 9 == 0:  # a new visitor: inserts a customer
                    method, path, body, headers = "POST", "/api/v1/customer/session", {"inbox_key": key}, {}
                elif n % 3 == 0:  # the widget renewing its token
                    method, path, body, headers = "POST", "/api/v1/customer/session", {"inbox_key": key, "token": token}, {}
                else:
                    method, path, body, headers = "GET", "/api/v1/customer/inbox", None, {"Authorization": f"Customer {token}"}
                conn.request(method, path, body=json.dumps(body) if body else None, headers={"Content-Type": "application/json", **headers})
                response = conn.getresponse()
                payload = response.read()
                with counter_lock:
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                if response.status != 200:
                    errors.append((method, path, response.status, payload[:200]))
                elif method == "POST":
                    token = json.loads(payload)["token"]
                if n % 100 == 99:
                    every_hundred.append(probe.count())
        except Exception as exc:  # surfaced by the assertion below
            errors.append(repr(exc))
        finally:
            conn.close()

    with Probe(app_name) as probe:
        threads = [threading.Thread(target=client, args=(probe,)) for _ in range(CLIENT_THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        final = probe.count()

    assert errors == []
    assert sum(statuses.values()) == HTTP_CALLS and statuses == {200: HTTP_CALLS}
    assert len(every_hundred) == HTTP_CALLS // 100
    assert max(probe.samples) <= POOL_MAX, f"backends seen: max {max(probe.samples)}, every 100 calls {every_hundred}"
    assert final <= POOL_MAX
    assert max(probe.samples) >= 1  # the probe did see the server's connections (a wrong name would count 0)


def test_two_hundred_websocket_customers_return_their_connections(personas, pooled_server):
    """The consumers' database work runs on a thread pool (thread_sensitive=False on PostgreSQL);
    channels' database_sync_to_async closes, i.e. gives back, the connection after each call.
    Hosting all day: every message is also a follow-up job on the server's two worker threads."""
    port, app_name = pooled_server
    ReplySettings.objects.create(workspace=personas.workspace, inbox=personas.inbox_a, hosting_enabled=True, hosting_message=HOSTING,
                                 hosting_start=clock_time(0, 0), hosting_end=clock_time(0, 0), hosting_limit_minutes=60)
    tokens = [make_visitor(personas.inbox_a)[1] for _ in range(WS_CUSTOMERS)]

    async def customer(i, token):
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/customer/?token={token}") as ws:
            assert json.loads(await asyncio.wait_for(ws.recv(), 60))["type"] == "hello"
            await ws.send(json.dumps({"type": "send", "client_msg_id": f"pool-{i}", "body": f"第 {i} 条"}))
            while True:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
                assert frame["type"] != "error", frame
                if frame["type"] == "ack":
                    return frame["message"]["seq"]

    async def everyone():
        return await asyncio.gather(*(customer(i, token) for i, token in enumerate(tokens)))

    with Probe(app_name) as probe:
        seqs = asyncio.run(everyone())
        wait_for(lambda: Message.objects.filter(body=HOSTING).count() == WS_CUSTOMERS, timeout=120, step=0.1, what="200 hosting lines")
        final = probe.count()

    assert len(seqs) == WS_CUSTOMERS and all(seq >= 1 for seq in seqs)  # every send acknowledged
    assert Message.objects.filter(client_msg_id__startswith="pool-").count() == WS_CUSTOMERS
    assert max(probe.samples) <= POOL_MAX, f"backends seen: max {max(probe.samples)}"
    assert final <= POOL_MAX
    assert max(probe.samples) >= 1


def test_pool_checkout_check_skips_only_a_connection_used_moments_ago(settings):
    """helpdesk.postgresql: the health-check round trip is skipped for a connection checked out within
    DB_POOL_RECHECK_SECONDS, and made for one idle longer (which is how a dead one is found)."""
    from helpdesk.postgresql.base import check_unless_recent

    db = connection.settings_dict
    conn = psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"], autocommit=True)
    try:
        settings.DB_POOL_RECHECK_SECONDS = 3600
        check_unless_recent(conn)  # first checkout: checked (alive)
        with psycopg.connect(host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"], autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", [conn.info.backend_pid]).fetchone()[0] is True
        check_unless_recent(conn)  # within the window: no round trip, so the death is not seen yet
        settings.DB_POOL_RECHECK_SECONDS = 0
        with pytest.raises(psycopg.OperationalError):
            check_unless_recent(conn)  # idle past the window: checked, found dead (the pool then replaces it)
    finally:
        conn.close()


def test_server_answers_every_call_after_its_database_connections_are_killed(personas, tmp_path, monkeypatch):
    """Every pooled connection terminated behind the server's back (as by a database restart): the
    checkout check finds them dead and the pool replaces them, so no call fails."""
    monkeypatch.delenv("DB_CONN_MAX_AGE", raising=False)
    app_name = f"pool-test-{uuid.uuid4().hex[:8]}"
    env = {"DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL, "CHANNEL_PREFIX": f"t{uuid.uuid4().hex[:8]}",
           "DB_APPLICATION_NAME": app_name, "DB_POOL_MAX_SIZE": "3", "DB_POOL_RECHECK_SECONDS": "0", "RATE_LIMITS_ENABLED": "false"}
    port = processes.free_port()
    proc = processes.start_uvicorn(port, env, tmp_path / "uvicorn.log")
    key = personas.inbox_a.public_key

    def calls(n):
        statuses = []
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(n):
            conn.request("POST", "/api/v1/customer/session", body=json.dumps({"inbox_key": key}), headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            statuses.append(response.status)
        conn.close()
        return statuses

    try:
        assert calls(10) == [200] * 10
        with Probe(app_name) as probe:
            assert probe.count() >= 1
            killed = probe.conn.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
                                        [app_name]).fetchone()[0]
            assert killed >= 1
            wait_for(lambda: probe.count() == 0, timeout=10)
            assert calls(20) == [200] * 20
            assert 1 <= probe.count() <= 3
    finally:
        processes.stop(proc)
