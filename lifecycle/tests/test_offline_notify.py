"""Nobody misses 留言 (issue 18 item 5): an off-duty member hears of left messages and unanswered
chats by Web Push (a local push service, payload decrypted) and by an e-mail digest (locmem
outbox), at most once per interval, never while on duty or switched off, never of inboxes they
cannot see nor of another workspace; two schedulers racing send once; the settings form."""

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Membership, UserPreferences
from chat.models import Conversation
from chat.tests.test_web_push import Device, PushService, web_push_settings  # noqa: F401 - web_push_settings: autouse here too
from conftest import make_agent, make_visitor, run_threads, send, verified_client
from lifecycle import actions, followups, offline_notify, push, worker
from lifecycle.models import FollowUp, OfflineNotice, OfflineNotifySettings
from routing.models import AgentPresence

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")
START = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai, the workspace's zone


@pytest.fixture
def service():
    s = PushService()
    yield s
    s.close()


@pytest.fixture
def shop(personas, service, settings):
    """Inboxes A and B take left messages; nobody is on duty; the owner (founder: sees the whole
    workspace) is offline with a phone registered and the e-mail digest on, both hourly."""
    settings.SITE_URL = "https://kf.example.com"
    p = personas
    for inbox in (p.inbox_a, p.inbox_b, p.other_inbox):
        inbox.leave_message_when_nobody_online = True
        inbox.save()
    p.owner_user.email = "owner@example.com"
    p.owner_user.save()
    AgentPresence.objects.create(workspace=p.workspace, user=p.owner_user, status="offline")
    p.owner_device = device(service, p.owner_user, p.workspace, "/push/owner")
    p.owner_settings = OfflineNotifySettings.objects.create(membership=membership(p.owner_user, p.workspace), push_interval=60,
                                                            email_enabled=True, email_interval=60)
    return p


def membership(user, workspace):
    return Membership.objects.select_related("user").get(user=user, workspace=workspace)


def device(service, user, workspace, path):
    phone = Device(service.url(path))
    push.subscribe(user, workspace.pk, phone.subscription(), "Mozilla/5.0 test")
    return phone


def leave(inbox, body, capture):
    """A new customer writes while nobody is on duty: routing makes it a left message (after commit)."""
    visitor, _token = make_visitor(inbox)
    with capture(execute=True):
        message, _created = send(visitor, body)
    conversation = Conversation.objects.get(pk=message.conversation_id)
    assert conversation.is_leave_message
    return conversation


def run(capture, now=None):
    """One scheduler pass; the jobs it queued run after its commit, as in the worker."""
    with capture(execute=True):
        return offline_notify.run_due(now)


def pushes(service, phone, path):
    return [phone.decrypt(r["body"]) for r in service.to(path)]


def mails_to(address):
    return [m for m in mail.outbox if m.to == [address]]


@pytest.mark.engine_db  # exactly once and visibility: on PostgreSQL too
def test_three_left_messages_one_push_and_one_email_then_the_next_after_the_interval(shop, service, django_capture_on_commit_callbacks):
    p, capture = shop, django_capture_on_commit_callbacks
    with time_machine.travel(START, tick=False) as clock:
        left = [leave(p.inbox_a, f"留言{i}：请尽快回电\n第二行不显示", capture) for i in range(2)] + [leave(p.inbox_b, "发货了吗", capture)]
        clock.shift(timedelta(seconds=10))
        assert run(capture) == 2  # one push notice, one e-mail notice
        assert run(capture) == 0  # at once again: nothing
        [first_push] = pushes(service, p.owner_device, "/push/owner")
        [first_mail] = mails_to("owner@example.com")
        assert first_push["title"] == "3 位客户在等待回复"
        assert first_push["body"].split("\n") == [f"访客 {c.customer_id}：{line}" for c, line in
                                                  zip(left, ["留言0：请尽快回电", "留言1：请尽快回电", "发货了吗"])]
        assert (first_push["url"], first_push["tag"]) == ("/console/", "offline-digest")

        clock.shift(timedelta(minutes=20))
        fourth = leave(p.inbox_a, "还在吗", capture)
        clock.shift(timedelta(seconds=10))
        assert run(capture) == 0  # within the hour: nothing more
        assert (len(service.to("/push/owner")), len(mails_to("owner@example.com"))) == (1, 1)

        clock.shift(timedelta(minutes=41))  # the hour since the first notice has passed
        assert run(capture) == 2
        second_push = pushes(service, p.owner_device, "/push/owner")[1]
        second_mail = mails_to("owner@example.com")[1]
    assert (second_push["title"], second_push["body"], second_push["url"]) == ("有客户在等待回复", f"访客 {fourth.customer_id}：还在吗",
                                                                               f"/console/c/{fourth.pk}/")
    assert f"/console/c/{fourth.pk}/" in second_mail.body and f"/console/c/{left[0].pk}/" not in second_mail.body
    assert first_mail.subject == "【Shop A】3 位客户在等待回复"
    assert FollowUp.objects.filter(kind__in=["offline_push", "offline_email"], state="done").count() == 4
    assert FollowUp.objects.filter(kind="offline_push").first().conversation_id is None


