"""The deadlines of a conversation (chat.timers) on a controlled clock: auto-resolve after
inactivity (lazy: activity postpones it), the rating request, the queue timeout, and a
deadline that fell due while no scheduler ran."""

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

import pytest
from django.utils import timezone
from django.utils.translation import gettext

from chat import ratings, scheduler, states
from chat.models import Conversation, ConversationEvent, Deadline, Message
from conftest import make_visitor, send
from lifecycle import worker
from routing import actions as routing
from routing.models import AgentGroup, AgentPresence

pytestmark = [pytest.mark.engine_db, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("agents_on_duty_but_full")]  # seqs here: no nobody-can-serve line (lifecycle.flow)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=dt_timezone.utc)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(T0, tick=False)

    def at(**delta):
        time_machine.move_to(T0 + timedelta(**delta), tick=False)
        return T0 + timedelta(**delta)

    return at


def new_chat(inbox):
    visitor, _token = make_visitor(inbox)
    message, _ = send(visitor, "hello")
    return Conversation.objects.get(pk=message.conversation_id), visitor


def pending(conversation, kind):
    return Deadline.objects.filter(conversation=conversation, kind=kind, state=Deadline.State.PENDING).first()


def load(user):
    return AgentPresence.objects.get(user=user).open_chats


# --- auto-resolve -----------------------------------------------------------------------------


@pytest.fixture
def auto_resolving(personas):
    personas.inbox_a.auto_resolve_minutes = 30
    personas.inbox_a.save()
    routing.set_status(personas.agent_a, "online", capacity=3)
    return personas


def test_auto_resolve_fires_after_the_quiet_period_writes_the_event_and_frees_the_agent(auto_resolving, clock):
    p = auto_resolving
    chat, _visitor = new_chat(p.inbox_a)
    assert chat.state == "assigned" and chat.assignee_id == p.agent_a_user.pk and load(p.agent_a_user) == 1
    assert pending(chat, "auto_resolve").due_at == T0 + timedelta(minutes=30)

    clock(minutes=29)
    assert worker.fire_due() == 0
    assert Conversation.objects.get(pk=chat.pk).state == "assigned"

    now = clock(minutes=30, seconds=1)
    assert worker.fire_due() == 1
    chat.refresh_from_db()
    assert chat.state == "resolved" and chat.resolved_at == now
    event = ConversationEvent.objects.filter(conversation=chat, kind="state_changed").get()
    assert (event.actor_kind, event.from_state, event.to_state, event.data) == ("system", "assigned", "resolved", {"reason": "inactivity"})
    assert load(p.agent_a_user) == 0
    assert Deadline.objects.get(conversation=chat, kind="auto_resolve").state == "fired"
    # conversation_resolved ran: the rating request is scheduled like after an agent's resolve
    assert pending(chat, "csat_prompt").due_at == now + timedelta(seconds=60)


def test_a_message_postpones_auto_resolve_lazily(auto_resolving, clock):
    p = auto_resolving
    chat, visitor = new_chat(p.inbox_a)
    clock(minutes=20)
    send(visitor, "still there?", conversation_id=chat.pk)
    assert pending(chat, "auto_resolve").due_at == T0 + timedelta(minutes=30)  # messages do not touch the deadline

    clock(minutes=31)
    assert worker.fire_due() == 1  # fired, found activity, moved itself
    assert Conversation.objects.get(pk=chat.pk).state == "assigned"
    rows = list(Deadline.objects.filter(conversation=chat, kind="auto_resolve"))
    assert len(rows) == 1 and rows[0].state == "pending" and rows[0].due_at == T0 + timedelta(minutes=50)

    clock(minutes=49)
    assert worker.fire_due() == 0
    clock(minutes=50, seconds=1)
    assert worker.fire_due() == 1
    assert Conversation.objects.get(pk=chat.pk).state == "resolved"


def test_auto_resolve_leaves_closed_conversations_alone(auto_resolving, clock):
    p = auto_resolving
    resolved_by_agent, _ = new_chat(p.inbox_a)
    closed_behind_its_back, _ = new_chat(p.inbox_a)
    clock(minutes=5)
    states.change_state(p.agent_a, resolved_by_agent.pk, "resolved")
    assert Deadline.objects.get(conversation=resolved_by_agent, kind="auto_resolve").state == "cancelled"
    Conversation.objects.filter(pk=closed_behind_its_back.pk).update(state="closed")  # no hook ran: the deadline is still there
    events_before = ConversationEvent.objects.count()

    clock(hours=2)
    assert worker.fire_due() == 2  # the closed one's auto-resolve, the resolved one's rating request
    assert Conversation.objects.get(pk=closed_behind_its_back.pk).state == "closed"
    assert not ConversationEvent.objects.filter(conversation=closed_behind_its_back).exclude(kind__in=["created", "assigned", "routed"]).exists()
    assert ConversationEvent.objects.count() == events_before + 1  # only the rating request's event
    assert ConversationEvent.objects.filter(conversation=resolved_by_agent, kind="csat_prompted").count() == 1


def test_a_snoozed_conversation_is_resolved_only_a_quiet_period_after_the_snooze(auto_resolving, clock):
    p = auto_resolving
    chat, _ = new_chat(p.inbox_a)
    clock(minutes=10)
    states.snooze(p.agent_a, chat.pk, T0 + timedelta(hours=2))
    clock(minutes=31)
    assert worker.fire_due() == 1
    assert Conversation.objects.get(pk=chat.pk).state == "pending"
    assert pending(chat, "auto_resolve").due_at == T0 + timedelta(hours=2, minutes=30)


# --- rating request -----------------------------------------------------------------------------


def serving_line(personas):
    return gettext("%(name)s is serving you now.") % {"name": "agent_a"}


