"""The scheduler as real processes (`manage.py run_scheduler`) against the test database:
two at once on PostgreSQL fire each of 1,000 deadlines exactly once; a scheduler killed with
SIGKILL and restarted fires every deadline (including those that fell due while it was down)
exactly once, on PostgreSQL and on the SQLite file database."""

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from chat import scheduler
from chat.models import Conversation, ConversationEvent, Customer, Deadline, Message
from lifecycle import worker

BASE_DIR = settings.BASE_DIR


def database_url():
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def start_scheduler(log_path, *extra):
    env = {**os.environ, "DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL or "", "DB_CONN_MAX_AGE": "0",
           "CHANNEL_PREFIX": f"t{uuid.uuid4().hex[:8]}"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    log = open(log_path, "ab")
    proc = subprocess.Popen([sys.executable, "manage.py", "run_scheduler", "--interval", "0.2", *extra], cwd=BASE_DIR, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    proc.log_path = log_path
    return proc


def wait_for(predicate, timeout=120.0, step=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def started(proc):
    if proc.poll() is not None:
        raise AssertionError(f"scheduler exited early: {open(proc.log_path).read()}")
    return "started" in open(proc.log_path).read()


def stop(proc, sig=signal.SIGTERM):
    """Stop the process; returns how many deadlines it says it fired (None if killed)."""
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    found = re.search(r"stopped: fired (\d+)", open(proc.log_path).read())
    return int(found.group(1)) if found else None


def resolved_conversations(inbox, n):
    """n resolved, unrated conversations of distinct customers (bulk: the setup is not under test)."""
    customers = Customer.objects.bulk_create([Customer(workspace_id=inbox.workspace_id, first_inbox=inbox) for _ in range(n)])
    now = timezone.now()
    return Conversation.objects.bulk_create([
        Conversation(workspace_id=inbox.workspace_id, inbox=inbox, customer=c, state=Conversation.State.RESOLVED, resolved_at=now,
                     last_message_at=now) for c in customers
    ])


def due_rating_requests(conversations, due_at):
    return Deadline.objects.bulk_create([
        Deadline(workspace_id=c.workspace_id, conversation=c, kind=Deadline.Kind.CSAT_PROMPT, due_at=due_at) for c in conversations
    ])


def assert_each_fired_exactly_once(conversations):
    ids = [c.pk for c in conversations]
    deadlines = Deadline.objects.filter(conversation_id__in=ids)
    assert deadlines.count() == len(ids)
    assert deadlines.filter(state="fired", attempts=1).count() == len(ids)
    prompts = dict(ConversationEvent.objects.filter(conversation_id__in=ids, kind="csat_prompted")
                   .values_list("conversation_id").annotate(n=Count("pk")))
    assert len(prompts) == len(ids) and set(prompts.values()) == {1}
    lines = dict(Message.objects.filter(conversation_id__in=ids, sender_kind="system").values_list("conversation_id").annotate(n=Count("pk")))
    assert len(lines) == len(ids) and set(lines.values()) == {1}
    # and the seq rule held for those lines: each is seq 1 of its conversation
    assert set(Message.objects.filter(conversation_id__in=ids).values_list("seq", flat=True)) == {1}


@pytest.mark.scaleout
@pytest.mark.django_db(transaction=True)
def test_two_schedulers_fire_a_thousand_deadlines_exactly_once(personas, tmp_path):
    assert connection.vendor == "postgresql", "run with DATABASE_URL=postgres://..."
    conversations = resolved_conversations(personas.inbox_a, 1000)
    procs = [start_scheduler(tmp_path / f"scheduler-{n}.log") for n in range(2)]
    try:
        wait_for(lambda: all(started(p) for p in procs), 60, what="both schedulers to start")
        # Both are polling now: the deadlines appear at once for both of them.
        with transaction.atomic():
            due_rating_requests(conversations, timezone.now() - timedelta(seconds=1))
        wait_for(lambda: not Deadline.objects.filter(state="pending").exists(), 180, 0.2, "every deadline to fire")
    finally:
        counts = [stop(p) for p in procs]
    assert_each_fired_exactly_once(conversations)
    print("deadlines fired per process:", counts)
    assert sum(counts) == 1000
    assert all(n > 0 for n in counts), f"one scheduler did all the work: {counts}"


def killed_and_restarted(personas, tmp_path, first=400, during_downtime=300):
    before = resolved_conversations(personas.inbox_a, first)
    later = resolved_conversations(personas.inbox_a, during_downtime)
    due_rating_requests(before, timezone.now() - timedelta(seconds=1))
    proc = start_scheduler(tmp_path / "scheduler-1.log", "--no-sweep")
    try:
        wait_for(lambda: Deadline.objects.filter(state="fired").exists(), 60, 0.01, "a first firing")
    finally:
        stop(proc, signal.SIGKILL)  # mid-way, maybe mid-transaction
    fired_before_kill = Deadline.objects.filter(state="fired").count()
    assert 0 < fired_before_kill < first
    # While it is down, more deadlines fall due (an hour ago, even).
    due_rating_requests(later, timezone.now() - timedelta(hours=1))
    proc = start_scheduler(tmp_path / "scheduler-2.log", "--no-sweep")
    try:
        wait_for(lambda: not Deadline.objects.filter(state="pending").exists(), 180, 0.2, "every deadline to fire")
    finally:
        fired_after_restart = stop(proc)
    assert_each_fired_exactly_once(before + later)
    assert fired_before_kill + fired_after_restart == first + during_downtime
    return fired_before_kill, fired_after_restart


@pytest.mark.scaleout
@pytest.mark.django_db(transaction=True)
def test_a_killed_scheduler_restarted_fires_each_deadline_once_postgresql(personas, tmp_path):
    assert connection.vendor == "postgresql", "run with DATABASE_URL=postgres://..."
    print("fired before SIGKILL / after restart:", killed_and_restarted(personas, tmp_path))


@pytest.mark.django_db(transaction=True)
def test_a_killed_scheduler_restarted_fires_each_deadline_once_sqlite(personas, tmp_path):
    if connection.vendor != "sqlite":
        pytest.fail("this one is for the SQLite pass (the PostgreSQL variant is marked scaleout)")
    print("fired before SIGKILL / after restart:", killed_and_restarted(personas, tmp_path))


@pytest.mark.scaleout
@pytest.mark.django_db(transaction=True)
def test_a_deadline_of_a_busy_conversation_is_skipped_not_waited_on(personas, tmp_path):
    """A writer holding a conversation's lock may be about to move that conversation's deadline
    (schedule/cancel under the lock): the scheduler must skip it for now, not wait (deadlock)."""
    import threading

    assert connection.vendor == "postgresql"
    busy, free = resolved_conversations(personas.inbox_a, 2)
    due_rating_requests([busy, free], timezone.now() - timedelta(seconds=1))
    locked, release = threading.Event(), threading.Event()

    def writer():
        try:
            with transaction.atomic():
                Conversation.objects.select_for_update().get(pk=busy.pk)
                locked.set()
                release.wait(30)
                scheduler.cancel(busy.pk)  # waits on nothing: the scheduler let go of the row
        finally:
            connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert locked.wait(10)
        started_at = time.monotonic()
        assert worker.fire_due() == 1
        assert time.monotonic() - started_at < 5
    finally:
        release.set()
        thread.join(30)
    assert Deadline.objects.get(conversation=free).state == "fired"
    assert Deadline.objects.get(conversation=busy).state == "cancelled"