def test_the_digest_in_simplified_chinese_and_in_english(shop, django_capture_on_commit_callbacks):
    p, capture = shop, django_capture_on_commit_callbacks
    with time_machine.travel(START, tick=False) as clock:
        left = leave(p.inbox_a, "你好，想问下退货\n订单号 123", capture)
        clock.shift(timedelta(seconds=10))
        run(capture)
        UserPreferences.objects.create(user=p.owner_user, language="en")
        clock.shift(timedelta(hours=1))
        later = leave(p.inbox_b, "Where is my parcel?", capture)
        clock.shift(timedelta(seconds=10))
        run(capture)
    zh, en = mails_to("owner@example.com")
    link = f"https://kf.example.com/console/c/{left.pk}/"
    assert zh.subject == "【Shop A】1 位客户在等待回复"
    assert zh.from_email == "helpdesk@localhost"
    for text in (zh.body, zh.alternatives[0][0]):
        assert "owner，您好：" in text
        assert "Shop A 的客户在等待回复（自 2026-12-01 09:00 起）：" in text
        assert f"访客 {left.customer_id}" in text and "你好，想问下退货" in text and "订单号 123" not in text
        assert "留言" in text and "2026-12-01 10:00" in text  # the workspace's time, Asia/Shanghai
        assert link in text
        assert "https://kf.example.com/console/settings/" in text
    assert zh.alternatives[0][1] == "text/html" and f'<a href="{link}">打开会话</a>' in zh.alternatives[0][0]
    assert en.subject == "[Shop A] Waiting for an answer: 1"
    assert "Hello owner," in en.body and "Where is my parcel?" in en.body and f"Visitor {later.customer_id}" in en.body
    assert "Left message" in en.body and "2026-12-01 11:00" in en.body
    assert f"https://kf.example.com/console/c/{later.pk}/" in en.body and '<html lang="en">' in en.alternatives[0][0]


def test_unanswered_chats_count_answered_ones_and_chats_of_others_do_not(shop, service, django_capture_on_commit_callbacks):
    """Someone on duty but busy (capacity 0): chats queue unanswered; one an agent answered, and
    one assigned to another agent, are not the owner's to hear of."""
    p, capture = shop, django_capture_on_commit_callbacks
    AgentPresence.objects.create(workspace=p.workspace, user=p.agent_a_user, status="online", capacity=0)
    with time_machine.travel(START, tick=False) as clock:
        visitors = [make_visitor(p.inbox_a)[0] for _ in range(3)]
        with capture(execute=True):
            queued = [Conversation.objects.get(pk=send(v, f"问题{i}")[0].conversation_id) for i, v in enumerate(visitors)]
        assert {c.state for c in queued} == {"queued"} and not any(c.is_leave_message for c in queued)
        Conversation.objects.filter(pk=queued[1].pk).update(first_response_at=START)  # answered
        Conversation.objects.filter(pk=queued[2].pk).update(assignee=p.agent_a_user, state="assigned")  # agent_a's
        clock.shift(timedelta(seconds=10))
        run(capture)
    [notice] = pushes(service, p.owner_device, "/push/owner")
    assert notice["body"] == f"访客 {queued[0].customer_id}：问题0"
    assert f"/console/c/{queued[0].pk}/" in mails_to("owner@example.com")[0].body


def test_nothing_while_on_duty_and_what_waits_once_off_duty(shop, service, django_capture_on_commit_callbacks):
    p, capture = shop, django_capture_on_commit_callbacks
    with time_machine.travel(START, tick=False) as clock:
        leave(p.inbox_a, "在吗", capture)
        AgentPresence.objects.filter(user=p.owner_user).update(status="away")  # on duty, not taking chats
        clock.shift(timedelta(seconds=10))
        assert run(capture) == 0
        assert (service.requests, mail.outbox) == ([], [])
        assert not OfflineNotice.objects.exists()
        AgentPresence.objects.filter(user=p.owner_user).update(status="offline")
        clock.shift(timedelta(minutes=1))
        assert run(capture) == 2
    assert len(service.to("/push/owner")) == 1 and len(mails_to("owner@example.com")) == 1


