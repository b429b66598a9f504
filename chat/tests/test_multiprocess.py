"""Two real uvicorn processes sharing PostgreSQL and Redis behave as one system."""

import asyncio
import json

import pytest
import websockets
from django.test import Client

from chat.models import Message

pytestmark = [pytest.mark.scaleout, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("agents_on_duty_but_full")]  # seqs here: no nobody-can-serve line

IDLE_SECONDS = 35  # longer than redis-py 8's ~5 s idle close and than a 30 s proxy timeout




async def open_ws(url, headers=None):
    origin = url.split("/ws/")[0].replace("ws://", "http://", 1)  # the agent socket wants this very origin, port included
    ws = await websockets.connect(url, additional_headers=headers or {}, origin=origin)
    hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert hello["type"] == "hello", hello
    return ws


async def next_of(ws, frame_type, timeout=5):
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if frame["type"] == frame_type:
            return frame


async def message_with(ws, client_msg_id, timeout=10):
    """The live message frame for one send (senders also get their own messages: other tabs need them)."""
    while True:
        frame = await next_of(ws, "message", timeout)
        if frame["message"]["client_msg_id"] == client_msg_id:
            return frame["message"]


def agent_cookie(user):
    client = Client()
    client.force_login(user)
    return {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}


def test_customer_and_agent_on_different_processes(personas, two_servers):
    port_a, port_b = two_servers
    cookie = agent_cookie(personas.agent_a_user)

    async def scenario():
        customer = await open_ws(f"ws://127.0.0.1:{port_a}/ws/customer/?token={personas.visitor_token}")
        agent = await open_ws(f"ws://127.0.0.1:{port_b}/ws/agent/", cookie)
        agent_phone = await open_ws(f"ws://127.0.0.1:{port_a}/ws/agent/", cookie)
        customer_tab2 = await open_ws(f"ws://127.0.0.1:{port_b}/ws/customer/?token={personas.visitor_token}")

        await customer.send(json.dumps({"type": "send", "client_msg_id": "c1", "body": "在吗？"}))
        ack = await next_of(customer, "ack")
        cid = ack["message"]["conversation_id"]
        assert (await message_with(agent, "c1"))["body"] == "在吗？"
        assert (await message_with(agent_phone, "c1"))["seq"] == 1
        assert (await message_with(customer_tab2, "c1"))["seq"] == 1

        await agent.send(json.dumps({"type": "send", "client_msg_id": "a1", "conversation_id": cid, "body": "在的"}))
        assert (await message_with(customer, "a1"))["body"] == "在的"
        assert (await message_with(agent_phone, "a1"))["seq"] == 2
        assert (await next_of(agent, "ack"))["message"]["seq"] == 2

        # Concurrent senders on both processes: distinct consecutive seqs.
        async def burst(ws, prefix):
            for n in range(20):
                await ws.send(json.dumps({"type": "send", "client_msg_id": f"{prefix}{n}", "conversation_id": cid, "body": f"{prefix}{n}"}))
            acks = [await next_of(ws, "ack", 15) for _ in range(20)]
            return [a["message"]["seq"] for a in acks]

        seqs = await asyncio.gather(burst(customer, "x"), burst(customer_tab2, "y"), burst(agent, "z"), burst(agent_phone, "w"))
        flat = sorted(s for part in seqs for s in part)
        assert flat == list(range(3, 83))

        # Everyone idles well past the redis-py 8 idle-close window, then traffic must still flow.
        await asyncio.sleep(IDLE_SECONDS)
        await customer.send(json.dumps({"type": "send", "client_msg_id": "late", "body": "still there?"}))
        assert (await message_with(agent, "late"))["seq"] == 83
        await agent.send(json.dumps({"type": "send", "client_msg_id": "late-a", "conversation_id": cid, "body": "yes"}))
        assert (await message_with(customer, "late-a"))["seq"] == 84
        for ws in (customer, agent, agent_phone, customer_tab2):
            await ws.close()
        return cid

    cid = asyncio.run(scenario())
    stored = list(Message.objects.filter(conversation_id=cid).order_by("seq").values_list("seq", flat=True))
    assert stored == list(range(1, 85))


def test_inbox_revocation_reaches_a_socket_on_another_process(personas, two_servers):
    """An admin revokes an agent over REST on process A; the agent's socket on process B stops
    receiving the inbox within a second (through Redis), while a colleague keeps receiving."""
    import time
    import urllib.request

    from accounts import tokens
    from accounts.models import Membership
    from conftest import verified_client

    port_a, port_b = two_servers
    _, key = tokens.issue(Membership.objects.get(user=personas.owner_user), "revoker")
    agent_membership = Membership.objects.get(user=personas.agent_a_user)
    colleague_cookie = {"Cookie": f"sessionid={verified_client(personas.owner_user).cookies['sessionid'].value}"}
    agent_session = agent_cookie(personas.agent_a_user)

    def revoke():
        request = urllib.request.Request(
            f"http://127.0.0.1:{port_a}/api/v1/inboxes/{personas.inbox_a.pk}/members/{agent_membership.pk}",
            data=json.dumps({"granted": False}).encode(), method="PUT",
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status

    async def scenario():
        customer = await open_ws(f"ws://127.0.0.1:{port_a}/ws/customer/?token={personas.visitor_token}")
        agent = await open_ws(f"ws://127.0.0.1:{port_b}/ws/agent/", agent_session)
        colleague = await open_ws(f"ws://127.0.0.1:{port_b}/ws/agent/", colleague_cookie)
        await customer.send(json.dumps({"type": "send", "client_msg_id": "r1", "body": "before"}))
        assert (await message_with(agent, "r1"))["seq"] == 1

        started = time.monotonic()
        assert await asyncio.to_thread(revoke) == 200
        changed = await next_of(agent, "access.changed", timeout=1)
        assert changed["inbox_ids"] == [] and time.monotonic() - started < 1.5

        await customer.send(json.dumps({"type": "send", "client_msg_id": "r2", "body": "after"}))
        assert (await message_with(colleague, "r2"))["seq"] == 2
        with pytest.raises(asyncio.TimeoutError):
            await message_with(agent, "r2", timeout=1)
        for ws in (customer, agent, colleague):
            await ws.close()

    asyncio.run(scenario())
