"""Object permissions decide what an agent sees and receives, and revocation is live."""

import pytest
from django.contrib.auth import get_user_model

from accounts import actions
from accounts.models import Membership, Role
from chat import access
from chat import messages as chat_messages
from chat import staff as chat_staff
from chat.models import Conversation
from chat.tests.wsutil import connect_agent, connect_customer, frames_until, quiet, send_json
from conftest import make_agent, make_visitor
from helpdesk.errors import DomainError
from routing import staff as routing_staff

pytestmark = [pytest.mark.django_db(transaction=True)]


def membership_of(user):
    return Membership.objects.select_related("custom_role", "user").get(user=user)


def fresh_actor(user):
    return access.agent_actor(membership_of(user))


def test_agent_sees_only_own_history_unless_granted(personas, sender):
    mine, _ = sender(personas.visitor, "assigned to agent_a")
    theirs_customer, _ = make_visitor(personas.inbox_a)
    theirs, _ = sender(theirs_customer, "assigned to owner")
    pool_customer, _ = make_visitor(personas.inbox_a)
    pool, _ = sender(pool_customer, "unassigned")
    Conversation.objects.filter(pk=mine.conversation_id).update(assignee=personas.agent_a_user, state="resolved")
    Conversation.objects.filter(pk=theirs.conversation_id).update(assignee=personas.owner_user, state="resolved")

    visible = set(access.visible_conversations(personas.agent_a).values_list("pk", flat=True))
    assert visible == {mine.conversation_id, pool.conversation_id}
    with pytest.raises(DomainError) as exc:
        chat_messages.fetch_messages(personas.agent_a, theirs.conversation_id)
    assert exc.value.status == 404

    owner = membership_of(personas.owner_user)
    actions.set_view_all_history(owner, membership_of(personas.agent_a_user).pk, True)
    granted = fresh_actor(personas.agent_a_user)
    assert set(access.visible_conversations(granted).values_list("pk", flat=True)) == {
        mine.conversation_id, theirs.conversation_id, pool.conversation_id
    }
    assert access.visible_conversations(personas.owner).count() == 3  # founders see everything by role


def test_supervisor_sees_the_groups_conversations(personas, sender):
    from routing.models import AgentGroup

    group = AgentGroup.objects.create(workspace=personas.workspace, name="After-sales")
    msg, _ = sender(personas.visitor, "refund please")
    Conversation.objects.filter(pk=msg.conversation_id).update(group=group, assignee=personas.owner_user)
    assert not access.visible_conversations(personas.agent_b).filter(pk=msg.conversation_id).exists()
    routing_staff.set_group_supervision(membership_of(personas.owner_user), group.pk, membership_of(personas.agent_b_user).pk, True)
    assert access.visible_conversations(fresh_actor(personas.agent_b_user)).filter(pk=msg.conversation_id).exists()
    with pytest.raises(DomainError) as exc:  # seeing is not replying: agent_b does not serve inbox A
        chat_messages.send_message(fresh_actor(personas.agent_b_user), client_msg_id="s1", body="hi", conversation_id=msg.conversation_id)
    assert exc.value.code == "forbidden"


def test_verifier_has_no_chat_access(personas):
    verifier_user, actor = make_agent(personas.workspace, [personas.inbox_a], role=Role.VERIFIER, username="verifier")
    assert actor is None
    with pytest.raises(DomainError):
        access.agent_actor(membership_of(verifier_user))


async def test_removal_from_inbox_stops_live_delivery_at_once(personas):
    from channels.db import database_sync_to_async

    customer = await connect_customer(personas.visitor_token)
    agent = await connect_agent(personas.agent_a_user)
    colleague = await connect_agent(personas.owner_user)
    await send_json(customer, {"type": "send", "client_msg_id": "before", "body": "before"})
    assert (await frames_until(agent, "message"))[0]["message"]["body"] == "before"

    owner = await database_sync_to_async(membership_of)(personas.owner_user)
    target = await database_sync_to_async(membership_of)(personas.agent_a_user)
    await database_sync_to_async(chat_staff.set_inbox_access)(owner, personas.inbox_a.pk, target.pk, False)
    changed, _ = await frames_until(agent, "access.changed", timeout=1)  # within a second
    assert changed["inbox_ids"] == []

    await send_json(customer, {"type": "send", "client_msg_id": "after", "body": "after"})
    live, _ = await frames_until(colleague, "message")
    while live["message"]["body"] != "after":
        live, _ = await frames_until(colleague, "message")
    assert [f for f in await quiet(agent, 0.5) if f["type"] == "message"] == []
    cid = live["message"]["conversation_id"]
    await send_json(agent, {"type": "resume", "conversation_id": cid, "after_seq": 0})
    error, _ = await frames_until(agent, "error")
    assert error["code"] == "not_found"
    for comm in (customer, agent, colleague):
        await comm.disconnect()


