"""A customer's plain text (and an agent's reply in their own chat) over the socket is stored from the event loop on PostgreSQL (chat.fast_send
.send_on_loop through helpdesk.async_db), with no database thread; the same guarantees as every
send: seq without gaps or duplicates under racing senders, idempotent repeats, ack after commit,
published live, throttled by the same limits. Anything else, and a send the loop cannot decide
without a query, goes to a database thread (surfaces.group_commit.store)."""

import asyncio

import psycopg
import pytest
from django.db import connection

from chat import fast_send
from chat import messages as chat_messages
from chat.models import Conversation, ConversationEvent, CustomerBlock, Message, Participant
from chat.tests.wsutil import connect_agent, connect_customer, frames_until, send_json, sync_to_async
from conftest import make_visitor
from helpdesk import async_db
from replies import config
from replies.models import AutoReplyRule
from surfaces import group_commit

pytestmark = [pytest.mark.engine_db, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("agents_on_duty_but_full")]
postgres_only = pytest.mark.postgres_only


@pytest.fixture
def threaded(monkeypatch):
    """The sends that went to a database thread, by client_msg_id."""
    seen, store = [], group_commit.store

    async def counting(send):
        seen.append(send.keywords.get("client_msg_id"))
        return await store(send)

    monkeypatch.setattr(group_commit, "store", counting)
    return seen


async def send_and_ack(comm, client_msg_id, body, **extra):
    await send_json(comm, {"type": "send", "client_msg_id": client_msg_id, "body": body, **extra})
    ack, before = await frames_until(comm, "ack")
    assert not [f for f in before if f["type"] == "error"], before
    assert ack["client_msg_id"] == client_msg_id
    return ack


def stored(**filters):
    return list(Message.objects.filter(**filters).order_by("seq").values_list("seq", "body", "client_msg_id"))


def test_only_postgresql_serves_sends_on_the_loop():
    assert fast_send.serves_loop() is (connection.vendor == "postgresql")


@postgres_only
async def test_a_plain_text_is_stored_on_the_loop_acked_and_published(personas, threaded):
    customer = await connect_customer(personas.visitor_token)
    agent = await connect_agent(personas.agent_a_user)
    first = await send_and_ack(customer, "loop-1", "第一条")  # opens the conversation: a database thread
    assert threaded == ["loop-1"]
    second = await send_and_ack(customer, "loop-2", "第二条")
    assert threaded == ["loop-1"]  # no thread for the second
    assert second["duplicate"] is False and second["message"]["seq"] == 2
    assert second["message"]["conversation_id"] == first["message"]["conversation_id"]
    live, _ = await frames_until(agent, "message")
    live, _ = (live, None) if live["message"]["seq"] == 2 else await frames_until(agent, "message")
    assert live["message"]["body"] == "第二条" and live["message"]["sender"]["kind"] == "customer"
    cid = second["message"]["conversation_id"]
    assert await sync_to_async(stored)(conversation_id=cid) == [(1, "第一条", "loop-1"), (2, "第二条", "loop-2")]
    assert (await sync_to_async(Conversation.objects.get)(pk=cid)).last_seq == 2
    await customer.disconnect()
    await agent.disconnect()