def test_csat_prompt_is_posted_once(personas, clock):
    routing.set_status(personas.agent_a, "online", capacity=3)
    chat, _ = new_chat(personas.inbox_a)
    states.change_state(personas.agent_a, chat.pk, "resolved")
    assert pending(chat, "csat_prompt").due_at == T0 + timedelta(seconds=60)
    clock(seconds=59)
    assert worker.fire_due() == 0
    clock(seconds=61)
    assert worker.fire_due() == 1
    assert worker.fire_due() == 0
    prompt = gettext("How did we do? Please take a moment to rate this conversation.")
    lines = Message.objects.filter(conversation=chat, sender_kind="system").exclude(body=serving_line(personas))  # the assignment's own line
    assert list(lines.values_list("body", flat=True)) == [prompt]
    assert ConversationEvent.objects.filter(conversation=chat, kind="csat_prompted", actor_kind="system").count() == 1


def test_no_csat_prompt_when_already_rated(personas, clock):
    routing.set_status(personas.agent_a, "online", capacity=3)
    chat, visitor = new_chat(personas.inbox_a)
    states.change_state(personas.agent_a, chat.pk, "resolved")
    ratings.rate_conversation(visitor, chat.pk, 5)
    clock(minutes=5)
    assert worker.fire_due() == 1
    assert not Message.objects.filter(conversation=chat, sender_kind="system").exclude(body=serving_line(personas)).exists()
    assert not ConversationEvent.objects.filter(conversation=chat, kind="csat_prompted").exists()
    assert Deadline.objects.get(conversation=chat, kind="csat_prompt").state == "fired"


def test_no_csat_prompt_when_the_inbox_does_not_ask(personas, clock):
    personas.inbox_a.csat_enabled = False
    personas.inbox_a.save()
    routing.set_status(personas.agent_a, "online", capacity=3)
    chat, _ = new_chat(personas.inbox_a)
    states.change_state(personas.agent_a, chat.pk, "resolved")
    assert not Deadline.objects.filter(conversation=chat, kind="csat_prompt").exists()


# --- queue timeout ----------------------------------------------------------------------------


@pytest.fixture
def pool_group(personas):
    """Chats of inbox A are pooled in a claim-mode group whose only member (agent_a) never
    claims; the owner serves inbox A too but is not in that group."""
    personas.inbox_a.queue_timeout_minutes = 5
    personas.inbox_a.save()
    group = AgentGroup.objects.create(workspace=personas.workspace, name="Pre-sale pool", strategy="claim", priority=1,
                                      rules=[{"field": "inbox", "values": [str(personas.inbox_a.pk)]}])
    group.members.add(personas.agent_a_user)
    routing.set_status(personas.agent_a, "online", capacity=3)
    return group


def test_queue_timeout_reroutes_a_chat_stuck_in_a_group_to_an_agent_outside_it(personas, pool_group, clock):
    chat, _ = new_chat(personas.inbox_a)
    assert (chat.state, chat.group_id, chat.assignee_id) == ("queued", pool_group.pk, None)
    assert pending(chat, "queue_timeout").data == {"group": pool_group.pk}
    routing.set_status(personas.owner, "online", capacity=3)  # outside the group: routing keeps the chat in the pool
    assert Conversation.objects.get(pk=chat.pk).assignee_id is None

    clock(minutes=4)
    assert worker.fire_due() == 0
    clock(minutes=5, seconds=1)
    assert worker.fire_due() == 1
    chat.refresh_from_db()
    default = routing.default_group(personas.workspace.pk)
    assert (chat.state, chat.assignee_id, chat.group_id) == ("assigned", personas.owner_user.pk, default.pk)
    event = ConversationEvent.objects.filter(conversation=chat, kind="state_changed", data__reroute="queue timeout").get()
    assert event.actor_kind == "system" and event.data["from_group"] == pool_group.pk


def test_queue_timeout_does_nothing_once_the_chat_was_taken(personas, pool_group, clock):
    chat, _ = new_chat(personas.inbox_a)
    routing.claim(personas.agent_a, chat.pk)
    clock(minutes=6)
    assert worker.fire_due() == 1
    chat.refresh_from_db()
    assert (chat.state, chat.assignee_id, chat.group_id) == ("assigned", personas.agent_a_user.pk, pool_group.pk)
    assert not ConversationEvent.objects.filter(conversation=chat, data__reroute="queue timeout").exists()


def test_queue_timeout_with_nobody_on_duty_leaves_a_message(personas, pool_group, clock):
    personas.inbox_a.leave_message_when_nobody_online = True
    personas.inbox_a.save()
    chat, _ = new_chat(personas.inbox_a)
    routing.set_status(personas.agent_a, "offline")
    clock(minutes=6)
    assert worker.fire_due() == 1
    chat.refresh_from_db()
    assert chat.state == "pending" and chat.is_leave_message


# --- downtime ---------------------------------------------------------------------------------


def test_a_deadline_due_while_no_scheduler_ran_fires_once_at_the_next_turn(personas, clock):
    routing.set_status(personas.agent_a, "online", capacity=3)
    chats = [new_chat(personas.inbox_a)[0] for _ in range(3)]
    for chat in chats:
        states.change_state(personas.agent_a, chat.pk, "resolved")
    clock(hours=8)  # the server was down all night
    assert scheduler.due_exists()
    assert worker.fire_all_due() == 3
    assert worker.fire_all_due() == 0 and not scheduler.due_exists()
    for chat in chats:
        assert ConversationEvent.objects.filter(conversation=chat, kind="csat_prompted").count() == 1
        assert Deadline.objects.get(conversation=chat, kind="csat_prompt").fired_at == timezone.now()
