"""Consumer hygiene (issue 14, findings 9 and 6): a client that leaves mid-send costs no ERROR
log and no write after the close; `internal` errors name the send they refuse; nesting that
would exhaust the parser's stack is a malformed frame and the socket stays open."""

import asyncio
import logging
import threading

import pytest
from channels.db import database_sync_to_async as sync_to_async  # closes its DB connection after use
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels.testing import WebsocketCommunicator
from uvicorn.protocols.utils import ClientDisconnected

from chat import messages as chat_messages
from chat.models import Message
from chat.tests.wsutil import connect_agent, connect_customer, frame, frames_until, send_json
from helpdesk.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True)]

count_messages = sync_to_async(lambda **kw: Message.objects.filter(**kw).count())


class LikeUvicorn:
    """The app as uvicorn serves it. Once the peer has gone, a send raises ClientDisconnected;
    after a close has gone out (the app's own, or uvicorn's on a keep-alive timeout) a send raises
    uvicorn's RuntimeError. The in-memory test communicator would otherwise accept anything."""

    def __init__(self, app):
        self.app = app
        self.gone = False
        self.close_sent = False
        self.sends_after_gone = 0
        self.sends_after_close = 0

    async def __call__(self, scope, receive, send):
        async def guarded(message):
            if self.gone:
                self.sends_after_gone += 1
                raise ClientDisconnected()
            if self.close_sent:
                self.sends_after_close += 1
                raise RuntimeError(f"Unexpected ASGI message '{message['type']}', after sending 'websocket.close'.")
            if message["type"] == "websocket.close":
                self.close_sent = True
            await send(message)

        return await self.app(scope, receive, guarded)


def errors_logged(caplog):
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.fixture
def held_send(monkeypatch):
    """send_message blocks (on its database thread) until the test releases it."""
    entered, release = threading.Event(), threading.Event()
    real = chat_messages.send_message

    def held(*args, **kwargs):
        entered.set()
        assert release.wait(10)
        return real(*args, **kwargs)

    monkeypatch.setattr(chat_messages, "send_message", held)
    yield entered, release
    release.set()


@pytest.mark.parametrize("how", ["peer_gone", "close_already_sent"])
async def test_client_leaving_mid_send_is_quiet_and_nothing_is_written_after(personas, held_send, caplog, how):
    entered, release = held_send
    app = LikeUvicorn(application)
    comm = WebsocketCommunicator(app, f"/ws/customer/?token={personas.visitor_token}")
    assert (await comm.connect())[0]
    assert (await frame(comm))["type"] == "hello"
    caplog.set_level(logging.DEBUG)

    await send_json(comm, {"type": "send", "client_msg_id": "leaving-1", "body": "bye", "ref": "r1"})
    assert await asyncio.to_thread(entered.wait, 5)
    if how == "peer_gone":
        app.gone = True  # the client vanished while the message was being stored
    else:
        app.close_sent = True  # uvicorn closed it meanwhile (keep-alive ping timeout)
    await comm.send_input({"type": "websocket.disconnect", "code": 1006})
    release.set()
    await comm.wait(timeout=5)  # re-raises anything the consumer let escape

    # The message is stored (the client resends and gets duplicate: true); the ack was the one
    # attempt to write, and nothing (no `internal` error frame) was tried after it failed.
    assert await count_messages(client_msg_id="leaving-1") == 1
    assert app.sends_after_gone + app.sends_after_close == 1
    assert errors_logged(caplog) == []


