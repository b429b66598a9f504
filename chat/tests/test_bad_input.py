"""Bad input gets a clear error, stores nothing, and the connection survives where it should."""

import json

import pytest
from channels.db import database_sync_to_async as sync_to_async  # closes its DB connection after use
from channels.testing import WebsocketCommunicator

from chat.models import Conversation, Message
from chat.tests.wsutil import connect_agent, connect_customer, frame, frames_until, send_json, session_cookie
from helpdesk.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("agents_on_duty_but_full")]  # seqs here: no nobody-can-serve line (lifecycle.flow)

message_count = sync_to_async(Message.objects.count)


async def assert_error(comm, code):
    error, before = await frames_until(comm, "error")
    assert error["code"] == code, error
    assert error["message"]
    return error


async def assert_alive(comm):
    await send_json(comm, {"type": "ping", "ref": "alive"})
    pong, _ = await frames_until(comm, "pong")
    assert pong["ref"] == "alive"


BAD_FRAMES = [
    ("not json at all", "malformed_frame"),
    ("[1, 2, 3]", "malformed_frame"),
    ('{"no_type": true}', "malformed_frame"),
    ('{"type": 42}', "malformed_frame"),
    ('{"type": "launch_missiles"}', "unknown_type"),
    ('{"type": "claim", "conversation_id": 1}', "unknown_type"),  # routing frames are for agents only
    ('{"type": "send", "body": "no id"}', "invalid_client_msg_id"),
    ('{"type": "send", "client_msg_id": "bad id with spaces", "body": "x"}', "invalid_client_msg_id"),
    ('{"type": "send", "client_msg_id": "e1", "body": "   "}', "empty_body"),
    ('{"type": "send", "client_msg_id": "e2", "body": {"html": 1}}', "invalid_body"),
    ('{"type": "send", "client_msg_id": "e3", "body": "x", "msg_type": "card"}', "invalid_type"),
    ('{"type": "send", "client_msg_id": "e4", "body": "x", "is_private": true}', "forbidden"),
    ('{"type": "send", "client_msg_id": "e5", "msg_type": "image", "attachments": [{"url": "javascript:alert(1)"}]}', "invalid_attachments"),
    ('{"type": "send", "client_msg_id": "e6", "body": "x", "conversation_id": "abc"}', "not_found"),
    ('{"type": "resume", "conversation_id": 1, "after_seq": -4}', "invalid_after_seq"),
    ('{"type": "read", "conversation_id": 1, "seq": "ten"}', "invalid_seq"),
]


@pytest.mark.parametrize("raw,code", BAD_FRAMES)
async def test_bad_customer_frames_get_error_and_change_nothing(personas, raw, code):
    customer = await connect_customer(personas.visitor_token)
    await customer.send_to(text_data=raw)
    await assert_error(customer, code)
    assert await message_count() == 0
    await assert_alive(customer)
    await customer.disconnect()


async def test_oversized_body_and_frame_are_refused_with_limits_from_settings(personas, settings):
    settings.CHAT = {**settings.CHAT, "MAX_BODY_CHARS": 100, "MAX_FRAME_BYTES": 2048}
    customer = await connect_customer(personas.visitor_token)
    await send_json(customer, {"type": "send", "client_msg_id": "big", "body": "长" * 101})
    await assert_error(customer, "body_too_long")
    await customer.send_to(text_data=json.dumps({"type": "send", "client_msg_id": "huge", "body": "x" * 5000}))
    await assert_error(customer, "frame_too_large")
    await send_json(customer, {"type": "send", "client_msg_id": "ok", "body": "长" * 100})
    ack, _ = await frames_until(customer, "ack")
    assert ack["message"]["seq"] == 1
    assert await message_count() == 1
    await customer.disconnect()


@pytest.mark.parametrize("token", ["", "garbage", "eyJ3IjoxfQ:forged:signature"])
async def test_wrong_customer_token_is_refused_and_closed(personas, token):
    comm = WebsocketCommunicator(application, f"/ws/customer/?token={token}")
    connected, _ = await comm.connect()
    assert connected
    error = await frame(comm)
    assert error == {"type": "error", "code": "invalid_token", "message": error["message"]}
    closed = await comm.receive_output(timeout=2)
    assert closed == {"type": "websocket.close", "code": 4401}


async def test_agent_socket_needs_a_session_and_our_origin(personas):
    anonymous = WebsocketCommunicator(application, "/ws/agent/", headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")])
    await anonymous.connect()
    assert (await frame(anonymous))["code"] == "unauthenticated"
    cookie = await session_cookie(personas.agent_a_user)
    cross_site = WebsocketCommunicator(
        application, "/ws/agent/", headers=[(b"cookie", f"sessionid={cookie}".encode()), (b"origin", b"https://evil.example")]
    )
    connected, _ = await cross_site.connect()
    assert connected is False  # cross-site WebSocket hijacking refused before the consumer runs


async def test_token_cannot_reach_another_workspaces_conversation(personas):
    """A valid token of workspace Z names a conversation of workspace A: not_found, nothing stored."""
    victim = await connect_customer(personas.visitor_token)
    await send_json(victim, {"type": "send", "client_msg_id": "v1", "body": "private order details"})
    ack, _ = await frames_until(victim, "ack")
    cid = ack["message"]["conversation_id"]

    attacker = await connect_customer(personas.other_visitor_token)
    for bad in (
        {"type": "send", "client_msg_id": "a1", "conversation_id": cid, "body": "hijack"},
        {"type": "resume", "conversation_id": cid, "after_seq": 0},
        {"type": "read", "conversation_id": cid, "seq": 1},
        {"type": "typing", "conversation_id": cid},
    ):
        await send_json(attacker, bad)
        await assert_error(attacker, "not_found")
    assert await message_count() == 1
    await assert_alive(attacker)

    other_agent = await connect_agent(personas.other_agent_user)
    await send_json(other_agent, {"type": "resume", "conversation_id": cid, "after_seq": 0})
    await assert_error(other_agent, "not_found")
    await send_json(other_agent, {"type": "send", "client_msg_id": "z1", "conversation_id": cid, "body": "hi"})
    await assert_error(other_agent, "not_found")
    assert await message_count() == 1
    conversations = await sync_to_async(lambda: list(Conversation.objects.values_list("workspace_id", flat=True)))()
    assert conversations == [personas.workspace.pk]
    for comm in (victim, attacker, other_agent):
        await comm.disconnect()


async def test_customer_of_same_workspace_cannot_read_another_customers_conversation(personas):
    first = await connect_customer(personas.visitor_token)
    await send_json(first, {"type": "send", "client_msg_id": "p1", "body": "mine"})
    ack, _ = await frames_until(first, "ack")
    from conftest import make_visitor

    _, other_token = await sync_to_async(make_visitor)(personas.inbox_a)
    second = await connect_customer(other_token)
    await send_json(second, {"type": "resume", "conversation_id": ack["message"]["conversation_id"], "after_seq": 0})
    await assert_error(second, "not_found")
    await first.disconnect()
    await second.disconnect()
