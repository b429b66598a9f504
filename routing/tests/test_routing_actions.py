"""Routing actions against the real database: assign, queue, drain, claim, re-route."""

import pytest

from chat import messages as chat_messages
from chat import states
from chat.models import Conversation, ConversationEvent
from conftest import make_agent, make_visitor, run_threads, send
from helpdesk.errors import DomainError
from routing import actions
from routing.models import AgentGroup

pytestmark = [pytest.mark.engine_db, pytest.mark.django_db(transaction=True)]


def new_chat(inbox, vip_level=0):
    visitor, _ = make_visitor(inbox)
    message, _ = send(visitor, "hello")
    if vip_level:
        Conversation.objects.filter(pk=message.conversation_id).update(vip_level=vip_level)
    return Conversation.objects.get(pk=message.conversation_id)


def online(actor, capacity=2):
    return actions.set_status(actor, "online", capacity=capacity)


def test_new_conversation_is_assigned_to_the_least_loaded_online_agent(personas):
    online(personas.agent_a, capacity=3)
    online(personas.owner, capacity=3)
    first = new_chat(personas.inbox_a)
    second = new_chat(personas.inbox_a)
    assert {first.assignee_id, second.assignee_id} == {personas.agent_a_user.pk, personas.owner_user.pk}
    assert first.state == second.state == "assigned"
    event = ConversationEvent.objects.filter(conversation=first, kind="assigned").get()
    assert event.data["reason"] == "least_loaded" and event.to_state == "assigned"
    assert AgentGroup.objects.filter(workspace=personas.workspace, is_default=True).count() == 1


def test_nobody_online_queues_then_coming_online_drains_vip_first(personas):
    chats = [new_chat(personas.inbox_a), new_chat(personas.inbox_a), new_chat(personas.inbox_a, vip_level=2)]
    chats = [Conversation.objects.get(pk=c.pk) for c in chats]
    assert all(c.state == "queued" and c.assignee_id is None and c.queued_at for c in chats)
    online(personas.agent_a, capacity=2)
    served = Conversation.objects.filter(assignee=personas.agent_a_user).order_by("pk")
    assert {c.pk for c in served} == {chats[2].pk, chats[0].pk}  # the VIP, then the oldest
    assert Conversation.objects.get(pk=chats[1].pk).state == "queued"
    states.change_state(personas.agent_a, chats[0].pk, "resolved")  # frees a slot: the queue moves
    assert Conversation.objects.get(pk=chats[1].pk).assignee_id == personas.agent_a_user.pk


def test_busy_agents_keep_their_chats_but_get_no_new_ones(personas):
    online(personas.agent_a, capacity=5)
    kept = new_chat(personas.inbox_a)
    actions.set_status(personas.agent_a, "busy")
    waiting = new_chat(personas.inbox_a)
    assert Conversation.objects.get(pk=kept.pk).assignee_id == personas.agent_a_user.pk
    assert Conversation.objects.get(pk=waiting.pk).state == "queued"


def test_going_offline_reroutes_unanswered_chats(personas):
    online(personas.agent_a, capacity=5)
    unanswered = new_chat(personas.inbox_a)
    answered = new_chat(personas.inbox_a)
    send(personas.agent_a, "hi!", conversation_id=answered.pk)
    online(personas.owner, capacity=5)
    actions.set_status(personas.agent_a, "offline")
    assert Conversation.objects.get(pk=unanswered.pk).assignee_id == personas.owner_user.pk
    assert Conversation.objects.get(pk=answered.pk).assignee_id == personas.agent_a_user.pk