def test_back_on_duty_before_the_job_ran_nothing_is_sent(shop, service, django_capture_on_commit_callbacks):
    p, capture = shop, django_capture_on_commit_callbacks
    with time_machine.travel(START, tick=False) as clock:
        leave(p.inbox_a, "在吗", capture)
        clock.shift(timedelta(seconds=10))
        assert offline_notify.run_due() == 2  # claimed; the jobs wait for the commit (not run here)
        AgentPresence.objects.filter(user=p.owner_user).update(status="online")
        clock.shift(timedelta(minutes=1))
        assert followups.run_due() == 2
    assert (service.requests, mail.outbox) == ([], [])


def test_nothing_when_switched_off(shop, service, django_capture_on_commit_callbacks):
    p, capture = shop, django_capture_on_commit_callbacks
    OfflineNotifySettings.objects.filter(pk=p.owner_settings.pk).update(push_enabled=False, email_enabled=False)
    with time_machine.travel(START, tick=False) as clock:
        leave(p.inbox_a, "在吗", capture)
        clock.shift(timedelta(seconds=10))
        assert run(capture) == 0
    assert (service.requests, mail.outbox) == ([], [])


@pytest.mark.engine_db  # exactly once and visibility: on PostgreSQL too
def test_only_inboxes_the_member_may_see_and_never_another_workspace(shop, service, django_capture_on_commit_callbacks):
    """agent_a serves inbox A only (digest on); agent_z is in the other workspace (no settings row:
    the defaults, push on and the digest off). Each hears of their own."""
    p, capture = shop, django_capture_on_commit_callbacks
    phones = {}
    for user, workspace, path in ((p.agent_a_user, p.workspace, "/push/a"), (p.other_agent_user, p.other_workspace, "/push/z")):
        user.email = f"{user.username}@example.com"
        user.save()
        phones[path] = device(service, user, workspace, path)
    OfflineNotifySettings.objects.create(membership=membership(p.agent_a_user, p.workspace), email_enabled=True)
    with time_machine.travel(START, tick=False) as clock:
        in_b = leave(p.inbox_b, "B 的留言", capture)
        clock.shift(timedelta(seconds=10))
        run(capture)
        assert service.to("/push/a") == [] and mails_to("agent_a@example.com") == []  # inbox B is not agent_a's
        clock.shift(timedelta(minutes=30))
        in_z = leave(p.other_inbox, "Zebra 的留言", capture)
        clock.shift(timedelta(seconds=10))
        run(capture)
        clock.shift(timedelta(hours=1))
        in_a = leave(p.inbox_a, "A 的留言", capture)
        clock.shift(timedelta(seconds=10))
        run(capture)
    [to_a] = pushes(service, phones["/push/a"], "/push/a")
    assert to_a["url"] == f"/console/c/{in_a.pk}/"
    [to_z] = pushes(service, phones["/push/z"], "/push/z")
    assert to_z["url"] == f"/console/c/{in_z.pk}/"
    assert mails_to("agent_z@example.com") == []  # the digest is off by default
    assert [m.body.count("/console/c/") for m in mails_to("agent_a@example.com")] == [1]
    owner_mails = mails_to("owner@example.com")
    assert f"/console/c/{in_b.pk}/" in owner_mails[0].body
    assert all(f"/console/c/{in_z.pk}/" not in m.body and "Zebra" not in m.body for m in owner_mails)
    assert all("Zebra" not in r["body"] for r in pushes(service, p.owner_device, "/push/owner"))


@pytest.mark.engine_db  # exactly once and visibility: on PostgreSQL too
def test_two_schedulers_racing_send_once(shop, service, django_capture_on_commit_callbacks, monkeypatch):
    """Scheduler A reads who is due, then scheduler B runs a whole pass before A claims: A's claim
    finds the row moved (first notice: the unique row exists; later: the conditional UPDATE matches nothing)."""
    p, capture = shop, django_capture_on_commit_callbacks
    real = offline_notify.waiting_for
    other_pass = {"armed": True, "queued": []}

    def interleaved(actor, since, until):
        if other_pass["armed"]:
            other_pass["armed"] = False
            other_pass["queued"].append(offline_notify.run_due())  # scheduler B, in between A's read and A's claim
            other_pass["armed"] = True
        return real(actor, since, until)

    monkeypatch.setattr(offline_notify, "waiting_for", interleaved)
    with time_machine.travel(START, tick=False) as clock:
        leave(p.inbox_a, "一", capture)
        clock.shift(timedelta(seconds=10))
        assert run(capture) == 0  # A lost the insert race (push); by its e-mail turn nothing was due any more
        assert other_pass["queued"] == [2]  # B claimed both channels
        clock.shift(timedelta(hours=1))
        leave(p.inbox_a, "二", capture)
        clock.shift(timedelta(seconds=10))
        other_pass["queued"].clear()
        assert run(capture) == 0  # the conditional UPDATE race
        assert other_pass["queued"] == [2]
    assert len(service.to("/push/owner")) == 2 and len(mails_to("owner@example.com")) == 2
    assert FollowUp.objects.filter(kind="offline_email").count() == 2