@postgres_only
async def test_an_agents_reply_in_their_own_chat_is_stored_on_the_loop(personas, threaded):
    """A waiting chat answered over the agent's socket: no database thread, the first response and
    the agent's participation written with it, the customer gets it live; a private note (and a
    reply the statement cannot take) goes to a thread."""
    customer = await connect_customer(personas.visitor_token)
    agent = await connect_agent(personas.agent_a_user)
    opened = await send_and_ack(customer, "open-1", "在吗")
    cid = opened["message"]["conversation_id"]
    reply = await send_and_ack(agent, "answer-1", "您好，在的", conversation_id=cid)
    assert threaded == ["open-1"] and reply["duplicate"] is False and reply["message"]["seq"] == 2
    live, _ = await frames_until(customer, "message")
    live, _ = (live, None) if live["message"]["seq"] == 2 else await frames_until(customer, "message")  # after its own line
    assert live["message"]["body"] == "您好，在的" and live["message"]["sender"]["kind"] == "agent"

    def written():
        conversation = Conversation.objects.get(pk=cid)
        events = list(ConversationEvent.objects.filter(conversation_id=cid, kind="first_response").values_list("actor_user_id", "data"))
        return conversation.first_response_at is not None, events, list(Participant.objects.filter(conversation_id=cid).values_list("user_id", flat=True))

    assert await sync_to_async(written)() == (True, [(personas.agent_a_user.pk, {"seq": 2})], [personas.agent_a_user.pk])
    again = await send_and_ack(agent, "answer-1", "您好，在的", conversation_id=cid)
    assert again["duplicate"] is True and again["message"]["id"] == reply["message"]["id"]
    await send_and_ack(agent, "note-1", "先查订单", conversation_id=cid, is_private=True)
    assert threaded == ["open-1", "answer-1", "note-1"]  # the repeat and the note: a thread
    assert await sync_to_async(stored)(conversation_id=cid) == [(1, "在吗", "open-1"), (2, "您好，在的", "answer-1"), (3, "先查订单", "note-1")]
    await customer.disconnect()
    await agent.disconnect()


@postgres_only
async def test_a_repeat_answers_the_original_and_stores_nothing(personas, threaded):
    customer = await connect_customer(personas.visitor_token)
    await send_and_ack(customer, "rep-0", "open")
    original = await send_and_ack(customer, "rep-1", "once")
    again = await send_and_ack(customer, "rep-1", "once")
    assert again["duplicate"] is True and again["message"]["id"] == original["message"]["id"]
    assert threaded == ["rep-0", "rep-1"]  # the repeat found nothing to store on the loop: the thread answered it
    cid = original["message"]["conversation_id"]
    assert await sync_to_async(stored)(conversation_id=cid) == [(1, "open", "rep-0"), (2, "once", "rep-1")]
    await customer.disconnect()


@postgres_only
async def test_racing_sockets_and_repeats_keep_seq_gap_free(personas, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "send_visitor": None, "send_inbox": None, "send_ip": None}  # 96 sends in a second
    visitors = [personas.visitor_token] + [(await sync_to_async(make_visitor)(personas.inbox_a))[1] for _ in range(2)]
    sockets = [await connect_customer(token) for token in visitors for _twice in range(2)]  # two tabs per customer
    for index in range(0, len(sockets), 2):
        await send_and_ack(sockets[index], f"open-{index}", "open")

    async def burst(index):
        acks = []
        for n in range(15):  # both tabs of a customer send the same client ids: every send is repeated
            acks.append(await send_and_ack(sockets[index], f"race-{index // 2}-{n}", f"m{n}"))
        return acks

    results = await asyncio.gather(*(burst(i) for i in range(len(sockets))))
    for pair in range(0, len(sockets), 2):
        left, right = results[pair], results[pair + 1]
        assert [a["message"]["id"] for a in left] == [a["message"]["id"] for a in right]  # one message per client id
        assert sorted(a["duplicate"] for a in left + right) == [False] * 15 + [True] * 15
    conversations = await sync_to_async(lambda: list(Conversation.objects.filter(workspace=personas.workspace)))()
    assert len(conversations) == 3
    for conversation in conversations:
        seqs = await sync_to_async(lambda c=conversation: list(Message.objects.filter(conversation=c).order_by("seq").values_list("seq", flat=True)))()
        assert seqs == list(range(1, 17)) and conversation.last_seq == 16
    for comm in sockets:
        await comm.disconnect()


@postgres_only
async def test_a_workspace_with_rules_or_a_cold_cache_goes_to_a_thread(personas, threaded):
    customer = await connect_customer(personas.visitor_token)
    await send_and_ack(customer, "cold-0", "open")
    config.invalidate()  # what the loop may not load itself
    await send_and_ack(customer, "cold-1", "after a reload")
    await send_and_ack(customer, "cold-2", "warm again")
    assert threaded == ["cold-0", "cold-1"]
    await sync_to_async(AutoReplyRule.objects.create)(workspace=personas.workspace, name="r", keywords="退货", reply_text="请看退货政策")
    await send_and_ack(customer, "rule-1", "我要退货")
    assert threaded[-1] == "rule-1"  # something follows a message here (a keyword reply): the general path
    await customer.disconnect()