def test_claim_race_exactly_one_wins(personas):
    AgentGroup.objects.create(workspace=personas.workspace, name="Pool", is_default=True, strategy="claim")
    online(personas.agent_a, capacity=5)
    online(personas.owner, capacity=5)
    pooled = new_chat(personas.inbox_a)
    assert Conversation.objects.get(pk=pooled.pk).state == "queued"  # claim mode: nobody is assigned
    outcomes = []

    def grab(i):
        actor = [personas.agent_a, personas.owner][i % 2]
        try:
            actions.claim(actor, pooled.pk)
            outcomes.append(("won", actor.user_id))
        except DomainError as exc:
            outcomes.append((exc.code, actor.user_id))

    run_threads(6, grab)
    winners = [who for result, who in outcomes if result == "won"]
    assert len(winners) == 1 and sorted(r for r, _ in outcomes).count("already_taken") == 5
    assert Conversation.objects.get(pk=pooled.pk).assignee_id == winners[0]


def test_concurrent_new_chats_never_exceed_capacity(personas):
    online(personas.agent_a, capacity=3)
    online(personas.owner, capacity=2)
    created = []
    run_threads(12, lambda i: created.append(new_chat(personas.inbox_a).pk))
    load = {u: Conversation.objects.filter(assignee_id=u, state="assigned").count() for u in (personas.agent_a_user.pk, personas.owner_user.pk)}
    assert load == {personas.agent_a_user.pk: 3, personas.owner_user.pk: 2}
    assert Conversation.objects.filter(pk__in=created, state="queued", assignee__isnull=True).count() == 7
    assert ConversationEvent.objects.filter(kind="assigned").count() == 5  # nobody assigned twice


def test_status_and_capacity_are_validated(personas):
    for status, capacity, code in (("sleeping", None, "invalid_status"), ("online", 999, "invalid_capacity"), ("online", -1, "invalid_capacity")):
        with pytest.raises(DomainError) as exc:
            actions.set_status(personas.agent_a, status, capacity=capacity)
        assert exc.value.code == code


async def test_agent_goes_online_and_claims_over_the_websocket(personas):
    from channels.db import database_sync_to_async

    from chat.tests.wsutil import connect_agent, frames_until, send_json

    pooled = await database_sync_to_async(lambda: (AgentGroup.objects.create(workspace=personas.workspace, name="Pool", is_default=True, strategy="claim"), new_chat(personas.inbox_a))[1])()
    agent = await connect_agent(personas.agent_a_user)
    await send_json(agent, {"type": "status", "status": "online", "capacity": 4})
    ok, _ = await frames_until(agent, "status.ok")
    assert (ok["status"], ok["capacity"]) == ("online", 4)
    await send_json(agent, {"type": "claim", "conversation_id": pooled.pk})
    claimed, _ = await frames_until(agent, "claim.ok")
    assert claimed["conversation"]["assignee_id"] == personas.agent_a_user.pk
    await send_json(agent, {"type": "status", "status": "asleep"})
    error, _ = await frames_until(agent, "error")
    assert error["code"] == "invalid_status"
    await agent.disconnect()


def test_transfer_to_an_agent_with_a_note(personas):
    from chat.models import Message

    online(personas.agent_a, capacity=3)
    chat = new_chat(personas.inbox_a)
    assert Conversation.objects.get(pk=chat.pk).assignee_id == personas.agent_a_user.pk
    with pytest.raises(DomainError) as exc:  # the colleague is offline
        actions.transfer(personas.agent_a, chat.pk, to_agent_id=personas.owner_user.pk, note="VIP, refund asked")
    assert exc.value.code == "at_capacity"
    online(personas.owner, capacity=3)
    actions.transfer(personas.agent_a, chat.pk, to_agent_id=personas.owner_user.pk, note="VIP, refund asked")
    chat.refresh_from_db()
    assert chat.assignee_id == personas.owner_user.pk
    lines = list(Message.objects.filter(conversation=chat).order_by("seq").values_list("sender_kind", "is_private", "body"))
    assert lines[-2] == ("agent", True, "VIP, refund asked") and lines[-1][0:2] == ("system", False)
    customer_view, _, _ = chat_messages.fetch_messages(_customer_actor(chat), chat.pk)
    assert "VIP, refund asked" not in [m.body for m in customer_view]
    assert ConversationEvent.objects.filter(conversation=chat, kind="transferred").get().data["note"] == "VIP, refund asked"


