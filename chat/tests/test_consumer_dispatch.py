"""Issue 15: frames and relayed group events are dispatched on the event loop. channels'
AsyncConsumer.dispatch hops to a thread (aclose_old_connections) before every handler; ours
(surfaces.consumers.ChatConsumer.dispatch) does not, and a frame goes to a thread only for the
database work it does. Marked engine_db: runs on SQLite + in-memory layer and on PostgreSQL + Redis."""

import channels.consumer
import pytest
from asgiref.sync import SyncToAsync
from channels.layers import get_channel_layer

from chat import group_commit
from chat.tests.wsutil import connect_agent, connect_customer, frame, send_json
from helpdesk import realtime

pytestmark = [pytest.mark.engine_db, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def hops(monkeypatch):
    """(functions run through sync_to_async / database_sync_to_async, calls of channels'
    aclose_old_connections), recorded from now on."""
    ran, closes = [], []
    real_call = SyncToAsync.__call__

    async def recorded_call(self, *args, **kwargs):
        ran.append(getattr(self.func, "__qualname__", repr(self.func)))
        return await real_call(self, *args, **kwargs)

    async def recorded_close():  # stands in for channels' hop; base dispatch would call it
        closes.append(True)

    monkeypatch.setattr(SyncToAsync, "__call__", recorded_call)
    monkeypatch.setattr(channels.consumer, "aclose_old_connections", recorded_close)
    return ran, closes


async def frames_until_all(comm, wanted):
    """Frames until one of each type in `wanted` has arrived (any order); {type: first frame}."""
    seen = {}
    while not set(wanted) <= set(seen):
        f = await frame(comm)
        seen.setdefault(f["type"], f)
    return seen


async def test_ping_and_relayed_events_take_no_thread_hop(personas, hops):
    ran, closes = hops
    customer = await connect_customer(personas.visitor_token)
    agent = await connect_agent(personas.agent_a_user)
    ran.clear()

    await send_json(customer, {"type": "ping", "ref": "p1"})
    assert await frame(customer) == {"type": "pong", "ref": "p1"}
    await send_json(agent, {"type": "ping", "ref": "p2"})
    assert await frame(agent) == {"type": "pong", "ref": "p2"}
    layer = get_channel_layer()
    await layer.group_send(realtime.group_for_customer(personas.visitor.customer_id), {"type": "relay", "text": '{"type":"x","n":1}'})
    await layer.group_send(realtime.group_for_inbox(personas.inbox_a.pk), {"type": "relay", "text": '{"type":"x","n":2}'})
    assert await frame(customer) == {"type": "x", "n": 1}
    assert await frame(agent) == {"type": "x", "n": 2}

    assert ran == [] and closes == []
    await customer.disconnect()
    await agent.disconnect()


async def test_a_send_hops_once_for_its_database_work_and_its_fan_out_none(personas, hops):
    ran, closes = hops
    customer = await connect_customer(personas.visitor_token)
    agent = await connect_agent(personas.agent_a_user)
    ran.clear()

    await send_json(customer, {"type": "send", "client_msg_id": "hop-1", "body": "no detour", "ref": "s1"})
    seen = await frames_until_all(customer, {"ack", "message"})  # the ack, and the echo to the customer's own group
    assert seen["ack"]["message"]["body"] == "no detour"
    assert seen["message"]["message"]["body"] == "no detour"
    relayed = await frames_until_all(agent, {"message"})
    assert relayed["message"]["message"]["seq"] == seen["ack"]["message"]["seq"]

    # One thread for the send's group (throttle + store + commit, surfaces.group_commit); the publish
    # after the commit and the relays to both sockets stay on the event loop.
    assert ran == [group_commit.store_together.__qualname__]
    assert closes == []
    await customer.disconnect()
    await agent.disconnect()
