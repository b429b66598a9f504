"""Factories and personas shared by every app's tests.

Personas: an owner (founder), an agent serving inbox A, an agent serving
inbox B only, an anonymous visitor on inbox A, and a second workspace whose
rows must stay invisible to all of them."""

import itertools
import os

import pytest
from django.contrib.auth import get_user_model
from guardian.shortcuts import assign_perm

from accounts.models import Membership, Role, Workspace
from chat import access, identity
from chat import messages as chat_messages
from chat.models import Inbox
from helpdesk import ratelimit

_ids = itertools.count(1)


def pytest_configure(config):
    """Fast password hashing for the whole suite (MD5 first; the product keeps Argon2, see
    PRODUCT_PASSWORD_HASHERS in helpdesk/settings.py and the tests that switch back to it).
    pytest-django has set Django up before this file loads, so this process switches with
    override_settings; the variable is for the server processes the tests start (they inherit
    os.environ), which must verify, and not re-hash, the passwords of the users stored here."""
    from django.conf import settings
    from django.test.utils import override_settings

    os.environ["PASSWORD_HASHERS_FAST_FOR_TESTS"] = "1"
    os.environ["DEMO_PAGES"] = "1"  # many tests use /demo/agent/ as "a page that needs a login" (off by default)
    override_settings(PASSWORD_HASHERS=settings.FAST_TEST_PASSWORD_HASHERS, DEMO_PAGES=True).enable()
    # Parallel test workers (pytest-xdist, scripts/test.sh) each have their own database, where
    # ids repeat: on a shared Redis their channel groups and cache keys must not meet.
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker and settings.REDIS_URL:
        layers = {name: {**layer, "CONFIG": {**layer.get("CONFIG", {}), "prefix": f"{layer['CONFIG'].get('prefix', 'helpdesk')}-{worker}"}}
                  for name, layer in settings.CHANNEL_LAYERS.items()}
        caches = {name: {**cache, "KEY_PREFIX": worker} for name, cache in settings.CACHES.items()}
        override_settings(CHANNEL_LAYERS=layers, CACHES=caches).enable()


def make_workspace(name=None):
    n = next(_ids)
    return Workspace.objects.create(name=name or f"Workspace {n}", slug=f"ws-{n}")


def make_inbox(workspace, **kwargs):
    return Inbox.objects.create(workspace=workspace, name=kwargs.pop("name", f"Inbox {next(_ids)}"), **kwargs)


def make_agent(workspace, inboxes=(), role=Role.AGENT, username=None, password="pw-for-tests-123"):
    user = get_user_model().objects.create_user(username=username or f"agent{next(_ids)}", password=password)
    membership = Membership.objects.create(workspace=workspace, user=user, role=role, display_name=user.username)
    for inbox in inboxes:
        assign_perm("chat.reply_in_inbox", user, inbox)
    return user, (None if role == Role.VERIFIER else access.agent_actor(membership))


def make_visitor(inbox):
    """An anonymous visitor: (actor, token) exactly as the widget gets them."""
    customer, inbox, token = identity.open_customer_session(inbox.public_key)
    return access.customer_actor(customer, inbox.pk), token


def run_threads(count, target):
    """Run target(i) in `count` real threads at once (each with its own DB connection);
    any exception in a thread fails the test."""
    import threading

    from django.db import connection

    errors = []

    def wrapped(i):
        try:
            target(i)
        except Exception as exc:  # surfaced below: a failing thread must fail the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


class Personas:
    pass


@pytest.fixture
def personas(db):
    p = Personas()
    p.workspace = make_workspace("Shop A")
    p.inbox_a = make_inbox(p.workspace, name="Site A")
    p.inbox_b = make_inbox(p.workspace, name="App B")
    p.owner_user, p.owner = make_agent(p.workspace, [p.inbox_a, p.inbox_b], role=Role.FOUNDER, username="owner")
    p.agent_a_user, p.agent_a = make_agent(p.workspace, [p.inbox_a], username="agent_a")
    p.agent_b_user, p.agent_b = make_agent(p.workspace, [p.inbox_b], username="agent_b")
    p.visitor, p.visitor_token = make_visitor(p.inbox_a)
    p.other_workspace = make_workspace("Shop Z")
    p.other_inbox = make_inbox(p.other_workspace, name="Site Z")
    p.other_agent_user, p.other_agent = make_agent(p.other_workspace, [p.other_inbox], username="agent_z")
    p.other_visitor, p.other_visitor_token = make_visitor(p.other_inbox)
    return p


@pytest.fixture
def agents_on_duty_but_full(personas):
    """The agents of inboxes A and B are online with no free slot: chats queue and someone will serve
    them. Without anyone on duty the flow tells each customer to leave a message (lifecycle.flow),
    one more line in every conversation of tests that are about something else."""
    from routing.models import AgentPresence

    for user in (personas.agent_a_user, personas.agent_b_user):
        AgentPresence.objects.create(workspace=personas.workspace, user=user, status="online", capacity=0)


def send(actor, body="hello", client_msg_id=None, **kwargs):
    """Send through the real action with a fresh client_msg_id unless one is given."""
    return chat_messages.send_message(actor, client_msg_id=client_msg_id or f"t-{next(_ids)}", body=body, **kwargs)


@pytest.fixture
def sender():
    return send


@pytest.fixture(autouse=True)
def _default_language():
    """Every test starts in the server's language: a request in an earlier test (a member's own
    language, activated by the middleware) must not carry over into this thread's next test."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Every test starts with no requests counted (helpdesk.ratelimit): the suite runs in one process."""
    ratelimit.reset()


