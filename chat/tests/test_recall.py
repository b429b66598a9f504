"""Recall: the sender's own message, within the window; the seq stays, the content goes."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chat import messages as chat_messages
from chat.models import ConversationEvent, Message
from chat.tests.wsutil import connect_agent, connect_customer, frames_until, send_json
from helpdesk.errors import DomainError

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("agents_on_duty_but_full")]  # seqs here: no nobody-can-serve line (lifecycle.flow)


async def test_recall_own_message_hides_it_everywhere(personas):
    customer = await connect_customer(personas.visitor_token)
    agent = await connect_agent(personas.agent_a_user)
    await send_json(customer, {"type": "send", "client_msg_id": "oops", "body": "my card number is 1234"})
    ack, _ = await frames_until(customer, "ack")
    await send_json(customer, {"type": "recall", "message_id": ack["message"]["id"], "ref": "r1"})
    ok, _ = await frames_until(customer, "recall.ok")
    assert ok["message"]["recalled"] is True and ok["message"]["body"] == "" and ok["ref"] == "r1"
    updated, _ = await frames_until(agent, "message.updated")
    assert updated["message"] | {"created_at": None} == updated["message"] | {"created_at": None, "recalled": True, "body": ""}
    await send_json(agent, {"type": "recall", "message_id": ack["message"]["id"]})
    error, _ = await frames_until(agent, "error")
    assert error["code"] == "not_found"  # nobody recalls someone else's message
    await customer.disconnect()
    await agent.disconnect()


def test_recall_window_and_event(personas, sender):
    message, _ = sender(personas.visitor, "hello")
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(seconds=121))
    with pytest.raises(DomainError) as exc:
        chat_messages.recall_message(personas.visitor, message.pk)
    assert exc.value.code == "recall_expired"
    fresh, _ = sender(personas.visitor, "typo", conversation_id=message.conversation_id)
    recalled = chat_messages.recall_message(personas.visitor, fresh.pk)
    assert recalled.recalled_at is not None and Message.objects.get(pk=fresh.pk).body == "typo"  # kept for audit, hidden in payloads
    assert ConversationEvent.objects.filter(kind="message_recalled", data__seq=fresh.seq).count() == 1
    messages, _, _ = chat_messages.fetch_messages(personas.agent_a, message.conversation_id)
    assert [m.seq for m in messages] == [1, 2]
