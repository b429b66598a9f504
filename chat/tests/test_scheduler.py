"""The scheduler core (chat.scheduler): one pending row per kind, cancel, retries with backoff,
the handler's writes committed with the fired mark, the idle turn, the loop and its thread."""

import threading
import time
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from chat import scheduler
from chat.models import Conversation, ConversationEvent, Deadline, SenderKind
from conftest import make_visitor, send
from lifecycle import worker

pytestmark = [pytest.mark.engine_db, pytest.mark.django_db(transaction=True)]

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=dt_timezone.utc)
KIND = Deadline.Kind.CSAT_PROMPT


@pytest.fixture
def chat(personas):
    message, _ = send(personas.visitor, "hello")
    return Conversation.objects.get(pk=message.conversation_id)


@pytest.fixture
def handler(monkeypatch):
    """Replace the csat_prompt handler: calls are recorded, and each writes an event row (to see
    whether the writes committed); `fail` makes it raise after writing."""
    calls = []
    state = {"fail": False, "again": None}

    def run(deadline, now):
        calls.append((deadline.pk, now))
        ConversationEvent.objects.create(conversation_id=deadline.conversation_id, kind="csat_prompted", actor_kind=SenderKind.SYSTEM)
        if state["fail"]:
            raise RuntimeError("handler broke")
        return state["again"]

    monkeypatch.setitem(worker.HANDLERS, KIND, run)
    run.calls, run.state = calls, state
    return run


def events(conversation):
    return ConversationEvent.objects.filter(conversation=conversation, kind="csat_prompted").count()


def test_schedule_keeps_one_pending_row_and_moves_it(chat):
    scheduler.schedule(chat, KIND, T0, data={"n": 1})
    scheduler.schedule(chat, KIND, T0 + timedelta(minutes=5), data={"n": 2})
    row = Deadline.objects.get(conversation=chat, kind=KIND)
    assert (row.state, row.due_at, row.data) == ("pending", T0 + timedelta(minutes=5), {"n": 2})
    scheduler.schedule(chat, KIND, T0 + timedelta(minutes=9), keep_earlier=True)
    assert Deadline.objects.get(conversation=chat, kind=KIND).due_at == T0 + timedelta(minutes=5)
    scheduler.schedule(chat, KIND, T0 + timedelta(minutes=1), keep_earlier=True)
    assert Deadline.objects.get(conversation=chat, kind=KIND).due_at == T0 + timedelta(minutes=1)


def test_cancel_drops_pending_rows_and_a_new_schedule_starts_a_new_one(chat):
    scheduler.schedule(chat, KIND, T0)
    scheduler.schedule(chat, Deadline.Kind.AUTO_RESOLVE, T0)
    assert scheduler.cancel(chat.pk, KIND) == 1
    assert Deadline.objects.get(conversation=chat, kind=KIND).state == "cancelled"
    assert Deadline.objects.get(conversation=chat, kind="auto_resolve").state == "pending"
    scheduler.schedule(chat, KIND, T0 + timedelta(hours=1))
    assert Deadline.objects.filter(conversation=chat, kind=KIND, state="pending").count() == 1
    assert scheduler.cancel(chat.pk) == 2


def test_a_failing_handler_is_retried_with_backoff_then_marked_failed(chat, handler, time_machine):
    time_machine.move_to(T0, tick=False)
    scheduler.schedule(chat, KIND, T0)
    handler.state["fail"] = True
    now = T0
    for attempt in range(1, scheduler.MAX_ATTEMPTS):
        assert worker.fire_due() == 0
        row = Deadline.objects.get(conversation=chat, kind=KIND)
        assert (row.state, row.attempts, row.due_at) == ("pending", attempt, now + timedelta(seconds=30 * attempt))
        assert "handler broke" in row.last_error
        assert worker.fire_due() == 0 and len(handler.calls) == attempt  # not due before the backoff
        now = row.due_at
        time_machine.move_to(now, tick=False)
    assert worker.fire_due() == 0
    row = Deadline.objects.get(conversation=chat, kind=KIND)
    assert (row.state, row.attempts) == ("failed", scheduler.MAX_ATTEMPTS)
    assert len(handler.calls) == scheduler.MAX_ATTEMPTS
    assert events(chat) == 0  # every attempt's write was rolled back with it
    time_machine.move_to(now + timedelta(days=1), tick=False)
    assert worker.fire_due() == 0 and len(handler.calls) == scheduler.MAX_ATTEMPTS


def test_a_failure_then_success_fires_once(chat, handler, time_machine):
    time_machine.move_to(T0, tick=False)
    scheduler.schedule(chat, KIND, T0)
    handler.state["fail"] = True
    assert worker.fire_due() == 0
    handler.state["fail"] = False
    time_machine.move_to(T0 + timedelta(seconds=31), tick=False)
    assert worker.fire_due() == 1
    row = Deadline.objects.get(conversation=chat, kind=KIND)
    assert (row.state, row.attempts) == ("fired", 2)
    assert events(chat) == 1


