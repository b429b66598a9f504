"""An agent's WebSocket lives no longer than the session it was opened with (issue 14, finding 5).

Logout, a password change (the member's own or an owner's in the admin), a two-factor reset
and a member's removal close the affected sockets at once, through the channel layer (so on
any process). The layer may drop a message, so the socket also re-checks its session on
resync and on the first frame or event after SESSION_RECHECK_SECONDS: the session must still
be stored, its auth hash must match the current password (as django.contrib.auth.get_user
decides), two-factor must still be satisfied, and the membership must still exist."""

import asyncio
import json
import re
import time
import urllib.parse
import urllib.request

import pytest
from channels.db import database_sync_to_async as sync_to_async  # closes its DB connection after use
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts import actions
from accounts.models import Membership
from chat.tests.wsutil import connect_agent, frame, frames_until, send_json
from conftest import verified_client
from helpdesk.asgi import application
from surfaces import consumers

pytestmark = [pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "a-Fresh-passphrase-8812"


@sync_to_async
def logged_in(user):
    """A browser session (test Client) of `user`, past two-factor where needed."""
    return verified_client(user)


async def connect_session(client):
    cookie = client.cookies["sessionid"].value
    comm = WebsocketCommunicator(application, "/ws/agent/", headers=[
        (b"cookie", f"sessionid={cookie}".encode()), (b"origin", b"http://localhost"), (b"host", b"localhost")])
    assert (await comm.connect())[0]
    assert (await frame(comm))["type"] == "hello"
    return comm


async def assert_closed(comm, code=4401, error_code="unauthenticated"):
    error, _ = await frames_until(comm, "error", timeout=2)
    assert error["code"] == error_code and error["message"]
    assert await comm.receive_output(timeout=2) == {"type": "websocket.close", "code": code}


async def assert_alive(comm):
    await send_json(comm, {"type": "ping", "ref": "alive"})
    pong, _ = await frames_until(comm, "pong")
    assert pong["ref"] == "alive"


def superuser_client():
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-123")
    return verified_client(root)


# --- the explicit paths: logout, password change, two-factor reset ------------------------------


@pytest.mark.engine_db  # pass 2 runs it again on PostgreSQL with the Redis channel layer
async def test_logout_closes_the_sockets_of_that_session_only(personas, monkeypatch):
    handled = []
    control = consumers.AgentConsumer.control

    async def observed_control(self, event):
        await control(self, event)
        handled.append(event["action"])

    monkeypatch.setattr(consumers.AgentConsumer, "control", observed_control)
    laptop = await logged_in(personas.agent_a_user)
    on_laptop = await connect_session(laptop)
    on_phone = await connect_agent(personas.agent_a_user)  # another session of the same agent

    response = await sync_to_async(laptop.post)("/accounts/logout/")
    assert response.status_code == 302
    await assert_closed(on_laptop)
    async with asyncio.timeout(5):
        while len(handled) < 2:  # wait until the phone's socket has handled the same revocation too
            await asyncio.sleep(0.01)
    await assert_alive(on_phone)  # logging out on the laptop does not log out the phone
    await on_phone.disconnect()


async def test_admin_logout_closes_the_session_sockets(personas):
    owner = await logged_in(personas.owner_user)
    socket = await connect_session(owner)
    assert (await sync_to_async(owner.post)("/admin/logout/")).status_code in (200, 302)
    await assert_closed(socket)


async def test_own_password_change_closes_every_socket_and_the_new_session_reconnects(personas):
    laptop = await logged_in(personas.agent_a_user)
    on_laptop = await connect_session(laptop)
    on_phone = await connect_agent(personas.agent_a_user)

    response = await sync_to_async(laptop.post)("/accounts/password/change/", {
        "old_password": "pw-for-tests-123", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302, response.content[:500]
    await assert_closed(on_phone)
    await assert_closed(on_laptop)  # its session key was rotated; the page reconnects with the new cookie
    again = await connect_session(laptop)
    await assert_alive(again)
    await again.disconnect()


async def test_own_password_change_in_the_admin_closes_the_other_sessions_sockets(personas):
    owner = await logged_in(personas.owner_user)
    on_phone = await connect_agent(personas.owner_user)
    response = await sync_to_async(owner.post)("/admin/password_change/", {
        "old_password": "pw-for-tests-123", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response.status_code == 302, response.content[:500]
    await assert_closed(on_phone)


async def test_admin_password_change_closes_the_users_sockets(personas):
    root = await sync_to_async(superuser_client)()
    socket = await connect_agent(personas.agent_a_user)
    url = f"/admin/auth/user/{personas.agent_a_user.pk}/password/"
    response = await sync_to_async(root.post)(url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"})
    assert response.status_code == 302, response.content[:500]
    await assert_closed(socket)


async def test_a_refused_admin_password_change_closes_nothing(personas):
    root = await sync_to_async(superuser_client)()
    socket = await connect_agent(personas.agent_a_user)
    url = f"/admin/auth/user/{personas.agent_a_user.pk}/password/"
    response = await sync_to_async(root.post)(url, {"password1": NEW_PASSWORD, "password2": "different-Pass-9911"})
    assert response.status_code == 200  # the form again, with the error
    await assert_alive(socket)
    await socket.disconnect()


async def test_admin_deactivating_a_user_closes_their_sockets(personas):
    root = await sync_to_async(superuser_client)()
    socket = await connect_agent(personas.agent_a_user)

    def deactivate():
        user = personas.agent_a_user
        url = f"/admin/auth/user/{user.pk}/change/"
        page = root.get(url)
        assert page.status_code == 200
        data = {"username": user.username, "first_name": "", "last_name": "", "email": "", "is_staff": "", "is_active": "",
                "last_login_0": "", "last_login_1": "", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"}
        return root.post(url, data)

    response = await sync_to_async(deactivate)()
    assert response.status_code == 302, response.content[:800]
    await assert_closed(socket)


async def test_two_factor_reset_closes_the_users_sockets(personas):
    @sync_to_async
    def enrolled_agent_session():
        TOTPDevice.objects.create(user=personas.agent_a_user, name="phone", confirmed=True)
        return verified_client(personas.agent_a_user)  # enrolled: the session passed the TOTP step

    agent = await enrolled_agent_session()
    socket = await connect_session(agent)
    root = await sync_to_async(superuser_client)()
    device = await sync_to_async(TOTPDevice.objects.get)(user=personas.agent_a_user)
    response = await sync_to_async(root.post)(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not await sync_to_async(TOTPDevice.objects.filter(pk=device.pk).exists)()
    await assert_closed(socket)


async def test_member_removal_closes_the_socket(personas):
    socket = await connect_agent(personas.agent_b_user)
    owner = await sync_to_async(Membership.objects.get)(user=personas.owner_user)
    target = await sync_to_async(Membership.objects.get)(user=personas.agent_b_user)
    await sync_to_async(actions.remove_member)(owner, target.pk)
    await assert_closed(socket, code=4403, error_code="not_found")  # no longer theirs: as if it did not exist


# --- the re-check: when a broadcast was lost ----------------------------------------------------


async def test_resync_rechecks_the_session(personas):
    laptop = await logged_in(personas.agent_a_user)
    socket = await connect_session(laptop)
    await sync_to_async(Session.objects.filter(session_key=laptop.cookies["sessionid"].value).delete)()  # no broadcast
    await sync_to_async(actions.notify_access_changed)(personas.agent_a_user.pk)
    await assert_closed(socket)


@pytest.fixture
def recheck_always(monkeypatch):
    monkeypatch.setattr(consumers.AgentConsumer, "SESSION_RECHECK_SECONDS", 0, raising=False)


async def test_a_lost_logout_is_caught_on_the_next_frame(personas, recheck_always):
    laptop = await logged_in(personas.agent_a_user)
    socket = await connect_session(laptop)
    await assert_alive(socket)
    await sync_to_async(Session.objects.filter(session_key=laptop.cookies["sessionid"].value).delete)()
    await send_json(socket, {"type": "ping", "ref": "late"})
    await assert_closed(socket)


async def test_a_lost_password_change_is_caught_by_the_auth_hash(personas, recheck_always):
    socket = await connect_agent(personas.agent_a_user)

    @sync_to_async
    def change_password_quietly():
        user = get_user_model().objects.get(pk=personas.agent_a_user.pk)
        user.set_password(NEW_PASSWORD)
        user.save(update_fields=["password"])

    await change_password_quietly()
    await send_json(socket, {"type": "resume", "conversation_id": 1, "after_seq": 0})
    await assert_closed(socket)


async def test_a_lost_removal_is_caught_on_the_next_event(personas, recheck_always):
    """An agent who sends nothing is re-checked when an event reaches the socket."""
    from chat.tests.wsutil import connect_customer

    socket = await connect_agent(personas.agent_a_user)
    await sync_to_async(Membership.objects.filter(user=personas.agent_a_user).delete)()
    customer = await connect_customer(personas.visitor_token)
    await send_json(customer, {"type": "send", "client_msg_id": "c1", "body": "anyone there?"})
    await assert_closed(socket, code=4403, error_code="not_found")  # no longer theirs: as if it did not exist
    await customer.disconnect()


async def test_the_recheck_waits_for_its_interval(personas, monkeypatch):
    """Cheap: within the interval a frame costs no session query."""
    monkeypatch.setattr(consumers.AgentConsumer, "SESSION_RECHECK_SECONDS", 3600, raising=False)
    laptop = await logged_in(personas.agent_a_user)
    socket = await connect_session(laptop)
    await sync_to_async(Session.objects.filter(session_key=laptop.cookies["sessionid"].value).delete)()
    await assert_alive(socket)
    await socket.disconnect()


# --- across processes: logout served by one process, socket held by another -------------------


@pytest.mark.scaleout
def test_logout_on_one_process_closes_the_socket_on_another(personas, two_servers):
    import websockets

    port_a, port_b = two_servers
    client = Client()
    client.force_login(personas.agent_a_user)
    session_id = client.cookies["sessionid"].value
    opener = urllib.request.build_opener()

    def logout_on_a():
        # A page with the CSRF token, then the logout form's POST, both on process A.
        cookie = f"sessionid={session_id}"
        with opener.open(urllib.request.Request(f"http://127.0.0.1:{port_a}/accounts/password/change/", headers={"Cookie": cookie}), timeout=5) as page:
            csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.read().decode()).group(1)
            csrf_cookie = re.search(r"csrftoken=([^;]+)", page.headers["Set-Cookie"]).group(1)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port_a}/accounts/logout/", data=urllib.parse.urlencode({"csrfmiddlewaretoken": csrf}).encode(),
            headers={"Cookie": f"{cookie}; csrftoken={csrf_cookie}", "Referer": f"http://127.0.0.1:{port_a}/"}, method="POST",
        )

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        try:
            urllib.request.build_opener(NoRedirect).open(request, timeout=5)
        except urllib.error.HTTPError as exc:  # the 302 to the login page
            return exc.code
        return 200

    async def scenario():
        ws = await websockets.connect(f"ws://127.0.0.1:{port_b}/ws/agent/", additional_headers={"Cookie": f"sessionid={session_id}"},
                                      origin=f"http://127.0.0.1:{port_b}")
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "hello"
        started = time.monotonic()
        assert await asyncio.to_thread(logout_on_a) == 302
        error = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert error["type"] == "error" and error["code"] == "unauthenticated"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd.code == 4401 and time.monotonic() - started < 5

    asyncio.run(scenario())