@pytest.fixture(scope="session", autouse=True)
def _release_worker_connections(django_db_setup, django_db_blocker):
    """Consumers run database work on executor threads whose connections outlive the
    tests; end them so the PostgreSQL test database can be dropped at teardown."""
    yield
    from django.db import connection

    from helpdesk import async_db

    async_db.drop_all()
    with django_db_blocker.unblock():
        # Only when this process made a test database (a worker given no database test made none).
        if connection.vendor == "postgresql" and connection.settings_dict["NAME"].startswith("test_"):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


def verified_client(user, client=None):
    """A test Client logged in as `user` with the session past the TOTP step when the
    user needs one (admin roles), as after a real password + token login."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.security import must_verify

    client = client or Client()
    client.force_login(user)
    if must_verify(user):
        device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(user=user, name="test", confirmed=True)
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session.save()
    return client


# --- browser tests: Debian's Chromium driven by Playwright against a real uvicorn ---

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def outside_the_browser_loop(query):
    """Playwright's sync API runs an event loop in this thread; Django's ORM must run elsewhere."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection

    def run():
        try:
            return query()
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


# How long a browser test waits for a state that needs the live server (a loaded machine is slow).
BROWSER_WAIT_MS = 20_000


def widget_session_open(scope, timeout=BROWSER_WAIT_MS):
    """Wait until the chat widget in `scope` (a page, or the frame locator of the embedded widget) has
    opened its customer session. Its home view and "Contact us" show before that, and a click on
    "Contact us" until then is lost (widget.js boot(): the header's availability line is filled once
    the session is open)."""
    from playwright.sync_api import expect

    expect(scope.locator("#w-availability")).not_to_be_empty(timeout=timeout)


@pytest.fixture
def live_server_url(db, tmp_path):
    """A uvicorn process serving the test database (tests using it need transaction=True)."""
    import os
    from urllib.parse import quote

    from django.db import connection

    from helpdesk import processes

    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium missing at /usr/bin/chromium (scripts/install-chromium.sh installs it)")
        pytest.skip("Chromium not installed at /usr/bin/chromium: run scripts/install-chromium.sh")
    port = processes.free_port()
    db = connection.settings_dict
    if connection.vendor == "postgresql":  # the PostgreSQL pass: the test database, through Redis as in production
        login = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
        env = {"DATABASE_URL": f"postgres://{login}@{db['HOST']}:{db['PORT']}/{db['NAME']}", "REDIS_URL": os.environ.get("REDIS_URL", "")}
    else:
        env = {"DATABASE_URL": f"sqlite:///{db['NAME']}", "REDIS_URL": ""}
    env["MEDIA_ROOT"] = str(tmp_path / "media")
    proc = processes.start_uvicorn(port, env, tmp_path / "uvicorn.log")
    yield f"http://127.0.0.1:{port}"
    processes.stop(proc)


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def artifacts():
    """Folder for screenshots (gitignored)."""
    from pathlib import Path

    from django.conf import settings

    folder = Path(settings.BASE_DIR, "test-artifacts")
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture
def two_servers(db, tmp_path):
    """Two uvicorn processes sharing the PostgreSQL test database and Redis (scale-out tests)."""
    import uuid

    from django.conf import settings
    from django.db import connection

    from helpdesk import processes

    assert connection.vendor == "postgresql", "the scale-out test needs DATABASE_URL=postgres://..."
    assert settings.REDIS_URL, "the scale-out test needs REDIS_URL"
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {"DATABASE_URL": url, "REDIS_URL": settings.REDIS_URL, "CHANNEL_PREFIX": f"t{uuid.uuid4().hex[:8]}", "DB_CONN_MAX_AGE": "0",
           # Delivery bursts (one visitor, 40 sends at once), not throttling, are tested here.
           "RATE_LIMIT_SEND_VISITOR": "0", "RATE_LIMIT_SEND_IP": "0"}
    ports = [processes.free_port(), processes.free_port()]
    procs = [processes.start_uvicorn(p, env, tmp_path / f"uvicorn-{p}.log") for p in ports]
    yield ports
    for proc in procs:
        processes.stop(proc)


@pytest.fixture(autouse=True)
def _side_work_inline(settings):
    """Follow-up jobs (Web Push, auto-replies, the bot) normally run on worker threads after commit.
    In tests they run in the committing thread: a worker still querying while a test's database is
    flushed would deadlock PostgreSQL's TRUNCATE. Tests of the threaded path turn SYNC off themselves."""
    settings.FOLLOWUPS = {**settings.FOLLOWUPS, "SYNC": True}
    from lifecycle import push
    from replies import config

    config.invalidate()  # a rolled-back test's workspace id comes back in the next test
    push.forget_devices_cache()


@pytest.fixture
def online_agent(personas, live_server_url):
    """agent_a online on a real socket to the live server (serves inbox A; the owner is not
    on duty, so routing gives agent_a the chats of inbox A)."""
    from chat.tests.live_customer import LiveAgent
    from routing.models import AgentPresence

    session_id = verified_client(personas.agent_a_user).cookies["sessionid"].value
    AgentPresence.objects.filter(user=personas.owner_user).delete()
    agent = LiveAgent(live_server_url, session_id)
    agent.frame({"type": "status", "status": "online"}, "status.ok")
    yield agent
    agent.close()


@pytest.fixture
def search_index(settings, tmp_path, monkeypatch):
    """A knowledge-search index of this test's own (Whoosh), also used by a live server
    started after this fixture (WHOOSH_PATH in the environment it inherits)."""
    path = str(tmp_path / "whoosh")
    settings.HAYSTACK_CONNECTIONS = {"default": {"ENGINE": "knowledge.search_backend.KnowledgeWhooshEngine", "PATH": path}}
    monkeypatch.setenv("WHOOSH_PATH", path)
    monkeypatch.setenv("SEARCH_URL", "")
    return path
