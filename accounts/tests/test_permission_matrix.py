"""Every role × every console page, admin page, REST endpoint and WebSocket action:
allowed or denied as specified. And another workspace's objects answer exactly like
objects that do not exist, for every role (404 where the role may use the endpoint).

The expectations are written out by hand from the issue, not derived from the code."""

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from accounts.models import Membership, Role
from chat.models import Conversation
from chat.tests.wsutil import connect_agent, frames_until, send_json
from conftest import make_agent, make_inbox, make_visitor, make_workspace, send, verified_client

F, S, A, G, V = Role.FOUNDER, Role.SENIOR_ADMIN, Role.ADMIN, Role.AGENT, Role.VERIFIER
ROLES = [F, S, A, G, V]
ANON = "anonymous"


def only(*allowed, ok=200, no=403):
    return {role: (ok if role in allowed else no) for role in ROLES}


class World:
    pass


@pytest.fixture
def world(db):
    w = World()
    w.ws = make_workspace("Shop A")
    w.inbox = make_inbox(w.ws, name="Site A")
    w.users = {}
    for role in ROLES:
        user, _ = make_agent(w.ws, [w.inbox] if role != V else [], role=role, username=f"{role}_a")
        w.users[role] = user
    w.target = Membership.objects.get(user=w.users[G])  # the member that management calls act on
    visitor, _ = make_visitor(w.inbox)
    w.conversation_id = send(visitor, "hello")[0].conversation_id

    w.other_ws = make_workspace("Shop Z")
    w.other_inbox = make_inbox(w.other_ws, name="Site Z")
    other_agent, _ = make_agent(w.other_ws, [w.other_inbox], role=G, username="agent_z")
    other_visitor, _ = make_visitor(w.other_inbox)
    w.other_conversation_id = send(other_visitor, "secret")[0].conversation_id
    w.other_member = Membership.objects.get(user=other_agent)
    return w


def client_for(w, role):
    return Client() if role == ANON else verified_client(w.users[role])


# --- pages ----------------------------------------------------------------------

ADMIN_IN = {r: (200 if r in (F, S, A) else 302) for r in ROLES}  # 302: sent to the admin login


def admin_page(capable_roles):
    return {r: (200 if r in capable_roles else 403 if r in (F, S, A) else 302) for r in ROLES}


PAGES = [
    ("/demo/agent/", {F: 200, S: 200, A: 200, G: 200, V: 404}),
    ("/verify/", {F: 200, S: 200, A: 200, G: 404, V: 200}),
    ("/admin/", ADMIN_IN),
    ("/admin/accounts/membership/", admin_page({F, S, A})),
    ("/admin/accounts/workspace/", admin_page({F, S, A})),
    ("/admin/accounts/customrole/", admin_page({F, S})),
    ("/admin/accounts/auditlog/", admin_page({F})),
    ("/admin/chat/inbox/", admin_page({F, S, A})),
    ("/admin/routing/agentgroup/", admin_page({F, S, A})),
    ("/admin/chat/conversation/", admin_page({F, S, A})),
    ("/admin/chat/customer/", admin_page({F, S, A})),
    ("/admin/auth/user/", admin_page(set())),  # installation superusers only
    ("/admin/auth/group/", admin_page(set())),
]


@pytest.mark.django_db
@pytest.mark.parametrize("path,expected", PAGES, ids=[p for p, _ in PAGES])
def test_pages(world, path, expected):
    got = {role: client_for(world, role).get(path).status_code for role in ROLES}
    assert got == expected
    anonymous = Client().get(path)
    assert anonymous.status_code == 302 and "login" in anonymous["Location"]


# --- REST ----------------------------------------------------------------------