async def test_no_frame_is_sent_after_the_server_closed_the_socket(personas, monkeypatch):
    """After the consumer's own close (a session that no longer holds), events still arriving
    from the channel layer before the disconnect are dropped, not written to the closed socket."""
    from django.contrib.sessions.models import Session

    from chat.tests.wsutil import session_cookie
    from surfaces import consumers

    monkeypatch.setattr(consumers.AgentConsumer, "SESSION_RECHECK_SECONDS", 0, raising=False)
    relayed = asyncio.Event()
    relay = consumers.AgentConsumer.relay

    async def observed_relay(self, event):
        await relay(self, event)
        relayed.set()

    monkeypatch.setattr(consumers.AgentConsumer, "relay", observed_relay)
    cookie = await session_cookie(personas.agent_a_user)
    app = LikeUvicorn(application)
    agent = WebsocketCommunicator(app, "/ws/agent/", headers=[(b"cookie", f"sessionid={cookie}".encode()),
                                                             (b"origin", b"http://localhost"), (b"host", b"localhost")])
    assert (await agent.connect())[0]
    assert (await frame(agent))["type"] == "hello"
    await sync_to_async(Session.objects.filter(session_key=cookie).delete)()  # logged out elsewhere, no broadcast
    await send_json(agent, {"type": "ping", "ref": "p"})
    error = await frame(agent)
    assert error["code"] == "unauthenticated"
    assert await agent.receive_output(timeout=2) == {"type": "websocket.close", "code": 4401}

    customer = await connect_customer(personas.visitor_token)
    await send_json(customer, {"type": "send", "client_msg_id": "late", "body": "after the close"})
    await frames_until(customer, "ack")
    await asyncio.wait_for(relayed.wait(), 5)  # the closed socket's consumer has handled the live message
    await agent.send_input({"type": "websocket.disconnect", "code": 4401})
    await agent.wait(timeout=5)
    assert app.sends_after_close == 0
    await customer.disconnect()


async def test_internal_error_names_the_send_so_the_client_can_retry(personas, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(chat_messages, "send_message", broken)
    comm = await connect_customer(personas.visitor_token)
    await send_json(comm, {"type": "send", "client_msg_id": "retry-me", "body": "hi", "ref": 7})
    error, _ = await frames_until(comm, "error")
    assert error["code"] == "internal" and error["client_msg_id"] == "retry-me" and error["ref"] == 7
    await send_json(comm, {"type": "ping", "ref": "alive"})
    assert (await frames_until(comm, "pong"))[0]["ref"] == "alive"
    await comm.disconnect()


@pytest.mark.parametrize("text", ["[" * 60000, '{"a":' * 12000, '{"type": "send", "body": ' + "[" * 5000 + "]" * 5000 + "}"])
async def test_deep_nesting_is_a_malformed_frame_and_the_socket_stays(personas, text):
    for comm in (await connect_customer(personas.visitor_token), await connect_agent(personas.agent_a_user)):
        await comm.send_to(text_data=text)
        error, _ = await frames_until(comm, "error")
        assert error["code"] == "malformed_frame" and error["message"]
        await send_json(comm, {"type": "ping", "ref": "still-here"})
        assert (await frames_until(comm, "pong"))[0]["ref"] == "still-here"
        await comm.disconnect()




class LayerFailingOnOneGroup(InMemoryChannelLayer):
    """The in-memory layer, refusing group_add/group_discard for the inbox groups as Redis does while
    it restarts (the connection error a real pub/sub layer raises)."""

    failing = "inbox"

    async def group_add(self, group, channel):
        if self.failing in group and getattr(self, "fail_add", False):
            raise ConnectionError("layer down")
        return await super().group_add(group, channel)

    async def group_discard(self, group, channel):
        if self.failing in group:
            raise ConnectionError("layer down")
        return await super().group_discard(group, channel)


async def test_leaving_groups_goes_on_past_a_layer_failure(personas, settings, caplog):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": f"{__name__}.LayerFailingOnOneGroup"}}
    agent = await connect_agent(personas.agent_a_user)
    layer = get_channel_layer()
    joined = {group for group, channels in layer.groups.items() if channels}
    assert any("inbox" in g for g in joined) and any("inbox" not in g for g in joined)
    with caplog.at_level(logging.WARNING, logger="surfaces.consumers"):
        await agent.disconnect()
    still = {group for group, channels in layer.groups.items() if channels}
    assert still and all("inbox" in g for g in still)  # only the groups the layer refused to leave
    assert any("not left" in r.getMessage() for r in caplog.records)


async def test_a_socket_is_refused_with_1011_when_joining_its_groups_fails(personas, settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": f"{__name__}.LayerFailingOnOneGroup"}}
    layer = get_channel_layer()
    layer.fail_add, layer.failing = True, ""  # every group refused
    comm = WebsocketCommunicator(application, f"/ws/customer/?token={personas.visitor_token}")
    connected, code = await comm.connect(timeout=10)
    assert connected is False and code == 1011
