"""A customer's plain message is one statement on PostgreSQL (chat.fast_send), two raw statements
in one IMMEDIATE transaction on SQLite, with the general path's guarantees; anything that needs more
takes the general path. Marked engine_db: run on both databases."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chat import fast_send, states
from chat.models import Conversation, ConversationEvent, Inbox, InboxUserPermission, Message, Participant, PushSubscription
from conftest import make_visitor, run_threads, send
from helpdesk.errors import DomainError
from lifecycle import push
from replies import config
from replies.models import AutoReplyRule, ReplySettings, SensitiveWordList

pytestmark = [pytest.mark.engine_db, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("agents_on_duty_but_full")]  # seqs here: no nobody-can-serve line (lifecycle.flow)


def postgres():
    return connection.vendor == "postgresql"


FAST = 1  # PostgreSQL: one statement; SQLite: BEGIN IMMEDIATE, UPDATE … RETURNING, INSERT, COMMIT
FAST_SQLITE = 4


def statements(actor, body, **kwargs):
    with CaptureQueriesContext(connection) as queries:
        message, created = send(actor, body, **kwargs)
    return message, created, len(queries)


@pytest.fixture
def open_chat(personas):
    first, _ = send(personas.visitor, "hello")  # the first message opens the conversation: general path
    return first.conversation_id


def test_a_plain_customer_message_is_one_statement(personas, open_chat):
    message, created, count = statements(personas.visitor, "second")
    assert created and message.seq == 2 and message.conversation_id == open_chat
    assert count == (FAST if postgres() else FAST_SQLITE)
    stored = Message.objects.get(pk=message.pk)
    assert (stored.seq, stored.body, stored.sender_key, stored.client_msg_id) == (2, "second", message.sender_key, message.client_msg_id)
    conversation = Conversation.objects.get(pk=open_chat)
    assert conversation.last_seq == 2 and abs(conversation.last_message_at - stored.created_at) < timedelta(seconds=1)
    named, _created, count = statements(personas.visitor, "third", conversation_id=open_chat)
    assert named.seq == 3 and count == (FAST if postgres() else FAST_SQLITE)


def test_a_repeat_returns_the_original_and_stores_nothing(personas, open_chat):
    message, _created, _count = statements(personas.visitor, "once", client_msg_id="fast-1")
    again, created, _count = statements(personas.visitor, "once", client_msg_id="fast-1")
    assert not created and again.pk == message.pk
    assert Conversation.objects.get(pk=open_chat).last_seq == 2  # no seq taken by the repeat


def test_another_customers_conversation_is_not_reachable(personas, open_chat):
    other_actor, _token = make_visitor(personas.inbox_a)
    with pytest.raises(Exception) as refused:
        send(other_actor, "sneaky", conversation_id=open_chat)
    assert getattr(refused.value, "code", "") == "not_found"
    assert not Message.objects.filter(body="sneaky").exists()


def test_racing_senders_and_repeats_keep_seq_gap_free(personas, open_chat):
    visitors = [personas.visitor] + [make_visitor(personas.inbox_a)[0] for _ in range(2)]
    for visitor in visitors[1:]:
        send(visitor, "first")

    def burst(i):
        visitor = visitors[i % len(visitors)]
        for n in range(10):
            send(visitor, f"m{n}", client_msg_id=f"race-{i % len(visitors)}-{n}")  # two threads per visitor repeat each send

    run_threads(6, burst)
    for conversation in Conversation.objects.filter(workspace=personas.workspace):
        seqs = list(Message.objects.filter(conversation=conversation).order_by("seq").values_list("seq", flat=True))
        assert seqs == list(range(1, conversation.last_seq + 1))
    assert Message.objects.filter(client_msg_id__startswith="race-").count() == 30


def _configured(create):
    """Configure the workspace, then drop the per-process cache the engine asks (quiet_for)."""
    def configure(workspace):
        create(workspace)
        config.invalidate(workspace.pk)
    return configure


# What makes something follow a message in a workspace: a mask list, a keyword rule, reply settings.
WORKSPACE_CONFIGURATION = {
    "word_list": _configured(lambda ws: SensitiveWordList.objects.create(workspace=ws, name="w", words="refund", action="mask")),
    "keyword_rule": _configured(lambda ws: AutoReplyRule.objects.create(workspace=ws, name="refund", keywords="refund",
                                                                       reply_text="See our refund policy.")),
    "reply_settings": _configured(lambda ws: ReplySettings.objects.create(workspace=ws, welcome_message="hi")),
}


@pytest.mark.parametrize("setup", ["word_list", "keyword_rule", "reply_settings", "push_device", "snoozed", "resolved", "bot"])
def test_anything_more_than_a_plain_message_takes_the_general_path(personas, open_chat, setup):
    conversation = Conversation.objects.get(pk=open_chat)
    if setup in WORKSPACE_CONFIGURATION:
        WORKSPACE_CONFIGURATION[setup](personas.workspace)
    elif setup == "push_device":
        PushSubscription.objects.create(user=personas.agent_a_user, workspace=personas.workspace,
                                        endpoint="https://fcm.googleapis.com/fcm/send/x", p256dh="p", auth="a")
        push.forget_devices_cache(personas.workspace.pk)
    elif setup == "snoozed":
        Conversation.objects.filter(pk=open_chat).update(state="pending", snoozed_until=timezone.now() + timedelta(hours=1))
    elif setup == "resolved":
        states.change_state(personas.owner, open_chat, Conversation.State.RESOLVED)
    elif setup == "bot":
        Conversation.objects.filter(pk=open_chat).update(state="bot")
    message, created, count = statements(personas.visitor, "a refund please", conversation_id=open_chat)
    assert created and count > 1  # the general path: a transaction and its side effects
    after = Conversation.objects.get(pk=open_chat)
    if setup == "word_list":
        assert Message.objects.get(pk=message.pk).body == "a ＊＊＊＊＊＊ please"
    if setup == "keyword_rule":
        assert Message.objects.filter(conversation_id=open_chat, body="See our refund policy.").exists()  # the rule answered
    if setup == "snoozed":
        assert after.snoozed_until is None  # the customer's message woke it
    if setup == "resolved":
        assert after.state == Conversation.State.QUEUED  # reopened
    assert message.conversation_id == open_chat and message.seq == conversation.last_seq + 1


# --- an agent's common reply -------------------------------------------------------------------------


FAST_SQLITE_AGENT = 5  # BEGIN, the prior read, UPDATE … RETURNING, INSERT, COMMIT
FIRST_REPLY_SQLITE = 7  # … plus the participant row and the first-response event


@pytest.fixture
def assigned_chat(personas, open_chat):
    Conversation.objects.filter(pk=open_chat).update(assignee=personas.agent_a_user, state="assigned")
    return open_chat


@pytest.fixture
def answered_chat(personas, assigned_chat):
    """The visitor's chat, assigned to agent A, who has answered it once."""
    _first, created = send(personas.agent_a, "您好，请问有什么可以帮您？", conversation_id=assigned_chat)
    assert created and Conversation.objects.get(pk=assigned_chat).first_response_at is not None
    return assigned_chat