@postgres_only
async def test_the_loop_counts_the_same_send_limits(personas, settings, threaded):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "send_visitor": (2, 60)}
    customer = await connect_customer(personas.visitor_token)
    await send_and_ack(customer, "lim-0", "open")
    first = await send_and_ack(customer, "lim-1", "on the loop")
    await send_json(customer, {"type": "send", "client_msg_id": "lim-2", "body": "one too many"})
    refused, _ = await frames_until(customer, "error")
    assert refused["code"] == "rate_limited" and refused["client_msg_id"] == "lim-2"
    again = await send_and_ack(customer, "lim-1", "on the loop")  # a retry of a stored send is still answered
    assert again["duplicate"] is True and again["message"]["id"] == first["message"]["id"]
    cid = first["message"]["conversation_id"]
    assert await sync_to_async(stored)(conversation_id=cid) == [(1, "open", "lim-0"), (2, "on the loop", "lim-1")]
    await customer.disconnect()


@postgres_only
async def test_bad_input_on_the_loop_is_refused_and_stores_nothing(personas):
    customer = await connect_customer(personas.visitor_token)
    opened = await send_and_ack(customer, "bad-0", "open")
    for frame, code in (({"client_msg_id": "bad-1", "body": "   "}, "empty_body"), ({"client_msg_id": "bad id!", "body": "x"}, "invalid_client_msg_id"),
                        ({"client_msg_id": "bad-2", "body": "x" * 6000}, "body_too_long"),
                        ({"client_msg_id": "bad-3", "body": "x", "conversation_id": opened["message"]["conversation_id"] + 999}, "not_found")):
        await send_json(customer, {"type": "send", **frame})
        error, _ = await frames_until(customer, "error")
        assert error["code"] == code
    assert await sync_to_async(stored)(conversation__workspace=personas.workspace) == [(1, "open", "bad-0")]
    await customer.disconnect()


@postgres_only
async def test_a_statement_cancelled_midway_costs_its_connection_not_the_pool():
    task = asyncio.ensure_future(async_db.fetchone("SELECT pg_sleep(5)", {}))
    await asyncio.sleep(0.2)  # let it reach the server
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await async_db.fetchone("SELECT 41 + %(one)s", {"one": 1}) == (42,)


# --- customers' texts stored together (chat.fast_send._Batches) --------------------------------


@pytest.fixture
def batch_sizes(monkeypatch, settings):
    """One batch at a time (so the sends that arrive while it is stored form the next), and the size
    of every batch the loop stored."""
    settings.CHAT = {**settings.CHAT, "LOOP_SEND_BATCHES_IN_FLIGHT": 1}
    sizes, store_batch = [], fast_send._store_batch

    async def counting(sends):
        sizes.append(len(sends))
        return await store_batch(sends)

    monkeypatch.setattr(fast_send, "_store_batch", counting)
    return sizes


def open_chats(inbox, count):
    """`count` customers, each with an open conversation (their first message: the general path)."""
    actors = [make_visitor(inbox)[0] for _ in range(count)]
    for index, actor in enumerate(actors):
        chat_messages.send_message(actor, client_msg_id=f"open-{index}", body="open")
    return actors


def loop_send(actor, client_msg_id, body="together", conversation_id=None):
    return fast_send.send_on_loop(actor, client_msg_id=client_msg_id, body=body, msg_type="text", conversation_id=conversation_id, attachments=[])


@postgres_only
async def test_customers_sending_together_are_stored_by_one_statement(personas, batch_sizes):
    actors = await sync_to_async(open_chats)(personas.inbox_a, 6)
    messages = await asyncio.gather(*(loop_send(actor, f"tog-{i}", f"第{i}条") for i, actor in enumerate(actors)))
    assert batch_sizes == [1, 5]  # the first went alone; the five that came meanwhile, together
    for index, (actor, message) in enumerate(zip(actors, messages)):
        row = await sync_to_async(Message.objects.get)(sender_key=actor.key, client_msg_id=f"tog-{index}")
        assert (message.pk, message.seq, message.body, message.created_at) == (row.pk, 2, f"第{index}条", row.created_at)
        assert message.conversation.last_seq == 2 and message.conversation.customer_id == actor.customer_id
    last = await sync_to_async(lambda: sorted(Conversation.objects.filter(customer_id__in=[a.customer_id for a in actors]).values_list("last_seq", flat=True)))()
    assert last == [2] * 6


