"""Follow-up jobs: written in the transaction of the message that needs them, applied exactly
once (whoever runs them, however often), retried with backoff, kept visible when they fail."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from chat.models import Conversation, Message, SenderKind
from conftest import run_threads, send
from lifecycle import followups
from lifecycle.models import FollowUp
from replies.models import AutoReplyRule

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("agents_on_duty_but_full")]


@pytest.fixture
def deferred(settings):
    """Jobs are written but nobody runs them at once: as if the process died right after the commit."""
    settings.FOLLOWUPS = {**settings.FOLLOWUPS, "EAGER": False, "SYNC": False}


def bot_lines(conversation_id):
    return list(Message.objects.filter(conversation_id=conversation_id, sender_kind=SenderKind.BOT).values_list("body", flat=True))


def later(seconds=3600):
    return timezone.now() + timedelta(seconds=seconds)


def test_the_job_is_written_with_the_message_and_applied_once(personas, deferred):
    AutoReplyRule.objects.create(workspace=personas.workspace, name="ship", keywords="发货", reply_text="48 小时内发货。")
    message, _ = send(personas.visitor, "什么时候发货")
    [job] = FollowUp.objects.all()
    assert (job.kind, job.state, job.data["message"], job.conversation_id) == ("customer_message", "pending", message.pk, message.conversation_id)
    assert bot_lines(message.conversation_id) == []  # nothing ran yet
    assert not followups.due_exists()  # the committing process gets a grace period to run it itself
    assert followups.run_due(now=later()) == 1
    assert followups.run_due(now=later()) == 0 and followups.run(job.pk) is False  # done: never again
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("done", 1) and job.done_at is not None
    assert bot_lines(message.conversation_id) == ["48 小时内发货。"]


def test_nothing_configured_writes_no_job(personas, deferred):
    send(personas.visitor, "hello")
    assert not FollowUp.objects.exists()  # a workspace without rules, settings or devices pays nothing


@pytest.mark.engine_db
def test_runners_racing_for_one_job_apply_it_once(personas, deferred):
    AutoReplyRule.objects.create(workspace=personas.workspace, name="ship", keywords="发货", reply_text="48 小时内发货。")
    message, _ = send(personas.visitor, "什么时候发货")
    job = FollowUp.objects.get()
    applied = []
    if connection.vendor == "sqlite":
        for _ in range(4):  # SQLite serialises writers: the runners take turns
            applied.append(followups.run(job.pk))
    else:
        run_threads(4, lambda i: applied.append(followups.run(job.pk)))
    assert sorted(applied) == [False, False, False, True]
    assert bot_lines(message.conversation_id) == ["48 小时内发货。"]


def test_a_failing_job_is_retried_with_backoff_then_kept_as_failed(personas, deferred, monkeypatch):
    AutoReplyRule.objects.create(workspace=personas.workspace, name="ship", keywords="发货", reply_text="48 小时内发货。")
    message, _ = send(personas.visitor, "什么时候发货")
    job = FollowUp.objects.get()
    real = followups._handlers[job.kind]

    def broken(job, prepared):
        raise RuntimeError("the answer could not be stored")

    monkeypatch.setitem(followups._handlers, job.kind, followups.Handler(apply=broken, prepare=real.prepare))
    now = later()
    assert followups.run(job.pk, now) is False
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("pending", 1) and job.run_after == now + timedelta(seconds=30)
    assert "could not be stored" in job.last_error
    assert bot_lines(message.conversation_id) == []  # the claim rolled back with the failed answer
    for attempt in range(2, 6):
        followups.run(job.pk, now)
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("failed", 5)
    assert followups.run_due(now=later(10**6)) == 0  # failed jobs wait for a person, not the loop
    monkeypatch.setitem(followups._handlers, job.kind, real)
    assert Message.objects.filter(pk=message.pk).exists()  # the customer's message was never at risk


def test_a_leased_job_whose_runner_died_runs_again_after_the_lease(personas, deferred, settings, monkeypatch):
    calls = []
    monkeypatch.setitem(followups._handlers, "test_leased", followups.Handler(apply=lambda job, prepared: calls.append(job.pk), leased=True))
    conversation = Conversation.objects.create(workspace=personas.workspace, inbox=personas.inbox_a,
                                               customer_id=personas.visitor.customer_id)
    job = FollowUp.objects.create(workspace=personas.workspace, conversation=conversation, kind="test_leased", run_after=timezone.now())
    # A runner took the lease and died before marking the job done:
    lease_end = timezone.now() + timedelta(seconds=settings.FOLLOWUPS["LEASE_SECONDS"])
    FollowUp.objects.filter(pk=job.pk).update(run_after=lease_end, attempts=1)
    assert followups.run_due(now=timezone.now()) == 0  # still leased
    assert followups.run_due(now=lease_end + timedelta(seconds=1)) == 1
    assert calls == [job.pk]
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("done", 2)


def test_prune_keeps_failed_and_recent_jobs(personas, deferred):
    conversation = Conversation.objects.create(workspace=personas.workspace, inbox=personas.inbox_a,
                                               customer_id=personas.visitor.customer_id)
    rows = FollowUp.objects.bulk_create([FollowUp(workspace=personas.workspace, conversation=conversation, kind="push_message",
                                                  run_after=timezone.now(), state=state) for state in ("done", "done", "failed", "pending")])
    FollowUp.objects.filter(pk__in=[rows[0].pk, rows[2].pk, rows[3].pk]).update(created_at=timezone.now() - timedelta(days=31))
    assert followups.prune() == 1
    assert sorted(FollowUp.objects.values_list("state", flat=True)) == ["done", "failed", "pending"]