def rest_calls(w):
    cid, member = w.conversation_id, w.target.pk
    return [
        ("list conversations", "get", "/api/v1/conversations", None, only(F, S, A, G)),
        ("read messages", "get", f"/api/v1/conversations/{cid}/messages", None, only(F, S, A, G)),
        ("send", "post", f"/api/v1/conversations/{cid}/messages", {"client_msg_id": "m1", "body": "hi"}, only(F, S, A, G, ok=201)),
        ("mark read", "post", f"/api/v1/conversations/{cid}/read", {"seq": 1}, only(F, S, A, G)),
        ("resolve", "post", f"/api/v1/conversations/{cid}/state", {"state": "resolved"}, only(F, S, A, G)),
        ("list members", "get", "/api/v1/members", None, only(F, S, A)),
        ("change a member's role", "patch", f"/api/v1/members/{member}", {"role": "verifier"}, only(F, S, A)),
        ("grant inbox access", "put", f"/api/v1/inboxes/{w.inbox.pk}/members/{member}", {"granted": True}, only(F, S, A)),
        ("create own API token", "post", "/api/v1/tokens", {"name": "t"}, only(*ROLES, ok=201)),
        ("list own API tokens", "get", "/api/v1/tokens", None, only(*ROLES)),
        ("remove a member", "delete", f"/api/v1/members/{member}", None, only(F, S, A, ok=204)),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("index", range(11))
@pytest.mark.parametrize("role", ROLES)
def test_rest(world, role, index):
    name, method, path, body, expected = rest_calls(world)[index]
    client = client_for(world, role)
    r = getattr(client, method)(path, body, content_type="application/json") if body is not None else getattr(client, method)(path)
    assert r.status_code == expected[role], f"{role} {name}: {r.status_code} {getattr(r, 'content', b'')[:200]}"
    assert getattr(Client(), method)(path, body or {}, content_type="application/json").status_code == 401  # anonymous


# --- another workspace ----------------------------------------------------------------


def foreign_calls(w, object_ids):
    cid, member, inbox = object_ids
    return [
        ("get", f"/api/v1/conversations/{cid}/messages", None),
        ("post", f"/api/v1/conversations/{cid}/messages", {"client_msg_id": "x", "body": "x"}),
        ("post", f"/api/v1/conversations/{cid}/read", {"seq": 1}),
        ("post", f"/api/v1/conversations/{cid}/state", {"state": "closed"}),
        ("patch", f"/api/v1/members/{member}", {"role": "verifier"}),
        ("delete", f"/api/v1/members/{member}", None),
        ("put", f"/api/v1/inboxes/{inbox}/members/{w.target.pk}", {"granted": True}),
        ("get", f"/admin/chat/inbox/{inbox}/change/", None),
        ("get", f"/admin/accounts/membership/{member}/change/", None),
        ("get", f"/admin/chat/conversation/{cid}/change/", None),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_other_workspace_is_indistinguishable_from_nothing(world, role):
    client = client_for(world, role)
    foreign = foreign_calls(world, (world.other_conversation_id, world.other_member.pk, world.other_inbox.pk))
    missing = foreign_calls(world, (987654, 987654, 987654))
    for (method, path, body), (_, missing_path, _) in zip(foreign, missing):
        call = getattr(client, method)
        got = call(path, body, content_type="application/json") if body is not None else call(path)
        baseline = call(missing_path, body, content_type="application/json") if body is not None else call(missing_path)
        assert got.status_code == baseline.status_code, f"{role} {method} {path}"
        assert got.status_code not in (200, 201, 204)
        if baseline.status_code not in (302, 403):  # roles that may use the endpoint at all see a 404
            assert got.status_code == 404
    # and nothing changed over there
    assert Membership.objects.get(pk=world.other_member.pk).role == G
    assert Conversation.objects.get(pk=world.other_conversation_id).state == "queued"
    assert not world.other_inbox.user_permissions.filter(user__memberships__workspace=world.ws).exists()


# --- WebSocket -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ROLES)
def test_websocket_actions(world, role):
    @async_to_sync
    async def run():
        if role == V:
            from channels.testing import WebsocketCommunicator

            from chat.tests.wsutil import frame, session_cookie
            from helpdesk.asgi import application

            cookie = await session_cookie(world.users[V])
            comm = WebsocketCommunicator(application, "/ws/agent/", headers=[(b"cookie", f"sessionid={cookie}".encode()), (b"origin", b"http://localhost"), (b"host", b"localhost")])
            await comm.connect()
            assert (await frame(comm))["code"] == "forbidden"
            assert (await comm.receive_output(timeout=2))["type"] == "websocket.close"
            return
        agent = await connect_agent(world.users[role])
        cid = world.conversation_id
        await send_json(agent, {"type": "send", "client_msg_id": f"ws-{role}", "conversation_id": cid, "body": "hi"})
        ack, _ = await frames_until(agent, "ack")
        await send_json(agent, {"type": "resume", "conversation_id": cid, "after_seq": 0})
        batch, _ = await frames_until(agent, "messages")
        await send_json(agent, {"type": "read", "conversation_id": cid, "seq": ack["message"]["seq"]})
        await frames_until(agent, "read.ok")
        await send_json(agent, {"type": "recall", "message_id": ack["message"]["id"]})
        await frames_until(agent, "recall.ok")
        # Everything from seq 1, the agent's line last (before it: the customer's and the flow's lines).
        assert [m["seq"] for m in batch["messages"]] == list(range(1, ack["message"]["seq"] + 1))
        assert batch["messages"][-1]["id"] == ack["message"]["id"]
        for frame_ in (
            {"type": "resume", "conversation_id": world.other_conversation_id, "after_seq": 0},
            {"type": "send", "client_msg_id": "z", "conversation_id": world.other_conversation_id, "body": "x"},
            {"type": "typing", "conversation_id": world.other_conversation_id},
        ):
            await send_json(agent, frame_)
            error, _ = await frames_until(agent, "error")
            assert error["code"] == "not_found"
        await agent.disconnect()

    run()


@pytest.mark.django_db
def test_matrix_covers_every_role_and_rest_call(world):
    assert len(rest_calls(world)) == 11  # keep in step with test_rest's parametrisation
    assert set(ROLES) == set(Role.values)