def _customer_actor(conversation):
    from chat.access import customer_actor

    return customer_actor(conversation.customer, conversation.inbox_id)


def test_transfer_to_a_group_routes_within_that_group(personas):
    after_sales = AgentGroup.objects.create(workspace=personas.workspace, name="After-sales", priority=1,
                                            rules=[{"field": "tag", "values": ["never"]}])
    after_sales.members.add(personas.owner_user)
    online(personas.agent_a, capacity=3)
    online(personas.owner, capacity=3)
    chat = new_chat(personas.inbox_a)
    first_agent = Conversation.objects.get(pk=chat.pk).assignee_id
    assert first_agent in (personas.agent_a_user.pk, personas.owner_user.pk)
    actor = personas.agent_a if first_agent == personas.agent_a_user.pk else personas.owner
    actions.transfer(actor, chat.pk, to_group_id=after_sales.pk)
    chat.refresh_from_db()
    assert (chat.group_id, chat.assignee_id) == (after_sales.pk, personas.owner_user.pk)
    with pytest.raises(DomainError) as exc:
        actions.transfer(personas.owner, chat.pk, to_group_id=999999)
    assert exc.value.code == "not_found"


def test_familiar_first_gives_a_returning_customer_their_last_agent(personas):
    AgentGroup.objects.create(workspace=personas.workspace, name="Reception", is_default=True, strategy="familiar_first")
    online(personas.agent_a, capacity=5)
    online(personas.owner, capacity=5)
    first = new_chat(personas.inbox_a)
    first.refresh_from_db()
    states.change_state(personas.agent_a if first.assignee_id == personas.agent_a_user.pk else personas.owner, first.pk, "resolved")
    for _ in range(3):  # load the familiar agent more than the other one
        new_chat(personas.inbox_a)
    from chat.access import customer_actor

    again, _ = send(customer_actor(first.customer, personas.inbox_a.pk), "me again", client_msg_id="again")
    assert Conversation.objects.get(pk=again.conversation_id).assignee_id == first.assignee_id


def test_unanswered_chat_times_out_to_another_agent_and_the_first_goes_away(personas, settings):
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from routing.models import AgentPresence

    settings.ROUTING = {**settings.ROUTING, "ANSWER_TIMEOUT_SECONDS": 60}
    personas.inbox_a.answer_timeout_marks_away = True  # the inbox asks for it (default: off)
    personas.inbox_a.save()
    online(personas.agent_a, capacity=5)
    chat = new_chat(personas.inbox_a)
    answered = new_chat(personas.inbox_a)
    send(personas.agent_a, "on it", conversation_id=answered.pk)
    online(personas.owner, capacity=5)
    assert actions.sweep(now=timezone.now() + timedelta(seconds=30)) == {"assigned_from_queue": 0, "timed_out": 0, "woken": 0}
    result = actions.sweep(now=timezone.now() + timedelta(seconds=61))
    assert result["timed_out"] == 1
    assert Conversation.objects.get(pk=chat.pk).assignee_id == personas.owner_user.pk
    assert Conversation.objects.get(pk=answered.pk).assignee_id == personas.agent_a_user.pk  # answered chats stay
    assert AgentPresence.objects.get(user=personas.agent_a_user).status == "away"
    assert ConversationEvent.objects.filter(conversation=chat, kind="state_changed", data__reroute="answer timeout").count() == 1
    call_command("routing_sweep", "--once")  # the command runs the same sweep