@pytest.mark.engine_db
@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_scheduler_threads_on_postgresql_send_once(shop, service):
    p = shop
    visitor, _token = make_visitor(p.inbox_a)
    send(visitor, "在吗")  # autocommit: routing ran after the commit
    later = offline_notify.SETTLE_SECONDS + 1
    counts = []
    run_threads(4, lambda _i: counts.append(offline_notify.run_due(datetime.now(UTC) + timedelta(seconds=later))))
    assert sum(counts) == 2
    assert len(service.to("/push/owner")) == 1 and len(mails_to("owner@example.com")) == 1


def test_a_pass_with_nothing_new_is_a_few_queries_whatever_the_members(shop):
    p = shop
    for _ in range(5):
        user, _actor = make_agent(p.workspace, [p.inbox_a])
        user.email = f"{user.username}@example.com"
        user.save()
        OfflineNotifySettings.objects.create(membership=membership(user, p.workspace), email_enabled=True)
    with time_machine.travel(START, tick=False):
        with CaptureQueriesContext(connection) as queries:
            assert offline_notify.run_due() == 0
    # Per channel: the due members, their notice rows, one EXISTS for the workspace.
    assert len(queries) == 6, [q["sql"][:120] for q in queries]


# --- the settings form ------------------------------------------------------------------------


def test_settings_form_saves_and_bad_input_is_a_field_error_with_nothing_saved(personas):
    p = personas
    p.agent_a_user.email = "a@example.com"
    p.agent_a_user.save()
    client = verified_client(p.agent_a_user)
    page = client.get("/console/settings/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'action="/console/settings/offline-notify/"' in html and "离线时通知" in html
    assert 'name="push_enabled" id="id_push_enabled" checked' in html  # the default: push on, e-mail off
    assert 'name="email_enabled" id="id_email_enabled">' in html

    bad = client.post("/console/settings/offline-notify/", {"push_enabled": "on", "push_interval": "7", "email_interval": "60"})
    assert bad.status_code == 400
    html = bad.content.decode()
    assert 'id="id_push_interval" aria-invalid="true"' in html
    assert "选择一个有效的选项" in html and "7" in html
    assert not OfflineNotifySettings.objects.exists()

    empty = client.post("/console/settings/offline-notify/", {})
    assert empty.status_code == 400 and not OfflineNotifySettings.objects.exists()

    good = client.post("/console/settings/offline-notify/", {"email_enabled": "on", "push_interval": "240", "email_interval": "1440"})
    assert good.status_code == 302 and good["Location"] == "/console/settings/?saved=offline#offline-notify"
    row = OfflineNotifySettings.objects.get()
    assert (row.membership.user_id, row.push_enabled, row.push_interval, row.email_enabled, row.email_interval) == (
        p.agent_a_user.pk, False, 240, True, 1440)
    assert "通知设置已保存。" in client.get(good["Location"]).content.decode()


def test_the_digest_needs_an_email_address(personas):
    client = verified_client(personas.agent_b_user)
    response = client.post("/console/settings/offline-notify/", {"email_enabled": "on", "push_interval": "15", "email_interval": "60"})
    assert response.status_code == 400
    assert "您的账号没有电子邮箱地址" in response.content.decode()
    assert not OfflineNotifySettings.objects.exists()


def test_switching_a_channel_on_starts_afresh(shop):
    p = shop
    member = membership(p.owner_user, p.workspace)
    old = START - timedelta(days=7)
    OfflineNotice.objects.create(membership=member, channel="email", covered_until=old, next_allowed_at=old)
    OfflineNotice.objects.create(membership=member, channel="push", covered_until=old, next_allowed_at=old)
    actions.save_offline_notify(member, push_enabled=True, push_interval=60, email_enabled=False, email_interval=60)
    actions.save_offline_notify(member, push_enabled=True, push_interval=60, email_enabled=True, email_interval=60)
    assert list(OfflineNotice.objects.values_list("channel", flat=True)) == ["push"]  # push stayed on: its row stays


@pytest.mark.django_db(transaction=True)  # the loop closes its connection between turns: no test transaction around it
def test_the_worker_loop_runs_the_check(shop, service):
    visitor, _token = make_visitor(shop.inbox_a)
    send(visitor, "在吗")  # autocommit: routing made it a left message after the commit
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=30), tick=False):
        stats = worker.run_loop(threading.Event(), once=True, sweep_interval=0, kf_interval=0)
    assert (stats["offline_notices"], stats["errors"]) == (2, 0)
    assert len(service.to("/push/owner")) == 1 and len(mails_to("owner@example.com")) == 1