async def test_removed_member_socket_is_closed(personas):
    from channels.db import database_sync_to_async

    agent = await connect_agent(personas.agent_b_user)
    owner = await database_sync_to_async(membership_of)(personas.owner_user)
    target = await database_sync_to_async(membership_of)(personas.agent_b_user)
    await database_sync_to_async(actions.remove_member)(owner, target.pk)
    error, _ = await frames_until(agent, "error", timeout=1)
    assert error["code"] == "not_found"  # the workspace is answered like one that does not exist
    assert await agent.receive_output(timeout=1) == {"type": "websocket.close", "code": 4403}
    assert not await database_sync_to_async(lambda: get_user_model().objects.get(pk=personas.agent_b_user.pk).memberships.exists())()


def test_member_of_two_workspaces_picks_one_per_request(personas, sender):
    from accounts.models import Membership
    from conftest import verified_client

    Membership.objects.create(workspace=personas.other_workspace, user=personas.agent_a_user, role=Role.AGENT)
    from guardian.shortcuts import assign_perm

    assign_perm("chat.reply_in_inbox", personas.agent_a_user, personas.other_inbox)
    ours, _ = sender(personas.visitor, "ours")
    theirs, _ = sender(personas.other_visitor, "theirs")
    client = verified_client(personas.agent_a_user)
    default = [c["id"] for c in client.get("/api/v1/conversations").json()["conversations"]]
    chosen = [c["id"] for c in client.get("/api/v1/conversations", HTTP_X_WORKSPACE=str(personas.other_workspace.pk)).json()["conversations"]]
    assert default == [ours.conversation_id] and chosen == [theirs.conversation_id]
    assert client.get("/api/v1/conversations", HTTP_X_WORKSPACE="999999").status_code == 404


def test_login_lands_on_the_page_for_the_role(personas):
    from django.contrib.auth import get_user_model

    from conftest import verified_client

    verifier_user, _ = make_agent(personas.workspace, role=Role.VERIFIER, username="counter")
    stranger = get_user_model().objects.create_user(username="stranger", password="x-pass-12345")
    assert verified_client(personas.agent_a_user).get("/accounts/home/")["Location"] == "/console/"
    assert verified_client(verifier_user).get("/accounts/home/")["Location"] == "/verify/"
    assert verified_client(stranger).get("/accounts/home/").status_code == 404


async def test_typing_in_a_colleagues_conversation_is_not_shown_without_history_rights(personas):
    from channels.db import database_sync_to_async

    from chat.tests.wsutil import quiet

    customer = await connect_customer(personas.visitor_token)
    await send_json(customer, {"type": "send", "client_msg_id": "t1", "body": "hi"})
    ack, _ = await frames_until(customer, "ack")
    cid = ack["message"]["conversation_id"]
    await database_sync_to_async(lambda: Conversation.objects.filter(pk=cid).update(assignee=personas.owner_user))()
    agent = await connect_agent(personas.agent_a_user)  # serves the inbox, not assigned, no view-all
    owner = await connect_agent(personas.owner_user)
    customer_again = await connect_customer(personas.visitor_token)  # fresh socket: no cached conversation
    await send_json(customer_again, {"type": "typing", "conversation_id": cid, "is_typing": True})
    typing, _ = await frames_until(owner, "typing")
    assert typing["conversation_id"] == cid
    assert [f for f in await quiet(agent, 0.5) if f["type"] == "typing"] == []
    for comm in (customer, customer_again, agent, owner):
        await comm.disconnect()
