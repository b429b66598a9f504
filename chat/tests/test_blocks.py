"""黑名单 (issue 19 item 6): an agent blocks a customer with a reason and an expiry, optionally with
the address they write from; a blocked customer's messages are refused politely, nothing is stored
or routed, on every send path (general, one statement, the event loop's); supervisors lift blocks;
every block and lift is audited and shown in the customer's open conversations. Marked engine_db:
the one-statement send differs per database."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditLog, Role
from chat import access, blocks, identity
from chat.models import Conversation, ConversationEvent, CustomerBlock, Message
from chat.tests.wsutil import connect_customer, frames_until, send_json, sync_to_async
from conftest import make_agent, send, verified_client
from helpdesk.errors import DomainError

pytestmark = [pytest.mark.engine_db, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("agents_on_duty_but_full")]


def visitor_from(inbox, ip):
    customer, inbox, _token = identity.open_customer_session(inbox.public_key, client_ip=ip)
    return access.customer_actor(customer, inbox.pk)


def refused_code(actor, body="hi", **kwargs):
    with pytest.raises(DomainError) as refused:
        send(actor, body, **kwargs)
    return refused.value.code


@pytest.fixture
def opened(personas):
    first, _ = send(personas.visitor, "你好")
    return first.conversation


def test_a_blocked_customer_is_refused_on_every_path_and_nothing_is_stored(personas, opened):
    block = blocks.block_customer(personas.agent_a, opened.customer_id, reason="辱骂客服", days=7)
    assert block.expires_at - timezone.now() > timedelta(days=6, hours=23) and block.created_by_id == personas.agent_a_user.pk
    before = Message.objects.count()
    assert refused_code(personas.visitor, "again") == "blocked"  # into the open conversation: the one-statement path declines
    assert refused_code(personas.visitor, "named", conversation_id=opened.pk) == "blocked"
    opened.refresh_from_db()
    assert Message.objects.count() == before and opened.last_seq == 1
    event = ConversationEvent.objects.get(conversation=opened, kind=ConversationEvent.Kind.BLOCKED)
    assert event.data["reason"] == "辱骂客服" and event.actor_user_id == personas.agent_a_user.pk
    audit = AuditLog.objects.get(action="customer.block")
    assert audit.workspace_id == personas.workspace.pk and audit.after["days"] == 7 and audit.target_id == str(block.pk)


def test_no_new_conversation_opens_for_a_blocked_customer(personas, opened):
    blocks.block_customer(personas.agent_a, opened.customer_id, reason="spam", days=0)
    Conversation.objects.filter(pk=opened.pk).update(state=Conversation.State.RESOLVED)
    assert refused_code(personas.visitor) == "blocked"
    assert Conversation.objects.filter(customer_id=opened.customer_id).count() == 1  # not reopened, nothing routed


def test_a_retry_of_a_message_sent_before_the_block_is_still_answered(personas, opened):
    blocks.block_customer(personas.agent_a, opened.customer_id, reason="spam", days=1)
    first = Message.objects.get(conversation=opened, seq=1)
    again, created = send(personas.visitor, "你好", client_msg_id=first.client_msg_id)
    assert not created and again.pk == first.pk


def test_an_expired_block_refuses_nothing_and_a_new_one_can_follow(personas, opened):
    block = blocks.block_customer(personas.agent_a, opened.customer_id, reason="spam", days=1)
    CustomerBlock.objects.filter(pk=block.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    message, created = send(personas.visitor, "back again")
    assert created and message.seq == 2
    again = blocks.block_customer(personas.agent_a, opened.customer_id, reason="spam again", days=7)
    assert again.pk != block.pk and CustomerBlock.objects.get(pk=block.pk).lifted_at is not None
    assert refused_code(personas.visitor) == "blocked"


def test_supervisors_lift_agents_may_not(personas, opened):
    block = blocks.block_customer(personas.agent_a, opened.customer_id, reason="spam", days=0)
    with pytest.raises(DomainError) as refused:
        blocks.lift(personas.agent_a, block.pk)
    assert refused.value.status == 403 and CustomerBlock.objects.get(pk=block.pk).lifted_at is None
    assert AuditLog.objects.filter(action="customer.unblock", denied=True, actor_id=personas.agent_a_user.pk).count() == 1
    _admin_user, admin = make_agent(personas.workspace, [personas.inbox_a], role=Role.ADMIN)
    blocks.lift(admin, block.pk)
    assert CustomerBlock.objects.get(pk=block.pk).lifted_by_id == admin.user_id
    assert ConversationEvent.objects.filter(conversation=opened, kind=ConversationEvent.Kind.UNBLOCKED).count() == 1
    message, created = send(personas.visitor, "thanks")
    assert created
    with pytest.raises(DomainError) as twice:
        blocks.lift(admin, block.pk)
    assert twice.value.status == 404


def test_a_block_with_the_address_covers_new_visitors_from_it(personas):
    troll = visitor_from(personas.inbox_a, "203.0.113.7")
    first, _ = send(troll, "垃圾广告")
    block = blocks.block_customer(personas.agent_a, troll.customer_id, reason="广告", days=30, with_address=True)
    assert block.ip == "203.0.113.7"
    returning = visitor_from(personas.inbox_a, "203.0.113.7")  # cookies cleared: a new visitor, same address
    assert returning.customer_id != troll.customer_id and refused_code(returning) == "blocked"
    elsewhere = visitor_from(personas.inbox_a, "198.51.100.1")
    assert send(elsewhere, "正常咨询")[1] is True
    other_shop = visitor_from(personas.other_inbox, "203.0.113.7")  # another workspace's block never reaches here
    assert send(other_shop, "hello")[1] is True
    _admin_user, admin = make_agent(personas.workspace, [personas.inbox_a], role=Role.ADMIN)
    blocks.lift(admin, block.pk)  # lifts the derived block too
    assert send(returning, "ok now")[1] is True


def test_bad_input_is_refused_and_nothing_is_stored(personas, opened):
    cases = [
        (personas.agent_a, opened.customer_id, {"reason": "", "days": 7}, "invalid_reason"),
        (personas.agent_a, opened.customer_id, {"reason": "x" * 201, "days": 7}, "invalid_reason"),
        (personas.agent_a, opened.customer_id, {"reason": "<script>", "days": 7}, "invalid_reason"),
        (personas.agent_a, opened.customer_id, {"reason": "spam", "days": 3}, "invalid_duration"),
        (personas.agent_a, opened.customer_id, {"reason": "spam", "days": "7; DROP TABLE"}, "invalid_duration"),
        (personas.agent_a, opened.customer_id, {"reason": "spam", "days": 7, "with_address": "yes"}, "invalid_with_address"),
        (personas.agent_a, personas.other_visitor.customer_id, {"reason": "spam", "days": 7}, "not_found"),  # another workspace
        (personas.agent_b, opened.customer_id, {"reason": "spam", "days": 7}, "not_found"),  # no conversation of theirs to see
        (personas.agent_a, "1 OR 1=1", {"reason": "spam", "days": 7}, "not_found"),
        (personas.visitor, opened.customer_id, {"reason": "spam", "days": 7}, "forbidden"),  # a customer blocking (themselves)
    ]
    for actor, customer_id, kwargs, code in cases:
        with pytest.raises(DomainError) as refused:
            blocks.block_customer(actor, customer_id, **kwargs)
        assert refused.value.code == code, (customer_id, kwargs)
    assert not CustomerBlock.objects.exists() and not AuditLog.objects.filter(action="customer.block").exists()
    blocks.block_customer(personas.agent_a, opened.customer_id, reason="spam", days=7)
    with pytest.raises(DomainError) as twice:
        blocks.block_customer(personas.agent_a, opened.customer_id, reason="spam", days=7)
    assert twice.value.code == "already_blocked" and CustomerBlock.objects.count() == 1


def test_the_console_blocks_from_the_panel_and_lists_for_supervisors(personas, opened):
    agent = verified_client(personas.agent_a_user)
    page = agent.get(f"/console/c/{opened.pk}/pane/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert 'data-form="block-customer"' in page.content.decode()
    answer = agent.post(f"/console/customers/{opened.customer_id}/block/", {"reason": "辱骂", "days": 0, "with_address": True},
                        content_type="application/json")
    assert answer.status_code == 200 and "辱骂" in answer.content.decode() and 'data-action="lift-block"' not in answer.content.decode()
    bad = agent.post(f"/console/customers/{opened.customer_id}/block/", {"reason": "again", "days": 9}, content_type="application/json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_duration"
    owner = verified_client(personas.owner_user)
    listing = owner.get("/console/blocks/")
    assert listing.status_code == 200 and "辱骂" in listing.content.decode()
    block = CustomerBlock.objects.get()
    assert agent.post(f"/console/blocks/{block.pk}/lift/").status_code == 403
    lifted = owner.post(f"/console/blocks/{block.pk}/lift/?from=list")
    assert lifted.status_code == 200 and "辱骂" not in lifted.content.decode()
    assert CustomerBlock.objects.get().lifted_by_id == personas.owner_user.pk
    other = verified_client(personas.other_agent_user)
    assert other.post(f"/console/blocks/{block.pk}/lift/").status_code in (403, 404)


async def test_a_blocked_customer_over_the_socket_gets_the_polite_line(personas):
    customer = await connect_customer(personas.visitor_token)
    await send_json(customer, {"type": "send", "client_msg_id": "b-0", "body": "open"})
    ack, _ = await frames_until(customer, "ack")
    await sync_to_async(blocks.block_customer)(personas.agent_a, ack["message"]["conversation_id"] and personas.visitor.customer_id,
                                               reason="spam", days=1)
    await send_json(customer, {"type": "send", "client_msg_id": "b-1", "body": "still here"})
    error, _ = await frames_until(customer, "error")
    assert error["code"] == "blocked" and error["client_msg_id"] == "b-1" and error["message"]
    assert await sync_to_async(lambda: Message.objects.filter(client_msg_id="b-1").exists())() is False
    await customer.disconnect()
