"""Helpers for driving the real ASGI application in-process over WebSocket."""

import json

from channels.db import database_sync_to_async as sync_to_async  # closes its DB connection after use
from channels.testing import WebsocketCommunicator
from django.test import Client

from helpdesk.asgi import application


async def connect_customer(token, path="/ws/customer/"):
    comm = WebsocketCommunicator(application, f"{path}?token={token}")
    connected, _ = await comm.connect()
    assert connected
    comm.hello = await frame(comm)
    assert comm.hello["type"] == "hello", comm.hello
    return comm


@sync_to_async
def session_cookie(user, verified=True):
    """A session id for `user`; verified=True also passes the TOTP step where the user needs it."""
    if verified:
        from conftest import verified_client

        return verified_client(user).cookies["sessionid"].value
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


async def connect_agent(user, origin="http://localhost"):
    cookie = await session_cookie(user)
    # A browser's Host and Origin: the agent socket accepts only its own origin (helpdesk/asgi.py).
    headers = [(b"cookie", f"sessionid={cookie}".encode()), (b"origin", origin.encode()), (b"host", origin.split("://", 1)[1].encode())]
    comm = WebsocketCommunicator(application, "/ws/agent/", headers=headers)
    connected, _ = await comm.connect()
    assert connected
    comm.hello = await frame(comm)
    assert comm.hello["type"] == "hello", comm.hello
    return comm


async def frame(comm, timeout=3):
    return json.loads(await comm.receive_from(timeout=timeout))


async def frames_until(comm, frame_type, timeout=3):
    """Read frames until one of frame_type arrives; return (that frame, the ones before it)."""
    seen = []
    while True:
        f = await frame(comm, timeout)
        if f["type"] == frame_type:
            return f, seen
        seen.append(f)


async def quiet(comm, wait=0.3):
    """Everything the server sends within `wait` seconds."""
    # receive_nothing, not a timed receive: a timeout in receive_from cancels the app.
    out = []
    while not await comm.receive_nothing(timeout=wait):
        out.append(json.loads(await comm.receive_from()))
    return out


async def send_json(comm, data):
    await comm.send_to(text_data=json.dumps(data))
