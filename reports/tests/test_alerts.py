"""预警 (issue 18 item 4): a breach opens once (evaluators racing), clears when the condition ends,
each metric against its threshold, the banner shown to the right people only, the push sent once
from the breach row, and one evaluation turn costs the same queries for 3 groups or 30."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat.models import Conversation, PushSubscription, SenderKind
from conftest import make_agent, make_inbox, make_visitor, run_threads, verified_client
from lifecycle import alert_push, push, worker
from reports import alerts
from routing.models import AgentGroup, AlertMetric, ServiceAlertBreach, ServiceAlertRule

from .test_board import make_conversation, message, rated, two_groups

pytestmark = [pytest.mark.engine_db, pytest.mark.django_db(transaction=True)]
T0 = timezone.make_aware(timezone.datetime(2026, 3, 10, 9, 0))


@pytest.fixture
def watched(personas):
    p = two_groups(personas)
    p.rule = ServiceAlertRule.objects.create(group=p.presale, max_wait_seconds=600)
    p.waiting = make_conversation(p.inbox_a, p.visitor.customer_id, T0, group=p.presale, queued_at=T0)
    message(p.waiting, SenderKind.CUSTOMER, T0)
    return p


def open_breaches():
    return list(ServiceAlertBreach.objects.filter(cleared_at__isnull=True).values_list("group__name", "metric", "value", "threshold"))


def test_a_breach_opens_once_and_clears_when_the_wait_ends(watched):
    p = watched
    assert alerts.evaluate(T0 + timedelta(seconds=300)) == (0, 0)
    assert open_breaches() == []
    assert alerts.evaluate(T0 + timedelta(seconds=900)) == (1, 0)
    assert open_breaches() == [("售前组", AlertMetric.LONGEST_WAIT, 900.0, 600.0)]
    assert alerts.evaluate(T0 + timedelta(seconds=960)) == (0, 0)  # still breached: still the one row
    breach = ServiceAlertBreach.objects.get()
    assert breach.opened_at == T0 + timedelta(seconds=900) and breach.push == ServiceAlertBreach.Push.PENDING
    Conversation.objects.filter(pk=p.waiting.pk).update(state="assigned", assignee=p.agent_a_user, queued_at=None)
    assert alerts.evaluate(T0 + timedelta(seconds=1000)) == (0, 1)
    breach.refresh_from_db()
    assert breach.cleared_at == T0 + timedelta(seconds=1000) and open_breaches() == []
    assert alerts.evaluate(T0 + timedelta(seconds=1100)) == (0, 0)
    # Breached again later: a new row in the log; the old one stays as it was.
    Conversation.objects.filter(pk=p.waiting.pk).update(state="queued", assignee=None, queued_at=T0)
    alerts.evaluate(T0 + timedelta(seconds=1200))
    assert ServiceAlertBreach.objects.count() == 2 and len(open_breaches()) == 1


def test_a_disabled_or_emptied_rule_clears_its_breach(watched):
    alerts.evaluate(T0 + timedelta(seconds=900))
    ServiceAlertRule.objects.filter(pk=watched.rule.pk).update(enabled=False)
    assert alerts.evaluate(T0 + timedelta(seconds=950)) == (0, 1)
    ServiceAlertRule.objects.filter(pk=watched.rule.pk).update(enabled=True, max_wait_seconds=None)
    assert alerts.evaluate(T0 + timedelta(seconds=990)) == (0, 0) and open_breaches() == []


def test_evaluators_racing_open_one_breach(watched):
    run_threads(4, lambda i: alerts.evaluate(T0 + timedelta(seconds=900 + i)))
    assert len(open_breaches()) == 1
    # The constraint itself: a second open row for the same group and metric is refused.
    with pytest.raises(IntegrityError), transaction.atomic():
        ServiceAlertBreach.objects.create(workspace=watched.workspace, group=watched.presale, metric=AlertMetric.LONGEST_WAIT,
                                          value=1, threshold=1, opened_at=T0)


def test_every_metric_against_its_threshold(watched):
    p = watched
    ServiceAlertRule.objects.filter(pk=p.rule.pk).update(max_queue_length=1, max_wait_seconds=None, max_first_response_seconds=100,
                                                         max_unanswered=1, min_csat=3.5, min_ratings=2)
    second = make_conversation(p.inbox_a, p.visitor.customer_id, T0, group=p.presale, queued_at=T0)
    message(second, SenderKind.CUSTOMER, T0)
    answered = make_conversation(p.inbox_a, p.visitor.customer_id, T0, group=p.presale, state="resolved",
                                 first_response_at=T0 + timedelta(seconds=150), resolved_at=T0 + timedelta(seconds=200))
    message(answered, SenderKind.CUSTOMER, T0)
    message(answered, SenderKind.AGENT, T0 + timedelta(seconds=150), p.agent_a_user)
    rated(answered, 3, p.agent_a_user, T0 + timedelta(seconds=210))
    now = T0 + timedelta(seconds=300)
    figures = alerts.group_figures([p.presale.pk, p.aftersale.pk], now)
    assert figures[p.presale.pk] == {AlertMetric.QUEUE_LENGTH: 2, AlertMetric.LONGEST_WAIT: 300.0, AlertMetric.UNANSWERED: 2,
                                     AlertMetric.FIRST_RESPONSE: 150.0, AlertMetric.CSAT: 3.0, "ratings": 1}
    assert figures[p.aftersale.pk] == {AlertMetric.QUEUE_LENGTH: 0, AlertMetric.UNANSWERED: 0}
    alerts.evaluate(now)  # one rating only: the satisfaction alert waits for two
    assert sorted(m for _g, m, _v, _t in open_breaches()) == [AlertMetric.FIRST_RESPONSE, AlertMetric.QUEUE_LENGTH, AlertMetric.UNANSWERED]
    rated(second, 4, p.agent_a_user, T0 + timedelta(seconds=220))  # (3 + 4) / 2 = 3.5: not below the floor
    alerts.evaluate(now)
    assert AlertMetric.CSAT not in [m for _g, m, _v, _t in open_breaches()]
    third = make_conversation(p.inbox_a, p.visitor.customer_id, T0, group=p.presale, state="resolved")
    rated(third, 1, p.agent_a_user, T0 + timedelta(seconds=230))
    alerts.evaluate(now)
    assert ("售前组", AlertMetric.CSAT, pytest.approx(2.67), 3.5) in open_breaches()
    # The chats answered (the agent wrote last), the queue emptied: those three clear; the satisfaction alert stays.
    for c in (p.waiting, second):
        message(c, SenderKind.AGENT, now, p.agent_a_user)
    Conversation.objects.filter(pk__in=[p.waiting.pk, second.pk]).update(state="assigned", assignee=p.agent_a_user)
    alerts.evaluate(now + timedelta(hours=2))  # first responses older than an hour no longer count
    assert [m for _g, m, _v, _t in open_breaches()] == [AlertMetric.CSAT]


def test_one_evaluation_turn_costs_the_same_queries_for_3_groups_or_30(personas):
    p = personas

    def add_groups(n):
        for i in range(n):
            group = AgentGroup.objects.create(workspace=p.workspace, name=f"组 {AgentGroup.objects.count()}")
            ServiceAlertRule.objects.create(group=group, max_queue_length=0, max_wait_seconds=60, max_unanswered=5,
                                            max_first_response_seconds=60, min_csat=4)
            user, _actor = make_agent(p.workspace, [p.inbox_a])
            group.members.add(user)
            visitor, _t = make_visitor(make_inbox(p.workspace))
            c = make_conversation(p.inbox_a, visitor.customer_id, T0, group=group, queued_at=T0)
            message(c, SenderKind.CUSTOMER, T0)

    def turn(now):
        with CaptureQueriesContext(connection) as queries:
            alerts.evaluate(now)
        return len(queries)

    add_groups(3)
    opening_few, steady_few = turn(T0 + timedelta(seconds=120)), turn(T0 + timedelta(seconds=130))
    ServiceAlertBreach.objects.all().delete()
    add_groups(27)
    assert turn(T0 + timedelta(seconds=120)) == opening_few
    assert turn(T0 + timedelta(seconds=130)) == steady_few
    assert ServiceAlertBreach.objects.filter(cleared_at__isnull=True).count() == 60  # queue length and wait in each of 30 groups


def test_the_banner_is_shown_to_the_right_people_only(watched):
    p = watched
    alerts.evaluate(T0 + timedelta(seconds=900))
    seen = {}
    for name, user in (("owner", p.owner_user), ("supervisor", p.sup_user), ("agent_a", p.agent_a_user), ("agent_b", p.agent_b_user)):
        client = verified_client(user)
        banner = client.get("/console/board/alerts/").content.decode()
        page = client.get("/console/").content.decode()
        pinned = page[page.index('<section id="service-alerts"'):]
        assert pinned[:pinned.index("</section>") + len("</section>")].strip() == banner.strip()  # the same banner pinned on the console
        seen[name] = 'data-metric="longest_wait"' in banner
    assert seen == {"owner": True, "supervisor": True, "agent_a": True, "agent_b": False}
    assert "hidden" in verified_client(p.agent_b_user).get("/console/board/alerts/").content.decode()
    assert verified_client(p.other_agent_user).get("/console/board/alerts/").content.decode().count("service-alerts__item") == 0
    assert verified_client(p.verifier_user).get("/console/board/alerts/", HTTP_ACCEPT="application/json").status_code == 403
    # A breach of the default group: everyone serving sees it.
    default = AgentGroup.objects.create(workspace=p.workspace, name="默认组", is_default=True)
    ServiceAlertBreach.objects.create(workspace=p.workspace, group=default, metric=AlertMetric.QUEUE_LENGTH, value=9, threshold=5,
                                      opened_at=T0)
    assert "默认组" in verified_client(p.agent_b_user).get("/console/board/alerts/").content.decode()
    # Cleared: the banner is gone for everyone.
    Conversation.objects.filter(pk=p.waiting.pk).update(state="assigned", assignee=p.agent_a_user)
    ServiceAlertBreach.objects.filter(group=default).update(cleared_at=T0)
    alerts.evaluate(T0 + timedelta(seconds=950))
    assert "service-alerts__item" not in verified_client(p.sup_user).get("/console/board/alerts/").content.decode()


def test_transitions_tell_the_workspace_sockets(watched, monkeypatch):
    published = []
    monkeypatch.setattr(alerts.realtime, "publish", lambda deliveries, **kw: published.extend(deliveries))
    alerts.evaluate(T0 + timedelta(seconds=100))
    assert published == []
    alerts.evaluate(T0 + timedelta(seconds=900))
    assert published == [(alerts.alerts_group(watched.workspace.pk), {"type": "alerts.changed"})]


def test_the_push_goes_once_to_supervisors_and_owners(watched, settings, monkeypatch):
    p = watched
    settings.WEB_PUSH = {**settings.WEB_PUSH, "ENABLED": True}
    for user in (p.sup_user, p.owner_user, p.agent_b_user):
        PushSubscription.objects.create(user=user, workspace=p.workspace, endpoint=f"https://fcm.googleapis.com/fcm/send/{user.username}",
                                        p256dh="k", auth="a")
    push.forget_devices_cache()
    delivered = []
    monkeypatch.setattr(push, "_deliver", lambda sid, endpoint, p256dh, auth, data, topic=None: delivered.append((endpoint, data)) or True)
    now = T0 + timedelta(seconds=900)
    with time_machine.travel(now, tick=False):
        alerts.evaluate(now)
        run_threads(3, lambda i: alert_push.send_pending(now))
        alert_push.evaluate_and_push(now + timedelta(seconds=15))
    assert sorted(endpoint.rsplit("/", 1)[1] for endpoint, _d in delivered) == ["owner", "supervisor"]
    assert "售前组" in delivered[0][1].decode()
    assert ServiceAlertBreach.objects.get().push == ServiceAlertBreach.Push.SENT


def test_no_device_no_push(watched, monkeypatch):
    monkeypatch.setattr(push, "_deliver", lambda *a, **k: pytest.fail("nothing to send to"))
    now = T0 + timedelta(seconds=900)
    alerts.evaluate(now)
    assert alert_push.send_pending(now) == 0
    assert ServiceAlertBreach.objects.get().push == ServiceAlertBreach.Push.NONE


def test_the_worker_loop_evaluates_alerts(watched, settings):
    settings.SCHEDULER = {**settings.SCHEDULER, "ALERT_INTERVAL_SECONDS": 15, "BOARD_INTERVAL_SECONDS": 3}
    stats = worker.run_loop(threading.Event(), once=True, sweep_interval=0, kf_interval=0)
    assert stats["alerts"] >= 1  # the breach opened (and its push, with no device, marked not needed)
    assert open_breaches() == [("售前组", AlertMetric.LONGEST_WAIT, pytest.approx(open_breaches()[0][2]), 600.0)]
    assert ServiceAlertBreach.objects.get().push == ServiceAlertBreach.Push.NONE
    settings.SCHEDULER = {**settings.SCHEDULER, "ALERT_INTERVAL_SECONDS": 0, "BOARD_INTERVAL_SECONDS": 0}
    ServiceAlertBreach.objects.all().delete()
    assert worker.run_loop(threading.Event(), once=True, sweep_interval=0, kf_interval=0)["alerts"] == 0  # 0: off
    assert open_breaches() == []
