"""Deadlines stored as rows, fired exactly once.

schedule() writes or moves the one pending deadline of a kind for a conversation; cancel()
drops it. fire_due() fires what is due, one short transaction per deadline: the row is taken
with SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL (other schedulers skip it) and marked
fired in the same transaction as the handler's writes, so a deadline fires once even with
several scheduler processes, and a crash before the commit leaves it pending for the next
start (SQLite serialises writers: its transactions begin IMMEDIATE, see settings).

Handlers live with their domain; the caller passes them ({kind: handler}, lifecycle.worker):
handler(deadline, now) runs inside the transaction and may read deadline.data; returning a
datetime puts the same deadline back to pending for then (a lazy "not yet").

The loop that calls fire_due is lifecycle.worker (see docs/scheduler.md)."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from .models import Conversation, Deadline

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


def schedule(conversation, kind, due_at, data=None, *, keep_earlier=False):
    """Set the pending deadline of this kind for the conversation (one row per kind: moved if
    there is one). keep_earlier: an existing earlier deadline stays as it is."""
    pending = Deadline.objects.filter(conversation_id=conversation.pk, kind=kind, state=Deadline.State.PENDING)
    if keep_earlier:
        pending = pending.filter(due_at__gt=due_at)
    if pending.update(due_at=due_at, data=data or {}):
        return
    if keep_earlier and Deadline.objects.filter(conversation_id=conversation.pk, kind=kind, state=Deadline.State.PENDING).exists():
        return
    try:
        with transaction.atomic():
            Deadline.objects.create(workspace_id=conversation.workspace_id, conversation_id=conversation.pk, kind=kind,
                                    due_at=due_at, data=data or {})
    except IntegrityError:
        # Another writer created it a moment ago (unique pending row): move theirs instead.
        Deadline.objects.filter(conversation_id=conversation.pk, kind=kind, state=Deadline.State.PENDING).update(due_at=due_at, data=data or {})


def cancel(conversation_id, *kinds):
    """Drop pending deadlines of these kinds (all kinds when none is named)."""
    pending = Deadline.objects.filter(conversation_id=conversation_id, state=Deadline.State.PENDING)
    if kinds:
        pending = pending.filter(kind__in=kinds)
    return pending.update(state=Deadline.State.CANCELLED)


def due_exists(now=None):
    """A plain read (no transaction): on SQLite an idle turn must not take the write lock."""
    return Deadline.objects.filter(state=Deadline.State.PENDING, due_at__lte=now or timezone.now()).exists()


def _take_one(now, skip):
    due = Deadline.objects.filter(state=Deadline.State.PENDING, due_at__lte=now).order_by("due_at", "pk")
    if skip:
        due = due.exclude(pk__in=skip)
    if connection.features.has_select_for_update_skip_locked:
        due = due.select_for_update(skip_locked=True)
    return due.first()


def _conversation_free(conversation_id):
    """Lock the conversation now or give up: a writer holding it may be waiting on this very
    deadline row (schedule/cancel under the conversation lock), so waiting could deadlock."""
    if not connection.features.has_select_for_update_skip_locked:
        return True  # SQLite: one writer at a time, nothing to wait for
    return Conversation.objects.select_for_update(skip_locked=True).filter(pk=conversation_id).values_list("pk", flat=True).first() is not None


def fire_due(handlers, now=None, limit=500, stop=None):
    """Fire up to `limit` due deadlines with handlers ({kind: handler(deadline, now)}); returns how
    many handlers ran (failures are retried later). stop: a threading.Event checked between deadlines."""
    fired = 0
    skip = set()  # conversations busy right now: their deadlines wait for the next turn
    for _ in range(limit):
        if stop is not None and stop.is_set():
            break
        now_ = now or timezone.now()
        with transaction.atomic():
            deadline = _take_one(now_, skip)
            if deadline is None:
                break
            if not _conversation_free(deadline.conversation_id):
                skip.add(deadline.pk)
                continue
            # Claimed only if still pending: the backstop where row locks do not exist (SQLite serialises instead).
            if not Deadline.objects.filter(pk=deadline.pk, state=Deadline.State.PENDING).update(
                state=Deadline.State.FIRED, fired_at=now_, attempts=F("attempts") + 1
            ):
                skip.add(deadline.pk)
                continue
            try:
                with transaction.atomic():
                    again = handlers[deadline.kind](deadline, now_)
                    if isinstance(again, datetime):  # "not yet": the same row waits again
                        Deadline.objects.filter(pk=deadline.pk).update(state=Deadline.State.PENDING, due_at=again, fired_at=None, attempts=0)
                fired += 1
            except Exception as error:  # one broken deadline must not stop the others
                log.exception("deadline %s (%s) failed", deadline.pk, deadline.kind)
                _retry_later(deadline, now_, error)
    return fired


def _retry_later(deadline, now, error):
    attempts = deadline.attempts + 1
    failed = {"state": Deadline.State.FAILED, "last_error": repr(error)[:300]}
    if attempts >= MAX_ATTEMPTS:
        Deadline.objects.filter(pk=deadline.pk).update(**failed)
        return
    try:
        with transaction.atomic():
            Deadline.objects.filter(pk=deadline.pk).update(state=Deadline.State.PENDING, fired_at=None,
                                                           due_at=now + timedelta(seconds=30 * attempts), last_error=repr(error)[:300])
    except IntegrityError:  # rescheduled meanwhile: the newer deadline stands
        Deadline.objects.filter(pk=deadline.pk).update(**failed)


def fire_all_due(handlers, batch=None, stop=None):
    """Fire batches while deadlines are due. Nothing due costs one indexed read, no transaction."""
    batch = batch or settings.SCHEDULER["BATCH"]
    total = 0
    while not (stop is not None and stop.is_set()) and due_exists():
        fired = fire_due(handlers, limit=batch, stop=stop)
        total += fired
        if fired < batch:
            break  # the rest failed, is busy or is not due yet: next turn
    return total


def prune(now=None, keep_days=30, batch=1000):
    """Delete fired and cancelled rows older than keep_days, a batch at a time (failed rows stay
    for inspection). The loop runs it hourly: the table would otherwise grow with every chat."""
    cutoff = (now or timezone.now()) - timedelta(days=keep_days)
    old = Deadline.objects.filter(state__in=(Deadline.State.FIRED, Deadline.State.CANCELLED), created_at__lt=cutoff)
    ids = list(old.values_list("pk", flat=True)[:batch])
    return Deadline.objects.filter(pk__in=ids).delete()[0] if ids else 0