def test_by_default_an_unanswered_chat_is_rerouted_and_the_agent_stays_online(personas, settings):
    """Phone-first agents (issue 19, item 8): the chat goes to someone else, the agent is not set away."""
    from datetime import timedelta

    from django.utils import timezone

    from chat.models import Inbox
    from routing.models import AgentPresence

    settings.ROUTING = {**settings.ROUTING, "ANSWER_TIMEOUT_SECONDS": 60}
    assert Inbox.objects.get(pk=personas.inbox_a.pk).answer_timeout_marks_away is False
    online(personas.agent_a, capacity=5)
    chat = new_chat(personas.inbox_a)
    assert Conversation.objects.get(pk=chat.pk).assignee_id == personas.agent_a_user.pk
    online(personas.owner, capacity=5)
    assert actions.sweep(now=timezone.now() + timedelta(seconds=61))["timed_out"] == 1
    assert Conversation.objects.get(pk=chat.pk).assignee_id == personas.owner_user.pk
    assert AgentPresence.objects.get(user=personas.agent_a_user).status == "online"
    event = ConversationEvent.objects.get(conversation=chat, kind="state_changed", data__reroute="answer timeout")
    assert (event.from_state, event.to_state, event.data["agent"]) == ("assigned", "queued", personas.agent_a_user.pk)
    assert ConversationEvent.objects.filter(conversation=chat, kind="assigned").order_by("-pk").first().data.get("reason") != "transfer"
    # Still on duty: agent_a is offered the next chat (the owner is as loaded as they are).
    Conversation.objects.filter(pk=chat.pk).update(state="resolved")
    actions.recount_loads()
    assert new_chat(personas.inbox_a).assignee_id in {personas.agent_a_user.pk, personas.owner_user.pk}
    assert AgentPresence.objects.get(user=personas.agent_a_user).status == "online"


def test_the_inbox_admin_offers_the_away_choice_translated(personas):
    from django.utils import translation

    from chat.admin import InboxForm

    with translation.override("zh-hans"):
        form = InboxForm(instance=personas.inbox_a)
        field = form.fields["answer_timeout_marks_away"]
        assert (str(field.label), field.initial) == ("客服超时未回复时设为离开", False)
        assert "设为离开" in str(field.help_text)


def test_sweep_drains_what_an_event_missed(personas):
    from routing.models import AgentPresence

    chat = new_chat(personas.inbox_a)
    # an agent made available without the status action (e.g. a capacity change by SQL): only the sweep notices
    AgentPresence.objects.create(workspace=personas.workspace, user=personas.agent_a_user, status="online", capacity=1)
    assert Conversation.objects.get(pk=chat.pk).state == "queued"
    assert actions.sweep()["assigned_from_queue"] == 1
    assert Conversation.objects.get(pk=chat.pk).assignee_id == personas.agent_a_user.pk


def test_outside_business_hours_the_customer_leaves_a_message(personas):
    from chat.models import Message

    personas.inbox_a.business_hours = {"timezone": "Asia/Shanghai", "weekly": {}, "holidays": []}
    personas.inbox_a.business_hours["weekly"] = {"mon": [["00:00", "00:01"]]}  # effectively closed
    personas.inbox_a.save()
    online(personas.agent_a, capacity=5)
    chat = new_chat(personas.inbox_a)
    chat.refresh_from_db()
    assert (chat.state, chat.is_leave_message, chat.assignee_id) == ("pending", True, None)
    last = Message.objects.filter(conversation=chat).order_by("-seq").first()
    # One line for the situation, from the assistant, offering the contact form (lifecycle.flow).
    assert last.sender_kind == "bot" and not last.is_private and [a.get("choice") for a in last.attachments] == ["contact"]
    assert [c.pk for c in states.conversations_for(personas.agent_a, leave_message=True)] == [chat.pk]
    actions.claim(personas.agent_a, chat.pk)  # an agent takes it from the leave-a-message list
    assert Conversation.objects.get(pk=chat.pk).assignee_id == personas.agent_a_user.pk


def test_nobody_online_leaves_a_message_when_the_inbox_says_so(personas):
    personas.inbox_a.leave_message_when_nobody_online = True
    personas.inbox_a.save()
    chat = new_chat(personas.inbox_a)
    assert Conversation.objects.get(pk=chat.pk).is_leave_message is True
    personas.inbox_a.leave_message_when_nobody_online = False
    personas.inbox_a.save()
    assert Conversation.objects.get(pk=new_chat(personas.inbox_a).pk).state == "queued"


