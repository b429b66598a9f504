"""Follow-up jobs (lifecycle.models.FollowUp): written inside the transaction that caused them,
run exactly once after it commits.

enqueue() adds the row and, once the transaction commits, hands its id to a worker thread of
this process (FOLLOWUPS["EAGER"]); the scheduler loop (lifecycle.worker) runs pending rows whose
run_after has passed: those of a process that died before running them, and retries. A job is
run in two steps: prepare(job) reads and computes outside any transaction (a search, a model
call: slow work never holds a lock); apply(job, prepared) runs in one transaction with the
conditional claim (pending → done), so its writes commit with the mark or not at all, and two
runners never both apply it. Jobs whose effect leaves the database (Web Push) take a lease
instead: claimed for LEASE_SECONDS, sent, then marked done; a runner that dies in between is
replaced when the lease ends (a notification may then go out twice; nothing is lost).

Errors are retried after 30 s × attempts and kept as failed after MAX_ATTEMPTS, with the error."""

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from asgiref.sync import SyncToAsync
from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F
from django.utils import timezone

from .models import FollowUp

log = logging.getLogger(__name__)

_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="follow-up")


@dataclass(frozen=True)
class Handler:
    apply: Callable  # apply(job, prepared)
    prepare: Callable | None = None  # prepare(job) -> prepared, outside any transaction
    leased: bool = False  # the effect leaves the database: lease, run, then mark done


_handlers = {}


def register(kind, handler):
    _handlers[kind] = handler


def _config():
    return settings.FOLLOWUPS


def enqueue(conversation, kind, **data):
    """Caller holds the transaction that makes this job necessary. Returns the row."""
    return _enqueue(conversation.workspace_id, conversation.pk, kind, data)


def enqueue_for_workspace(workspace_id, kind, **data):
    """A job about no single conversation (an offline member's digest: lifecycle.offline_notify)."""
    return _enqueue(workspace_id, None, kind, data)


def _enqueue(workspace_id, conversation_id, kind, data):
    now = timezone.now()
    job = FollowUp.objects.create(workspace_id=workspace_id, conversation_id=conversation_id, kind=kind, data=data,
                                  run_after=now + timedelta(seconds=_config()["GRACE_SECONDS"]))
    if _config()["EAGER"]:
        transaction.on_commit(lambda: _dispatch(job.pk))
    return job


def _dispatch(job_id):
    if _config()["SYNC"]:
        run(job_id, raise_errors=True)
    else:
        # The server's event loop, when the commit happened on one of its request threads: the
        # worker publishes through it, which wakes it at once (helpdesk.realtime._send); without
        # it a publish from the worker waited for the loop's next 100 ms tick.
        _executor.submit(_run_on_worker, job_id, getattr(SyncToAsync.threadlocal, "main_event_loop", None))


def _run_on_worker(job_id, loop=None):
    SyncToAsync.threadlocal.main_event_loop = loop
    close_old_connections()
    try:
        run(job_id)
    finally:
        close_old_connections()
        SyncToAsync.threadlocal.main_event_loop = None


def run(job_id, now=None, *, raise_errors=False):
    """Run one pending job if nobody else has. Returns whether this call applied it."""
    job = FollowUp.objects.filter(pk=job_id, state=FollowUp.State.PENDING).first()
    if job is None:
        return False
    handler = _handlers[job.kind]
    try:
        prepared = handler.prepare(job) if handler.prepare else None
        if handler.leased:
            return _run_leased(job, handler, prepared)
        with transaction.atomic():
            claimed = FollowUp.objects.filter(pk=job.pk, state=FollowUp.State.PENDING).update(
                state=FollowUp.State.DONE, done_at=timezone.now(), attempts=F("attempts") + 1)
            if not claimed:
                return False  # another runner applied it
            handler.apply(job, prepared)
        return True
    except Exception as error:  # recorded on the row and retried: one bad job must not stop the others
        log.exception("follow-up %s (%s) failed", job.pk, job.kind)
        _retry_later(job, error, now)
        if raise_errors:
            raise
        return False


def _run_leased(job, handler, prepared):
    lease = timezone.now() + timedelta(seconds=_config()["LEASE_SECONDS"])
    claimed = FollowUp.objects.filter(pk=job.pk, state=FollowUp.State.PENDING, run_after=job.run_after).update(
        run_after=lease, attempts=F("attempts") + 1)
    if not claimed:
        return False
    job.run_after = lease
    handler.apply(job, prepared)
    FollowUp.objects.filter(pk=job.pk, run_after=lease).update(state=FollowUp.State.DONE, done_at=timezone.now())
    return True


def _retry_later(job, error, now=None):
    attempts = FollowUp.objects.filter(pk=job.pk).values_list("attempts", flat=True).first() or 0
    attempts = max(attempts, job.attempts + 1)
    fields = {"attempts": attempts, "last_error": repr(error)[:300]}
    if attempts >= _config()["MAX_ATTEMPTS"]:
        fields["state"] = FollowUp.State.FAILED
    else:
        fields["run_after"] = (now or timezone.now()) + timedelta(seconds=30 * attempts)
    FollowUp.objects.filter(pk=job.pk, state=FollowUp.State.PENDING).update(**fields)


def due_exists(now=None):
    """A plain indexed read (no transaction): an idle loop turn must not take SQLite's write lock."""
    return FollowUp.objects.filter(state=FollowUp.State.PENDING, run_after__lte=now or timezone.now()).exists()


def run_due(now=None, limit=500, stop=None):
    """Run up to `limit` pending jobs whose run_after has passed (the scheduler loop). Returns how many applied."""
    now = now or timezone.now()
    ids = list(FollowUp.objects.filter(state=FollowUp.State.PENDING, run_after__lte=now).order_by("run_after", "pk")
               .values_list("pk", flat=True)[:limit])
    done = 0
    for job_id in ids:
        if stop is not None and stop.is_set():
            break
        done += run(job_id, now)
    return done


def prune(now=None, keep_days=30, batch=1000):
    """Delete done rows older than keep_days, a batch at a time (failed rows stay for inspection)."""
    cutoff = (now or timezone.now()) - timedelta(days=keep_days)
    ids = list(FollowUp.objects.filter(state=FollowUp.State.DONE, created_at__lt=cutoff).values_list("pk", flat=True)[:batch])
    return FollowUp.objects.filter(pk__in=ids).delete()[0] if ids else 0
