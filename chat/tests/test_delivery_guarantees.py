"""Seq assignment, idempotent sends, resume and publish-after-commit.

Marked engine_db: scripts/test.sh runs these on SQLite and again on PostgreSQL."""


import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection, transaction

from chat import messages as chat_messages
from chat import states
from chat.models import ConversationEvent, Message
from conftest import run_threads, send
from helpdesk import realtime

pytestmark = [pytest.mark.engine_db, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("agents_on_duty_but_full")]  # seqs here: no nobody-can-serve line (lifecycle.flow)


def test_concurrent_senders_get_distinct_consecutive_seqs(personas):
    first, _ = send(personas.visitor, "start")
    conversation_id = first.conversation_id
    senders = [personas.visitor, personas.agent_a, personas.owner]
    per_thread = 15

    def burst(i):
        actor = senders[i % len(senders)]
        for n in range(per_thread):
            send(actor, f"t{i}-{n}", client_msg_id=f"burst-{i}-{n}", conversation_id=conversation_id)

    run_threads(6, burst)
    seqs = sorted(Message.objects.filter(conversation_id=conversation_id).values_list("seq", flat=True))
    assert seqs == list(range(1, 6 * per_thread + 2))
    first.conversation.refresh_from_db()
    assert first.conversation.last_seq == len(seqs)


def test_concurrent_retries_of_one_send_store_one_message(personas):
    first, _ = send(personas.visitor, "start")
    results = []

    def retry(_):
        message, created = chat_messages.send_message(
            personas.visitor, client_msg_id="same-id", body="once", conversation_id=first.conversation_id
        )
        results.append((message.pk, created))

    run_threads(8, retry)
    assert len({pk for pk, _ in results}) == 1
    assert sum(1 for _, created in results if created) == 1
    assert Message.objects.filter(conversation_id=first.conversation_id, client_msg_id="same-id").count() == 1
    assert Message.objects.filter(conversation_id=first.conversation_id).count() == 2


def test_retried_send_returns_original_and_stores_nothing(personas):
    original, created = send(personas.visitor, "hi", client_msg_id="c-1")
    count = Message.objects.count()
    again, created_again = send(personas.visitor, "hi (edited by a buggy client)", client_msg_id="c-1")
    assert created and not created_again
    assert again.pk == original.pk and again.seq == original.seq and again.body == "hi"
    assert Message.objects.count() == count


def test_same_client_msg_id_from_another_sender_is_a_new_message(personas):
    original, _ = send(personas.visitor, "hi", client_msg_id="shared")
    reply, created = send(personas.agent_a, "hello", client_msg_id="shared", conversation_id=original.conversation_id)
    assert created and reply.seq == original.seq + 1


def test_resume_returns_exactly_the_missed_messages_in_order(personas):
    first, _ = send(personas.visitor, "m1")
    cid = first.conversation_id
    for n in range(2, 8):
        send(personas.agent_a if n % 2 else personas.visitor, f"m{n}", conversation_id=cid)
    messages, has_more, conversation = chat_messages.fetch_messages(personas.visitor, cid, after_seq=3)
    assert [m.seq for m in messages] == [4, 5, 6, 7]
    assert [m.body for m in messages] == ["m4", "m5", "m6", "m7"]
    assert has_more is False and conversation.last_seq == 7
    page, has_more, _ = chat_messages.fetch_messages(personas.visitor, cid, after_seq=0, limit=3)
    assert [m.seq for m in page] == [1, 2, 3] and has_more is True


def test_customers_never_receive_private_notes_on_resume(personas):
    first, _ = send(personas.visitor, "q")
    send(personas.agent_a, "internal: VIP", conversation_id=first.conversation_id, is_private=True)
    send(personas.agent_a, "answer", conversation_id=first.conversation_id)
    for_customer, _, conversation = chat_messages.fetch_messages(personas.visitor, first.conversation_id)
    for_agent, _, _ = chat_messages.fetch_messages(personas.agent_a, first.conversation_id)
    assert [m.body for m in for_customer] == ["q", "answer"]
    assert [m.body for m in for_agent] == ["q", "internal: VIP", "answer"]
    assert conversation.last_seq == 3  # the customer learns the gap at seq 2 is intentional


def published_while(group, action):
    """Frames the real channel layer delivers to `group` while `action` runs (in a worker thread)."""
    import asyncio

    from asgiref.sync import sync_to_async

    async def listen():
        layer = get_channel_layer()
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        try:
            await sync_to_async(action, thread_sensitive=False)()
            received = []
            while True:
                try:
                    received.append(await asyncio.wait_for(layer.receive(channel), 0.5))
                except asyncio.TimeoutError:
                    return received
        finally:
            await layer.group_discard(group, channel)

    return async_to_sync(listen)()


def test_nothing_is_published_for_a_rolled_back_transaction(personas):
    group = realtime.group_for_inbox(personas.inbox_a.pk)
    holder = {}

    def committed():
        holder["first"], _ = send(personas.visitor, "committed")
        connection.close()

    frames = published_while(group, committed)
    assert any('"body":"committed"' in f["text"] for f in frames), "a committed send must publish"

    class Boom(Exception):
        pass

    def rolled_back():
        try:
            with transaction.atomic():
                send(personas.agent_a, "rolled back", conversation_id=holder["first"].conversation_id)
                raise Boom
        except Boom:
            pass
        finally:
            connection.close()

    assert published_while(group, rolled_back) == []
    assert not Message.objects.filter(body="rolled back").exists()
    holder["first"].conversation.refresh_from_db()
    assert holder["first"].conversation.last_seq == 1  # the seq was not consumed either


def test_every_state_change_writes_an_event(personas):
    first, _ = send(personas.visitor, "hi")
    cid = first.conversation_id
    send(personas.agent_a, "hello", conversation_id=cid)
    states.change_state(personas.agent_a, cid, "resolved")
    send(personas.visitor, "one more thing", conversation_id=cid)  # reopens
    kinds = list(ConversationEvent.objects.filter(conversation_id=cid).values_list("kind", "from_state", "to_state", "actor_kind"))
    assert kinds == [
        ("created", "", "queued", "customer"),
        ("routed", "queued", "queued", "system"),  # nobody online: waits in the default group
        ("first_response", "", "", "agent"),
        ("state_changed", "queued", "resolved", "agent"),
        ("state_changed", "resolved", "queued", "customer"),
    ]