def test_open_chat_counters_follow_assign_release_and_repair_themselves(personas):
    from routing.models import AgentPresence

    def counter(user):
        return AgentPresence.objects.get(user=user).open_chats

    def exact(user):
        return Conversation.objects.filter(assignee=user, state__in=Conversation.OPEN_STATES).count()

    online(personas.agent_a, capacity=5)
    chats = [new_chat(personas.inbox_a) for _ in range(3)]
    assert counter(personas.agent_a_user) == exact(personas.agent_a_user) == 3
    states.change_state(personas.agent_a, chats[0].pk, "resolved")
    states.change_state(personas.agent_a, chats[1].pk, "pending")  # still open: still counted
    assert counter(personas.agent_a_user) == exact(personas.agent_a_user) == 2
    online(personas.owner, capacity=5)
    actions.transfer(personas.agent_a, chats[2].pk, to_agent_id=personas.owner_user.pk)
    assert (counter(personas.agent_a_user), counter(personas.owner_user)) == (1, 1)
    AgentPresence.objects.filter(user=personas.agent_a_user).update(open_chats=40)  # drift (e.g. a manual SQL fix)
    actions.recount_loads()
    assert counter(personas.agent_a_user) == exact(personas.agent_a_user) == 1


def test_losing_every_race_for_a_slot_still_queues_the_chat(personas):
    """Stale load counters make every agent look free; each lock finds them full. However many agents
    that takes, the chat must end up queued in a group (a fixed retry budget once left it unqueued)."""
    from routing.models import AgentPresence

    users = []
    for n in range(7):
        user, actor = make_agent(personas.workspace, [personas.inbox_a], username=f"full{n}")
        online(actor, capacity=1)
        new_chat(personas.inbox_a)
        users.append(user)
    assert Conversation.objects.filter(assignee__in=users, state="assigned").count() == 7
    AgentPresence.objects.filter(user__in=users).update(open_chats=0)  # every counter says "free"
    chat = Conversation.objects.get(pk=new_chat(personas.inbox_a).pk)
    assert chat.state == "queued" and chat.assignee_id is None
    assert chat.queued_at is not None and chat.group_id is not None
    assert ConversationEvent.objects.filter(conversation=chat, kind="routed", data__routing="queue").count() == 1
    assert set(AgentPresence.objects.filter(user__in=users).values_list("open_chats", flat=True)) == {1}  # repaired under lock


def test_an_agent_keeps_a_chat_they_transferred_in_their_own_history(personas):
    """Own history is the conversations an agent took part in, not only those assigned to them now."""
    colleague_user, colleague = make_agent(personas.workspace, [personas.inbox_a], username="colleague")
    _, bystander = make_agent(personas.workspace, [personas.inbox_a], username="bystander")
    online(personas.agent_a, capacity=3)
    chat = new_chat(personas.inbox_a)
    assert Conversation.objects.get(pk=chat.pk).assignee_id == personas.agent_a_user.pk
    send(personas.agent_a, "I will check that for you", conversation_id=chat.pk)
    online(colleague, capacity=3)
    actions.transfer(personas.agent_a, chat.pk, to_agent_id=colleague_user.pk)
    assert Conversation.objects.get(pk=chat.pk).assignee_id == colleague_user.pk
    assert chat.pk in [c.pk for c in states.conversations_for(personas.agent_a)]  # still in A's own history
    assert chat.pk in [c.pk for c in states.conversations_for(colleague)]
    assert chat.pk not in [c.pk for c in states.conversations_for(bystander)]  # never took part: not theirs
    history, _more, _conversation = chat_messages.fetch_messages(personas.agent_a, chat.pk)
    assert "I will check that for you" in [m.body for m in history]
    with pytest.raises(DomainError) as refused:  # the history, not the word: the colleague answers now
        send(personas.agent_a, "still there?", conversation_id=chat.pk)
    assert refused.value.status == 403
