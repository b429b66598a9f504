"""Deadlines stored as rows, fired exactly once.

schedule() writes or moves the one pending deadline of a kind for a conversation; cancel()
drops it. fire_due() fires what is due, one short transaction per deadline: the row is taken
with SELECT ... FOR UPDATE SKIP LOCKED on PostgreSQL (other schedulers skip it) and marked
fired in the same transaction as the handler's writes, so a deadline fires once even with
several scheduler processes, and a crash before the commit leaves it pending for the next
start (SQLite serialises writers: its transactions begin IMMEDIATE, see settings).

Handlers live with their domain and are named here, imported on first use:
handler(deadline, now) runs inside the transaction and may read deadline.data."""

import logging
from datetime import timedelta

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.module_loading import import_string

from .models import Deadline

log = logging.getLogger(__name__)

HANDLERS = {
    Deadline.Kind.NO_ANSWER: "replies.auto.no_answer_due",
    Deadline.Kind.QUEUE_TIMEOUT: "routing.actions.queue_timeout_due",
    Deadline.Kind.AUTO_RESOLVE: "chat.actions.auto_resolve_due",
    Deadline.Kind.CSAT_PROMPT: "chat.actions.csat_prompt_due",
}
MAX_ATTEMPTS = 5
_handlers = {}


def _handler(kind):
    if kind not in _handlers:
        _handlers[kind] = import_string(HANDLERS[kind])
    return _handlers[kind]


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


def _take_one(now):
    due = Deadline.objects.filter(state=Deadline.State.PENDING, due_at__lte=now).order_by("due_at", "pk")
    if connection.features.has_select_for_update_skip_locked:
        due = due.select_for_update(skip_locked=True)
    deadline = due.first()
    if deadline is None:
        return None
    # Claimed only if still pending: the backstop where row locks do not exist (SQLite serialises instead).
    if not Deadline.objects.filter(pk=deadline.pk, state=Deadline.State.PENDING).update(
        state=Deadline.State.FIRED, fired_at=now, attempts=F("attempts") + 1
    ):
        return False
    return deadline


def fire_due(now=None, limit=500):
    """Fire up to `limit` due deadlines; returns how many fired (failures are retried later)."""
    fired = 0
    for _ in range(limit):
        now_ = now or timezone.now()
        with transaction.atomic():
            deadline = _take_one(now_)
            if deadline is None:
                break
            if deadline is False:
                continue
            try:
                with transaction.atomic():
                    _handler(deadline.kind)(deadline, now_)
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