def _written_beside(conversation_id):
    """What an agent's reply leaves besides the message: comparable across conversations."""
    conversation = Conversation.objects.get(pk=conversation_id)
    events = list(ConversationEvent.objects.filter(conversation_id=conversation_id, kind="first_response").values_list(
        "actor_kind", "actor_user_id", "actor_customer_id", "from_state", "to_state", "data"))
    return {
        "state": conversation.state, "assignee": conversation.assignee_id, "answered": conversation.first_response_at == conversation.last_message_at,
        "participants": sorted(Participant.objects.filter(conversation_id=conversation_id).values_list("user_id", flat=True)),
        "first_response_events": events,
    }


@pytest.mark.parametrize("held", [True, False], ids=["assignee", "queued_nobody_holds_it"])
def test_the_first_response_is_one_statement_and_writes_what_the_general_path_writes(personas, held, monkeypatch):
    """Two chats, one answered through the one statement, one through the general path (forced):
    the same rows beside the message (first response time and event, the replying agent as participant
    of a chat nobody holds), the same state."""
    chats = []
    for _ in range(2):
        visitor, _token = make_visitor(personas.inbox_a)
        chats.append(send(visitor, "hello")[0].conversation_id)
        if held:
            Conversation.objects.filter(pk=chats[-1]).update(assignee=personas.agent_a_user, state="assigned")
    fast, created, count = statements(personas.agent_a, "您好", conversation_id=chats[0])
    assert created and count == (FAST if postgres() else FIRST_REPLY_SQLITE - held)
    with monkeypatch.context() as forced:
        forced.setattr("chat.fast_send.send", lambda *args, **kwargs: None)
        general, created, general_count = statements(personas.agent_a, "您好", conversation_id=chats[1])
    assert created and general_count > count
    assert _written_beside(chats[0]) == _written_beside(chats[1])
    beside = _written_beside(chats[0])
    assert beside["answered"] and beside["first_response_events"] == [("agent", personas.agent_a_user.pk, None, "", "", {"seq": fast.seq})]
    assert beside["participants"] == ([] if held else [personas.agent_a_user.pk])
    assert beside["state"] == ("assigned" if held else "queued")
    assert (fast.seq, general.seq) == (Conversation.objects.get(pk=chats[0]).last_seq, Conversation.objects.get(pk=chats[1]).last_seq)