@postgres_only
async def test_one_customers_sends_are_never_in_one_batch(personas, batch_sizes):
    """Two tabs of one customer sending at once: one batch each, in the order they came, seq gap-free."""
    first, second = await sync_to_async(open_chats)(personas.inbox_a, 2)
    messages = await asyncio.gather(loop_send(second, "solo"), loop_send(first, "tab-1"), loop_send(first, "tab-2"), loop_send(second, "other"))
    assert batch_sizes == [1, 2, 1]
    assert [m.seq for m in messages] == [2, 2, 3, 3]
    assert await sync_to_async(stored)(conversation_id=messages[1].conversation_id) == [(1, "open", "open-0"), (2, "together", "tab-1"), (3, "together", "tab-2")]


@postgres_only
async def test_a_send_the_batch_does_not_take_is_left_to_the_general_path(personas, batch_sizes):
    """A repeat, another customer's conversation and a blocked customer are absent from the batch's
    result (None: the general path answers them, with the original or the error); the rest are stored."""
    actors = await sync_to_async(open_chats)(personas.inbox_a, 5)
    blocked = actors[4]
    await sync_to_async(CustomerBlock.objects.create)(workspace=personas.workspace, customer_id=blocked.customer_id, reason="spam")
    others_chat = await sync_to_async(lambda: Conversation.objects.get(customer_id=actors[0].customer_id).pk)()
    messages = await asyncio.gather(loop_send(actors[0], "alone"), loop_send(actors[1], "open-1"), loop_send(actors[2], "mine"),
                                    loop_send(actors[3], "theirs", conversation_id=others_chat), loop_send(blocked, "blocked"))
    assert batch_sizes == [1, 4]
    assert [m is None for m in messages] == [False, True, False, True, True]
    assert messages[2].seq == 2
    for actor, expected in zip(actors[1:], ([(1, "open", "open-1")], [(1, "open", "open-2"), (2, "together", "mine")], [(1, "open", "open-3")],
                                            [(1, "open", "open-4")])):
        assert await sync_to_async(stored)(sender_key=actor.key) == expected


@postgres_only
async def test_a_racing_repeat_fails_the_batch_and_each_send_is_stored_alone(personas, batch_sizes):
    """The same client id stored by another connection while the batch waits for that conversation:
    the batch's INSERT meets the unique index and the statement fails whole. Each send is then stored
    alone: the repeat answers None (the general path returns the original), the others are stored once."""
    actors = await sync_to_async(open_chats)(personas.inbox_a, 4)
    racer = actors[1]
    other = await psycopg.AsyncConnection.connect(**async_db._connection_kwargs())  # a transaction of its own
    try:
        params = fast_send._params(racer, client_msg_id="race", body="first", msg_type="text", conversation_id=None, attachments=[])
        await other.execute(fast_send._sql(False), params)
        sending = asyncio.gather(loop_send(actors[0], "first-alone"), loop_send(racer, "race", "second"), loop_send(actors[2], "b"), loop_send(actors[3], "c"))
        async with await psycopg.AsyncConnection.connect(**async_db._connection_kwargs(), autocommit=True) as watcher:
            while not (await (await watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")).fetchone())[0]:
                await asyncio.sleep(0.01)  # until the batch waits for the racer's conversation
        await other.commit()
        messages = await sending
    finally:
        await other.close()
    assert batch_sizes == [1, 3]  # the second failed: its three sends were then stored alone
    assert messages[1] is None
    assert [(m.seq, m.body) for m in (messages[0], messages[2], messages[3])] == [(2, "together"), (2, "together"), (2, "together")]
    assert await sync_to_async(stored)(sender_key=racer.key) == [(1, "open", "open-1"), (2, "first", "race")]