def test_the_handler_writes_and_the_fired_mark_commit_together(chat, handler):
    scheduler.schedule(chat, KIND, T0)
    with pytest.raises(RuntimeError), transaction.atomic():
        assert worker.fire_due() == 1
        assert Deadline.objects.get(conversation=chat, kind=KIND).state == "fired" and events(chat) == 1
        raise RuntimeError("the process dies before the commit")
    assert Deadline.objects.get(conversation=chat, kind=KIND).state == "pending" and events(chat) == 0
    assert worker.fire_due() == 1
    assert Deadline.objects.get(conversation=chat, kind=KIND).state == "fired" and events(chat) == 1


def test_a_handler_returning_a_time_puts_the_same_row_back(chat, handler, time_machine):
    time_machine.move_to(T0, tick=False)
    scheduler.schedule(chat, KIND, T0)
    handler.state["again"] = T0 + timedelta(minutes=10)
    assert worker.fire_due() == 1
    row = Deadline.objects.get(conversation=chat, kind=KIND)
    assert (row.state, row.due_at, row.fired_at, row.attempts) == ("pending", T0 + timedelta(minutes=10), None, 0)


def test_an_idle_turn_is_one_read_and_a_busy_one_a_few_queries_per_deadline(personas, chat, handler):
    with CaptureQueriesContext(connection) as idle:
        assert worker.fire_all_due() == 0
    assert len(idle.captured_queries) == 1 and idle.captured_queries[0]["sql"].lstrip().upper().startswith("SELECT")
    others = []
    for _ in range(4):
        visitor, _token = make_visitor(personas.inbox_a)
        others.append(Conversation.objects.get(pk=send(visitor, "hi")[0].conversation_id))
    for conversation in [chat, *others]:
        scheduler.schedule(conversation, KIND, T0)
    with CaptureQueriesContext(connection) as busy:
        assert worker.fire_all_due() == 5
    # per deadline: take (SELECT), lock the conversation (PostgreSQL only), claim (UPDATE),
    # the handler's INSERT, plus savepoints; then the final "anything due?" reads
    per_deadline = (len(busy.captured_queries) - 2) / 5
    assert per_deadline <= 9, busy.captured_queries


def test_run_loop_fires_sweeps_and_survives_errors(chat, handler, monkeypatch):
    scheduler.schedule(chat, KIND, T0)
    stats = worker.run_loop(threading.Event(), once=True, sweep_interval=5)
    assert (stats["fired"], stats["sweeps"], stats["errors"]) == (1, 1, 0)

    def broken(*args, **kwargs):
        raise ConnectionError("database away")

    monkeypatch.setattr(scheduler, "fire_all_due", broken)
    stats = worker.run_loop(threading.Event(), once=True, sweep_interval=0)
    assert (stats["fired"], stats["sweeps"], stats["errors"]) == (0, 0, 1)


def test_the_embedded_thread_fires_due_deadlines_and_stops(chat, handler, settings):
    settings.SCHEDULER = {**settings.SCHEDULER, "INTERVAL_SECONDS": 0.05, "SWEEP_INTERVAL_SECONDS": 0}
    thread = worker.start_embedded()
    try:
        assert worker.start_embedded() is thread  # once per process
        scheduler.schedule(chat, KIND, T0)
        deadline = time.monotonic() + 10
        while Deadline.objects.filter(state="pending").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop_embedded()
    assert not thread.is_alive()
    assert Deadline.objects.get(conversation=chat, kind=KIND).state == "fired" and events(chat) == 1


def test_prune_deletes_old_fired_and_cancelled_rows_only(chat, personas):
    now = datetime.now(dt_timezone.utc)
    second = Conversation.objects.get(pk=send(make_visitor(personas.inbox_a)[0], "hi")[0].conversation_id)
    rows = {
        "old_fired": Deadline.objects.create(workspace=chat.workspace, conversation=chat, kind=KIND, due_at=now, state=Deadline.State.FIRED),
        "old_cancelled": Deadline.objects.create(workspace=chat.workspace, conversation=chat, kind=Deadline.Kind.AUTO_RESOLVE, due_at=now,
                                                 state=Deadline.State.CANCELLED),
        "old_failed": Deadline.objects.create(workspace=chat.workspace, conversation=chat, kind=Deadline.Kind.NO_ANSWER, due_at=now,
                                              state=Deadline.State.FAILED),
        "old_pending": Deadline.objects.create(workspace=chat.workspace, conversation=chat, kind=Deadline.Kind.QUEUE_TIMEOUT, due_at=now),
        "recent_fired": Deadline.objects.create(workspace=chat.workspace, conversation=second, kind=KIND, due_at=now, state=Deadline.State.FIRED),
    }
    Deadline.objects.filter(pk__in=[rows[k].pk for k in rows if k.startswith("old")]).update(created_at=now - timedelta(days=31))
    assert scheduler.prune(now) == 2
    left = set(Deadline.objects.values_list("pk", flat=True))
    assert left == {rows[k].pk for k in ("old_failed", "old_pending", "recent_fired")}
    assert scheduler.prune(now) == 0
