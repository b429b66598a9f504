"""The WebSocket protocol end to end through the real ASGI app and channel layer."""

import pytest
from channels.db import database_sync_to_async as sync_to_async  # closes its DB connection after use

from chat.models import Message
from chat.tests.wsutil import connect_agent, connect_customer, frames_until, quiet, send_json

pytestmark = [pytest.mark.engine_db, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("agents_on_duty_but_full")]  # seqs here: no nobody-can-serve line (lifecycle.flow)

count_messages = sync_to_async(lambda **kw: Message.objects.filter(**kw).count())


async def test_customer_and_agent_exchange_messages_live(personas):
    customer = await connect_customer(personas.visitor_token)
    hello = customer.hello
    assert hello["type"] == "hello" and hello["role"] == "customer" and hello["heartbeat_interval"] == 25
    agent = await connect_agent(personas.agent_a_user)
    agent_hello = agent.hello
    assert agent_hello["role"] == "agent" and agent_hello["inbox_ids"] == [personas.inbox_a.pk]

    await send_json(customer, {"type": "send", "client_msg_id": "m1", "body": "你好，我的订单没到"})
    ack, _ = await frames_until(customer, "ack")
    assert ack["duplicate"] is False and ack["message"]["seq"] == 1
    live, _ = await frames_until(agent, "message")
    assert live["message"]["body"] == "你好，我的订单没到" and live["message"]["seq"] == 1
    cid = live["message"]["conversation_id"]

    await send_json(agent, {"type": "typing", "conversation_id": cid, "is_typing": True})
    typing, _ = await frames_until(customer, "typing")
    assert typing["sender"]["kind"] == "agent" and typing["is_typing"] is True

    await send_json(agent, {"type": "send", "client_msg_id": "a1", "conversation_id": cid, "body": "马上为您查询"})
    reply, _ = await frames_until(customer, "message")
    assert reply["message"]["seq"] == 2 and reply["message"]["sender"] == {"kind": "agent", "name": "agent_a"}
    assert "is_private" not in reply["message"]

    await send_json(agent, {"type": "send", "client_msg_id": "n1", "conversation_id": cid, "body": "note", "is_private": True})
    await frames_until(agent, "ack")
    assert [f for f in await quiet(customer) if f["type"] == "message"] == []

    await send_json(customer, {"type": "read", "conversation_id": cid, "seq": 2})
    read_ok, _ = await frames_until(customer, "read.ok")
    assert read_ok["seq"] == 2
    read, _ = await frames_until(agent, "read")
    assert read["reader"]["kind"] == "customer" and read["seq"] == 2
    await customer.disconnect()
    await agent.disconnect()


async def test_agent_of_another_inbox_receives_nothing(personas):
    customer = await connect_customer(personas.visitor_token)
    outsider = await connect_agent(personas.agent_b_user)
    await send_json(customer, {"type": "send", "client_msg_id": "x", "body": "secret"})
    await frames_until(customer, "ack")
    assert await quiet(outsider, 0.5) == []
    await customer.disconnect()
    await outsider.disconnect()


async def test_resume_after_disconnect_gets_exactly_the_missed_messages(personas):
    customer = await connect_customer(personas.visitor_token)
    await send_json(customer, {"type": "send", "client_msg_id": "r1", "body": "first"})
    ack, _ = await frames_until(customer, "ack")
    cid = ack["message"]["conversation_id"]
    await customer.disconnect()

    agent = await connect_agent(personas.agent_a_user)
    for n in range(3):
        await send_json(agent, {"type": "send", "client_msg_id": f"r-a{n}", "conversation_id": cid, "body": f"missed {n}"})
        await frames_until(agent, "ack")

    again = await connect_customer(personas.visitor_token)
    hello = again.hello
    assert hello["conversations"][0]["last_seq"] == 4
    await send_json(again, {"type": "resume", "conversation_id": cid, "after_seq": 1, "ref": "r"})
    batch, _ = await frames_until(again, "messages")
    assert [m["seq"] for m in batch["messages"]] == [2, 3, 4]
    assert [m["body"] for m in batch["messages"]] == ["missed 0", "missed 1", "missed 2"]
    assert batch["has_more"] is False and batch["ref"] == "r"
    await again.disconnect()
    await agent.disconnect()


async def test_html_is_stored_and_sent_as_text(personas):
    customer = await connect_customer(personas.visitor_token)
    payload = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    await send_json(customer, {"type": "send", "client_msg_id": "h1", "body": payload})
    ack, _ = await frames_until(customer, "ack")
    assert ack["message"]["body"] == payload  # verbatim text; renderers use textContent / auto-escaping
    stored = await sync_to_async(Message.objects.get)(client_msg_id="h1")
    assert stored.body == payload
    await customer.disconnect()