def test_the_assignees_later_replies_are_one_statement(personas, answered_chat):
    first_response_at = Conversation.objects.get(pk=answered_chat).first_response_at
    message, created, count = statements(personas.agent_a, "马上为您查询", conversation_id=answered_chat)
    assert created and count == (FAST if postgres() else FAST_SQLITE_AGENT)
    stored = Message.objects.get(pk=message.pk)
    assert (stored.sender_kind, stored.sender_user_id, stored.sender_customer_id, stored.body, stored.is_private) == (
        "agent", personas.agent_a_user.pk, None, "马上为您查询", False)
    after = Conversation.objects.get(pk=answered_chat)
    assert stored.seq == message.seq == after.last_seq and after.first_response_at == first_response_at
    assert ConversationEvent.objects.filter(conversation_id=answered_chat, kind="first_response").count() == 1
    again, created, _count = statements(personas.agent_a, "马上为您查询", conversation_id=answered_chat, client_msg_id=stored.client_msg_id)
    assert not created and again.pk == message.pk
    assert Conversation.objects.get(pk=answered_chat).last_seq == stored.seq  # the repeat took no seq


@pytest.mark.parametrize("who", ["other_workspace", "other_inbox"])
def test_an_agent_cannot_answer_a_waiting_chat_they_do_not_serve(personas, open_chat, who):
    """A waiting chat nobody holds is open to those serving its inbox in its workspace only: another
    workspace's agent and an agent of another inbox get not_found, and nothing is written."""
    actor = personas.other_agent if who == "other_workspace" else personas.agent_b
    with pytest.raises(DomainError) as refused:
        send(actor, "sneaky answer", conversation_id=open_chat)
    assert refused.value.code == "not_found"
    conversation = Conversation.objects.get(pk=open_chat)
    assert conversation.last_seq == 1 and conversation.first_response_at is None
    assert not Message.objects.filter(body="sneaky answer").exists()
    assert not Participant.objects.filter(conversation_id=open_chat).exists()
    assert not ConversationEvent.objects.filter(conversation_id=open_chat, kind="first_response").exists()


def test_two_agents_racing_to_answer_a_queued_chat_record_one_first_response(personas, open_chat):
    """Agent A and the owner (both serve inbox A) answer the same waiting chat at once: one first
    response, both participants, seq gap-free, each message once."""
    def burst(i):
        actor = personas.agent_a if i % 2 else personas.owner
        for n in range(8):
            send(actor, f"{i}-{n}", client_msg_id=f"answer-race-{i % 2}-{n}", conversation_id=open_chat)  # two threads repeat each

    run_threads(4, burst)
    conversation = Conversation.objects.get(pk=open_chat)
    seqs = list(Message.objects.filter(conversation_id=open_chat).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, conversation.last_seq + 1))
    assert Message.objects.filter(client_msg_id__startswith="answer-race-").count() == 16
    events = ConversationEvent.objects.filter(conversation_id=open_chat, kind="first_response")
    assert events.count() == 1 and conversation.first_response_at is not None
    first_answer = Message.objects.filter(conversation_id=open_chat, sender_kind="agent").order_by("seq").first()
    assert events.get().data == {"seq": first_answer.seq} and events.get().actor_user_id == first_answer.sender_user_id
    assert set(Participant.objects.filter(conversation_id=open_chat).values_list("user_id", flat=True)) == {
        personas.agent_a_user.pk, personas.owner_user.pk}


def test_an_agent_and_the_customer_racing_keep_seq_gap_free(personas, answered_chat):
    def burst(i):
        for n in range(10):
            if i % 2:
                send(personas.agent_a, f"a{n}", client_msg_id=f"agent-race-{n}", conversation_id=answered_chat)  # two threads repeat each
            else:
                send(personas.visitor, f"c{n}", client_msg_id=f"customer-race-{n}")

    run_threads(4, burst)
    seqs = list(Message.objects.filter(conversation_id=answered_chat).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, Conversation.objects.get(pk=answered_chat).last_seq + 1))
    assert Message.objects.filter(client_msg_id__contains="-race-").count() == 20


@pytest.mark.parametrize("setup", ["private_note", "not_the_assignee", "no_longer_serves_the_inbox", "word_list", "reply_settings", "channel_inbox",
                                   "pending"])
