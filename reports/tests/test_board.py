"""数据看板 (issue 18 item 1): every figure of the board for a known state built on a controlled
clock (across the workspace's midnight: Asia/Shanghai is 8 hours ahead of UTC), per persona
(founder all, supervisor their groups, agent own, verifier nothing, another workspace 404), a
constant number of queries, and the worker's change notices to board sockets."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from guardian.shortcuts import assign_perm

from accounts.models import Role
from chat.models import Conversation, ConversationEvent, Message, Participant, SatisfactionRating, SenderKind
from conftest import make_agent, make_inbox, make_visitor, verified_client
from reports import board
from routing.models import AgentGroup, AgentPresence

pytestmark = [pytest.mark.engine_db, pytest.mark.django_db(transaction=True)]
SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 10, 10, 0, tzinfo=SH)  # 02:00 UTC


def at(hour, minute, day=10):
    return datetime(2026, 3, day, hour, minute, tzinfo=SH)


def make_conversation(inbox, customer_id, created, *, bot=False, **fields):
    with time_machine.travel(created, tick=False):
        conversation = Conversation.objects.create(workspace_id=inbox.workspace_id, inbox=inbox, customer_id=customer_id,
                                                   state=Conversation.State.BOT if bot else Conversation.State.QUEUED)
        ConversationEvent.objects.create(conversation=conversation, kind=ConversationEvent.Kind.CREATED,
                                         to_state=conversation.state, actor_kind=SenderKind.SYSTEM)
    Conversation.objects.filter(pk=conversation.pk).update(**fields)
    return conversation


def message(conversation, kind, when, user=None):
    with time_machine.travel(when, tick=False):
        seq = Message.objects.filter(conversation=conversation).count() + 1
        Message.objects.create(conversation=conversation, seq=seq, sender_kind=kind, sender_user=user,
                               sender_key=f"u:{user.pk}" if user else kind, body=f"{kind} {seq}")
    Conversation.objects.filter(pk=conversation.pk).update(last_seq=seq, last_message_at=when)


def event(conversation, kind, when, **fields):
    with time_machine.travel(when, tick=False):
        ConversationEvent.objects.create(conversation=conversation, kind=kind, actor_kind=SenderKind.SYSTEM, **fields)


def took_part(conversation, user, when):
    with time_machine.travel(when, tick=False):
        Participant.objects.create(conversation=conversation, user=user)


def rated(conversation, rating, agent, when):
    with time_machine.travel(when, tick=False):
        SatisfactionRating.objects.create(conversation=conversation, customer_id=conversation.customer_id, agent=agent, rating=rating)


def two_groups(p):
    """售前组 (agent_a; supervised by `supervisor`) and 售后组 (agent_b), and a verifier."""
    p.presale = AgentGroup.objects.create(workspace=p.workspace, name="售前组")
    p.aftersale = AgentGroup.objects.create(workspace=p.workspace, name="售后组")
    p.presale.members.add(p.agent_a_user)
    p.aftersale.members.add(p.agent_b_user)
    p.sup_user, p.sup = make_agent(p.workspace, [], username="supervisor")
    assign_perm("routing.supervise_group", p.sup_user, p.presale)
    p.verifier_user, _none = make_agent(p.workspace, [], role=Role.VERIFIER, username="verifier")
    return p


@pytest.fixture
def day(personas):
    """A morning in Shop A (docs/reports.md defines each figure)."""
    p = two_groups(personas)
    cid = p.visitor.customer_id
    a, b = p.agent_a_user, p.agent_b_user
    # Yesterday 23:30 local (15:30 UTC, the same UTC day as this morning): resolved at 00:30 today.
    p.c_old = make_conversation(p.inbox_a, cid, at(23, 30, day=9), group=p.presale, state="resolved", assignee=a,
                                first_response_at=at(23, 40, day=9), resolved_at=at(0, 30))
    took_part(p.c_old, a, at(23, 31, day=9))
    message(p.c_old, SenderKind.CUSTOMER, at(23, 30, day=9))
    event(p.c_old, ConversationEvent.Kind.STATE_CHANGED, at(0, 30), from_state="assigned", to_state="resolved")
    # 08:00 answered after 60 s, resolved after 1800 s, rated 5.
    p.c1 = make_conversation(p.inbox_a, cid, at(8, 0), group=p.presale, state="resolved", assignee=a,
                             first_response_at=at(8, 1), resolved_at=at(8, 30))
    took_part(p.c1, a, at(8, 0))
    message(p.c1, SenderKind.CUSTOMER, at(8, 0))
    message(p.c1, SenderKind.AGENT, at(8, 1), a)
    event(p.c1, ConversationEvent.Kind.STATE_CHANGED, at(8, 30), from_state="assigned", to_state="resolved")
    rated(p.c1, 5, a, at(8, 31))
    # 09:00 still queued in 售前组 (an hour at 10:00), 09:30 queued in 售后组 since 09:40.
    p.c2 = make_conversation(p.inbox_a, cid, at(9, 0), group=p.presale, queued_at=at(9, 0))
    message(p.c2, SenderKind.CUSTOMER, at(9, 0))
    p.c3 = make_conversation(p.inbox_b, cid, at(9, 30), group=p.aftersale, queued_at=at(9, 40))
    message(p.c3, SenderKind.CUSTOMER, at(9, 30))
    # 09:10 agent_b answered after 180 s; the customer wrote last.
    p.c4 = make_conversation(p.inbox_b, cid, at(9, 10), group=p.aftersale, state="assigned", assignee=b,
                             first_response_at=at(9, 13))
    took_part(p.c4, b, at(9, 11))
    message(p.c4, SenderKind.CUSTOMER, at(9, 10))
    message(p.c4, SenderKind.AGENT, at(9, 13), b)
    message(p.c4, SenderKind.CUSTOMER, at(9, 20))
    # 09:20 the bot answered and nobody else was needed (deflected).
    p.c5 = make_conversation(p.inbox_a, cid, at(9, 20), bot=True)
    message(p.c5, SenderKind.CUSTOMER, at(9, 20))
    message(p.c5, SenderKind.BOT, at(9, 20))
    event(p.c5, ConversationEvent.Kind.BOT_ANSWERED, at(9, 20))
    # 09:25 bot first, handed to a person at 09:27, agent_a answered at 09:29 (120 s after the hand-off), rated 3.
    p.c6 = make_conversation(p.inbox_a, cid, at(9, 25), bot=True, group=p.presale, state="assigned", assignee=a,
                             first_response_at=at(9, 29))
    event(p.c6, ConversationEvent.Kind.HANDED_OFF, at(9, 27), from_state="bot", to_state="queued")
    took_part(p.c6, a, at(9, 28))
    message(p.c6, SenderKind.CUSTOMER, at(9, 25))
    message(p.c6, SenderKind.AGENT, at(9, 29), a)
    rated(p.c6, 3, a, at(9, 50))
    # 07:00 a left message (留言) nobody has answered.
    p.c7 = make_conversation(p.inbox_b, cid, at(7, 0), state="pending", is_leave_message=True)
    message(p.c7, SenderKind.CUSTOMER, at(7, 0))
    AgentPresence.objects.create(workspace=p.workspace, user=a, status="online", capacity=5, open_chats=1)
    AgentPresence.objects.create(workspace=p.workspace, user=b, status="busy", capacity=3, open_chats=1)
    # Another workspace's busy morning must not show anywhere.
    other = make_conversation(p.other_inbox, p.other_visitor.customer_id, at(9, 0), queued_at=at(8, 0))
    message(other, SenderKind.CUSTOMER, at(9, 0))
    return p


def snapshot(actor):
    return board.snapshot(board.scope_of(actor), NOW)


def test_every_figure_for_the_founder(day):
    figures = snapshot(day.owner)
    assert figures["scope"] == "all"
    assert figures["day_start"] == at(0, 0)
    assert figures["waiting"] == 2 and figures["longest_wait"] == 3600.0
    assert [(r["name"], r["waiting"], r["longest_wait"]) for r in figures["by_group"]] == [("售前组", 1, 3600.0), ("售后组", 1, 1200.0)]
    assert [(r["name"], r["waiting"], r["longest_wait"]) for r in figures["by_inbox"]] == [("Site A", 1, 3600.0), ("App B", 1, 1200.0)]
    assert figures["volume"] == 7  # c1-c7; c_old was yesterday (local), although the same UTC day
    assert figures["first_response"] == {"count": 3, "average": 120.0, "median": 120.0}  # 60, 180, 120 (from the hand-off)
    assert figures["resolution"] == {"count": 2, "average": 2700.0, "median": 2700.0}  # c_old 3600, c1 1800
    assert figures["csat"] == {"count": 2, "average": 4.0, "satisfied": 50.0}
    assert figures["bot"] == {"chats": 2, "deflected": 1, "rate": 50.0}
    assert figures["unanswered"] == 4  # c2, c3, c4 (customer wrote last), c7
    assert figures["left_messages"] == 1
    assert [(a["name"], a["status"], a["open_chats"], a["capacity"], a["served_today"]) for a in figures["agents"]] == [
        ("agent_a", "online", 1, 5, 2), ("agent_b", "busy", 1, 3, 1)]
    assert figures["status_counts"] == {"online": 1, "busy": 1, "away": 0, "offline": 0}


def test_a_supervisor_sees_their_groups(day):
    figures = snapshot(day.sup)
    assert figures["scope"] == "groups"
    assert figures["waiting"] == 1 and figures["longest_wait"] == 3600.0
    assert [r["name"] for r in figures["by_group"]] == ["售前组"]
    assert figures["volume"] == 3  # c1, c2, c6
    assert figures["first_response"] == {"count": 2, "average": 90.0, "median": 90.0}
    assert figures["resolution"] == {"count": 2, "average": 2700.0, "median": 2700.0}
    assert figures["csat"] == {"count": 2, "average": 4.0, "satisfied": 50.0}
    assert figures["bot"] == {"chats": 1, "deflected": 0, "rate": 0.0}
    assert figures["unanswered"] == 1 and figures["left_messages"] == 0
    assert [a["name"] for a in figures["agents"]] == ["agent_a"]


def test_an_agent_sees_their_own_figures(day):
    figures = snapshot(day.agent_b)
    assert figures["scope"] == "own"
    assert figures["waiting"] == 0 and figures["by_group"] == []
    assert figures["volume"] == 1
    assert figures["first_response"] == {"count": 1, "average": 180.0, "median": 180.0}
    assert figures["resolution"] == {"count": 0, "average": None, "median": None}
    assert figures["csat"] == {"count": 0, "average": None, "satisfied": None}
    assert figures["unanswered"] == 1
    assert [(a["name"], a["served_today"]) for a in figures["agents"]] == [("agent_b", 1)]


def test_the_page_per_persona(day):
    with time_machine.travel(NOW, tick=False):
        owner = verified_client(day.owner_user).get("/console/board/")
        assert owner.status_code == 200
        html = owner.content.decode()
        assert "售前组" in html and "售后组" in html and 'data-figure="waiting"' in html
        sup = verified_client(day.sup_user).get("/console/board/?partial=1")
        assert sup.status_code == 200 and "售前组" in sup.content.decode() and "售后组" not in sup.content.decode()
        agent = verified_client(day.agent_a_user).get("/console/board/?partial=1").content.decode()
        assert 'data-scope="own"' in agent and 'data-figure="waiting"' not in agent and "agent_b" not in agent
    verifier = verified_client(day.verifier_user).get("/console/board/")
    assert verifier.status_code == 302 and verifier["Location"].startswith("/verify")  # the verifier's own page, no board
    assert verified_client(day.verifier_user).get("/console/board/?partial=1", HTTP_ACCEPT="application/json").status_code == 403
    other = verified_client(day.other_agent_user).get(f"/console/board/?workspace={day.workspace.pk}")
    assert other.status_code == 404 and "售前组" not in other.content.decode()  # another workspace: as if it did not exist
    reports = verified_client(day.other_agent_user).get(f"/console/reports/?workspace={day.workspace.pk}")
    assert reports.status_code == 404
    assert "售前组" not in verified_client(day.other_agent_user).get("/console/board/").content.decode()


def test_the_board_costs_the_same_queries_for_many_groups_and_agents(day):
    def count():
        with CaptureQueriesContext(connection) as queries:
            snapshot(day.owner)
        return len(queries)

    few = count()
    for n in range(12):
        group = AgentGroup.objects.create(workspace=day.workspace, name=f"组 {n}")
        user, _actor = make_agent(day.workspace, [day.inbox_a], username=f"more_{n}")
        group.members.add(user)
        AgentPresence.objects.create(workspace=day.workspace, user=user, status="online")
        inbox = make_inbox(day.workspace)
        visitor, _t = make_visitor(inbox)
        make_conversation(inbox, visitor.customer_id, at(9, 0), group=group, queued_at=at(9, 0))
    assert count() == few


def test_the_worker_tells_board_sockets_of_changes_only(day, monkeypatch):
    published = []
    monkeypatch.setattr(board.realtime, "publish", lambda deliveries, **kw: published.extend(deliveries))
    watch = board.BoardWatch()
    now = timezone.now()
    assert watch.announce(now) == 0  # the first look sets the watermarks
    assert watch.announce(now) == 0 and published == []
    message(day.c2, SenderKind.CUSTOMER, at(10, 0))
    other = Conversation.objects.filter(workspace=day.other_workspace).first()
    event(other, ConversationEvent.Kind.ASSIGNED, at(10, 0))
    with CaptureQueriesContext(connection) as queries:
        assert watch.announce(now) == 2
    assert len(queries) == 3
    assert sorted(g for g, _e in published) == sorted([board.board_group(day.workspace.pk), board.board_group(day.other_workspace.pk)])
    assert {e["type"] for _g, e in published} == {"board.changed"}
    published.clear()
    assert watch.announce(now) == 0 and published == []
    AgentPresence.objects.filter(user=day.agent_a_user).update(status="away", updated_at=timezone.now())
    assert watch.announce(now) == 1 and published == [(board.board_group(day.workspace.pk), {"type": "board.changed"})]