def test_an_agent_reply_needing_more_takes_the_general_path(personas, answered_chat, setup):
    before = Conversation.objects.get(pk=answered_chat).last_seq
    actor, kwargs = personas.agent_a, {}
    if setup == "private_note":
        kwargs = {"is_private": True}
    elif setup == "not_the_assignee":
        actor = personas.owner  # oversees every chat: replies, and becomes a participant
    elif setup == "no_longer_serves_the_inbox":
        InboxUserPermission.objects.filter(user=personas.agent_a_user, content_object=personas.inbox_a).delete()
    elif setup in WORKSPACE_CONFIGURATION:
        WORKSPACE_CONFIGURATION[setup](personas.workspace)
    elif setup == "channel_inbox":
        Inbox.objects.filter(pk=personas.inbox_a.pk).update(kind=Inbox.Kind.WECHAT_OA)
    elif setup == "pending":
        Conversation.objects.filter(pk=answered_chat).update(state="pending")
    if setup in ("no_longer_serves_the_inbox", "channel_inbox"):
        # Refused by the general path's rules (not visible any more; no WeChat follower to deliver to): nothing stored.
        with pytest.raises(DomainError) as refused:
            send(actor, "a refund, then", conversation_id=answered_chat)
        assert refused.value.code in ("not_found", "channel_user_unknown")
        assert Conversation.objects.get(pk=answered_chat).last_seq == before
        assert not Message.objects.filter(body__contains="refund, then").exists()
        return
    message, created, count = statements(actor, "a refund, then", conversation_id=answered_chat, **kwargs)
    assert created and count > FAST_SQLITE_AGENT and message.seq == before + 1
    if setup == "private_note":
        assert Message.objects.get(pk=message.pk).is_private
    if setup == "not_the_assignee":
        assert Participant.objects.filter(conversation_id=answered_chat, user=personas.owner_user).exists()
    if setup == "word_list":
        assert Message.objects.get(pk=message.pk).body != "a refund, then"  # screened


def _generic_plan(sql, params):
    """EXPLAIN of the statement's generic plan (the one a prepared statement keeps), parameters as $n."""
    names = list(dict.fromkeys(re.findall(r"%\((\w+)\)s", sql)))
    numbered = re.sub(r"%\((\w+)\)s", lambda m: f"${names.index(m.group(1)) + 1}", sql)
    with connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        cursor.execute("PREPARE generic_send AS " + numbered.replace("%", "%%"))
        try:
            cursor.execute("EXPLAIN EXECUTE generic_send(" + ", ".join(["%s"] * len(names)) + ")", [params[n] for n in names])
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE generic_send")
            cursor.execute("RESET plan_cache_mode")


@pytest.mark.postgres_only
@pytest.mark.parametrize("agent", [False, True], ids=["customer", "agent"])
def test_the_statements_generic_plan_finds_a_repeat_through_the_unique_index(personas, answered_chat, agent):
    """psycopg prepares the statement after a few runs on a connection; PostgreSQL then keeps a generic
    plan only if it is good. The repeat check must use the partial unique index on (sender_key,
    client_msg_id) in that plan: where it could not (the index's predicate not provable for a
    parameter), the generic plan scanned chat_message, so PostgreSQL planned the statement again on
    every send (~0.25 ms of its CPU per send on a real table, 40% of the statement)."""
    if not postgres():
        pytest.fail("run with DATABASE_URL=postgres://… (postgres_only)")
    actor = personas.agent_a if agent else personas.visitor
    params = fast_send._params(actor, client_msg_id="plan-1", body="你好", msg_type="text", conversation_id=answered_chat, attachments=[])
    plan = _generic_plan(fast_send._sql(agent), {**params, "open_states": "{queued}", "plain_states": "{queued}"})
    assert "uniq_message_sender_client_id" in plan, plan
    assert "Seq Scan on chat_message" not in plan, plan


@pytest.mark.postgres_only
def test_the_batch_statements_generic_plan_finds_repeats_through_the_unique_index(personas, open_chat):
    """The batch of customers' texts (send_on_loop) repeats the index's predicate too."""
    if not postgres():
        pytest.fail("run with DATABASE_URL=postgres://… (postgres_only)")
    actors = [personas.visitor] + [make_visitor(personas.inbox_a)[0] for _ in range(2)]
    sends = [fast_send._params(actor, client_msg_id=f"plan-{index}", body="你好", msg_type="text", conversation_id=None, attachments=[])
             for index, actor in enumerate(actors)]
    params = fast_send._batch_params(sends, timezone.now())
    plan = _generic_plan(fast_send._batch_sql(3), {**params, "open_states": "{queued}", "plain_states": "{queued}"})
    assert "uniq_message_sender_client_id" in plan, plan
    assert "Seq Scan on chat_message" not in plan, plan
