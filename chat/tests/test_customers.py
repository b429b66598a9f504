"""Customers for agents (issue 19 item 5) and 主动联系 (item 3): the list and its scope, notes, the
agent-set VIP level and its precedence, merging a visitor who logs in, and starting a conversation
with a known customer, with the bad inputs that must store nothing."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from guardian.shortcuts import assign_perm

from accounts.models import AuditLog
from chat import access, blocks, customers, identity, outreach, states
from chat.models import Conversation, ConversationEvent, Customer, CustomerNote, CustomerVisit, Inbox, Message, Tag
from conftest import make_agent, make_inbox, send, verified_client
from connectors.models import ChannelAccount, ChannelUser, OutboundMessage
from helpdesk.errors import DomainError
from lifecycle import outreach as lifecycle_outreach
from routing.models import AgentPresence

pytestmark = pytest.mark.django_db


def _identified(inbox, user_id, token=None, attributes=None):
    return identity.open_customer_session(inbox.public_key, token=token, user_id=user_id,
                                          user_hash=identity.identity_hash(inbox.secret, user_id), attributes=attributes)


def _error(call):
    with pytest.raises(DomainError) as exc:
        call()
    return exc.value


# --- the list -------------------------------------------------------------------------------------


def test_agents_see_the_customers_of_conversations_they_can_see_view_all_roles_the_workspace(personas):
    p = personas
    send(p.visitor, "in inbox A")
    quiet, _i, _token = _identified(p.inbox_b, "u-quiet")  # no conversation: only view-all roles see them
    ids = lambda actor: {c.pk for c in customers.search(actor)[0]}  # noqa: E731
    assert ids(p.agent_a) == {p.visitor.customer_id}
    assert ids(p.agent_b) == set()
    assert ids(p.owner) == {p.visitor.customer_id, quiet.pk}
    assert p.other_visitor.customer_id not in ids(p.owner)
    assert _error(lambda: customers.get_customer(p.agent_b, p.visitor.customer_id)).status == 404
    assert _error(lambda: customers.get_customer(p.owner, p.other_visitor.customer_id)).status == 404


@pytest.mark.engine_db
def test_search_by_name_phone_merchant_id_public_id_and_tag_one_query_whatever_the_page(personas):
    p = personas
    made = []
    for i in range(12):
        customer, _i, _t = _identified(p.inbox_a, f"shop-{i:03d}", attributes={"name": f"客户{i}", "phone": f"138000{i:05d}"})
        made.append(customer)
    made[3].tags.add(Tag.objects.create(workspace=p.workspace, name="大客户"))
    Tag.objects.create(workspace=p.other_workspace, name="大客户").customers.add(Customer.objects.get(pk=p.other_visitor.customer_id))

    def found(q):
        return [c.pk for c in customers.search(p.owner, q)[0]]

    assert found("客户7") == [made[7].pk]
    assert found("13800000011") == [made[11].pk]
    assert found("shop-005") == [made[5].pk]
    assert found(made[9].public_id) == [made[9].pk]
    assert found("大客户") == [made[3].pk]  # never the other workspace's customer with the same tag
    assert found("nobody") == []
    for actor in (p.owner, p.agent_a):
        for q in ("", "客户", "大客户"):
            with CaptureQueriesContext(connection) as one:
                customers.search(actor, q)
            assert len(one) <= 2, q  # the page, and the tags of its rows
    assert customers.search(p.agent_b, "客户")[0] == []  # no conversation of theirs in inbox B


def test_the_list_is_paginated_newest_activity_first(personas, settings):
    p = personas
    for i in range(customers.PAGE_SIZE + 5):
        _identified(p.inbox_a, f"page-{i}")
    first, cursor = customers.search(p.owner)
    assert len(first) == customers.PAGE_SIZE and cursor
    second, more = customers.search(p.owner, before=cursor)
    assert not more and not {c.pk for c in first} & {c.pk for c in second}
    assert len(first) + len(second) == customers.PAGE_SIZE + 5 + 1  # and the persona's visitor
    assert _error(lambda: customers.search(p.owner, before="garbage")).code == "invalid_cursor"


# --- notes ------------------------------------------------------------------------------------


def test_notes_are_on_the_customer_added_and_deleted_by_their_author_only(personas):
    p = personas
    send(p.visitor, "hi")
    note = customers.add_note(p.agent_a, p.visitor.customer_id, "  喜欢顺丰，别发韵达  ")
    assert note.text == "喜欢顺丰，别发韵达" and note.author_id == p.agent_a_user.pk
    assert AuditLog.objects.filter(action="customer.note.add", target_id=str(note.pk)).exists()
    assert _error(lambda: customers.add_note(p.agent_a, p.visitor.customer_id, "x" * 1001)).code == "invalid_note"
    assert _error(lambda: customers.add_note(p.agent_a, p.visitor.customer_id, "   ")).code == "invalid_note"
    assert _error(lambda: customers.add_note(p.agent_b, p.visitor.customer_id, "not mine to see")).status == 404
    assert _error(lambda: customers.add_note(p.other_agent, p.visitor.customer_id, "other workspace")).status == 404
    assert CustomerNote.objects.count() == 1
    refused = _error(lambda: customers.delete_note(p.owner, note.pk))
    assert refused.status == 403 and AuditLog.objects.filter(action="customer.note.delete", denied=True).exists()
    assert _error(lambda: customers.delete_note(p.other_agent, note.pk)).status == 404
    customers.delete_note(p.agent_a, note.pk)
    assert not CustomerNote.objects.exists()


# --- VIP level ------------------------------------------------------------------------------------


@pytest.mark.engine_db
def test_an_agent_set_level_wins_over_the_merchants_for_new_conversations_until_cleared(personas):
    p = personas
    customer, _i, token = _identified(p.inbox_a, "vip-user", attributes={"vip_level": 2})
    actor = access.customer_actor(customer, p.inbox_a.pk)
    send(actor, "first")
    first = Conversation.objects.get(customer=customer)
    assert first.vip_level == 2  # the merchant's
    assert _error(lambda: customers.set_level(p.agent_a, customer.pk, 10)).code == "invalid_level"
    assert _error(lambda: customers.set_level(p.agent_a, customer.pk, "high")).code == "invalid_level"
    customers.set_level(p.agent_a, customer.pk, "7")
    assert AuditLog.objects.filter(action="customer.level", after={"vip_level": 7}).exists()
    _identified(p.inbox_a, "vip-user", attributes={"vip_level": 1})  # the merchant's next session does not undo it
    states.change_state(p.owner, first.pk, "resolved")
    second, _created = send(actor, "again")
    assert second.conversation_id != first.pk and Conversation.objects.get(pk=second.conversation_id).vip_level == 7
    customers.set_level(p.agent_a, customer.pk, "")
    assert customers.queue_level(customer.pk) == 1  # the merchant's level applies again


# --- merge ----------------------------------------------------------------------------------------


@pytest.mark.engine_db
def test_a_visitor_who_logs_in_brings_their_history_along(personas):
    p = personas
    message, _ = send(p.visitor, "我匿名问的")
    visitor_id = p.visitor.customer_id
    CustomerVisit.objects.create(customer_id=visitor_id, inbox=p.inbox_a, url="https://shop.example/p/1", title="商品")
    customers.add_note(p.agent_a, visitor_id, "匿名时的备注")
    Customer.objects.get(pk=visitor_id).tags.add(Tag.objects.create(workspace=p.workspace, name="新客"))
    customer, _inbox, new_token = _identified(p.inbox_a, "member-1", token=p.visitor_token)
    conversation = Conversation.objects.get(pk=message.conversation_id)
    assert conversation.customer_id == customer.pk and conversation.state == Conversation.State.QUEUED  # still open, still theirs
    assert CustomerVisit.objects.get().customer_id == customer.pk
    assert CustomerNote.objects.get().customer_id == customer.pk
    assert list(customer.tags.values_list("name", flat=True)) == ["新客"]
    assert Customer.objects.get(pk=visitor_id).merged_into_id == customer.pk
    assert ConversationEvent.objects.filter(conversation=conversation, kind="merged").exists()
    assert AuditLog.objects.filter(action="customer.merge", target_id=str(customer.pk)).exists()
    me = access.customer_actor(customer, p.inbox_a.pk)
    assert [c.pk for c in states.conversations_for(me)] == [conversation.pk]
    # The old visitor token still opens a session, but an empty anonymous one: nothing of the member's.
    old = identity.actor_from_customer_token(p.visitor_token)
    assert old.customer_id == visitor_id and states.conversations_for(old) == []
    assert {c.pk for c in customers.search(p.owner)[0]} >= {customer.pk} and visitor_id not in {c.pk for c in customers.search(p.owner)[0]}


def test_a_blocked_visitor_stays_blocked_after_logging_in(personas):
    p = personas
    send(p.visitor, "骂人的话")
    blocks.block_customer(p.agent_a, p.visitor.customer_id, reason="辱骂", days=7)
    member, _i, _t = _identified(p.inbox_a, "member-blocked", token=p.visitor_token)
    assert blocks.is_blocked(member.pk) and not blocks.is_blocked(p.visitor.customer_id)
    assert _error(lambda: send(access.customer_actor(member, p.inbox_a.pk), "换个号再骂")).code == "blocked"


@pytest.mark.engine_db
def test_merging_with_open_conversations_on_both_sides_keeps_one_open_per_inbox(personas):
    p = personas
    member, _i, member_token = _identified(p.inbox_a, "member-2")
    member_actor = access.customer_actor(member, p.inbox_a.pk)
    old, _ = send(member_actor, "登录前的会话")
    Conversation.objects.filter(pk=old.conversation_id).update(state="assigned", assignee=p.agent_a_user)
    newer, _ = send(p.visitor, "匿名的新会话")
    _identified(p.inbox_a, "member-2", token=p.visitor_token)
    open_ones = Conversation.objects.filter(customer=member, state__in=Conversation.OPEN_STATES)
    assert [c.pk for c in open_ones] == [newer.conversation_id]  # the most recently active continues
    closed = Conversation.objects.get(pk=old.conversation_id)
    assert closed.state == Conversation.State.CLOSED and closed.customer_id == member.pk
    assert ConversationEvent.objects.get(conversation=closed, kind="merged").data["continued_in"] == newer.conversation_id


def test_no_merge_across_workspaces_or_for_an_identified_token(personas):
    p = personas
    send(p.other_visitor, "Z's visitor")
    customer, _i, _t = _identified(p.inbox_a, "member-3", token=p.other_visitor_token)
    assert Conversation.objects.filter(customer_id=p.other_visitor.customer_id).count() == 1
    assert not Conversation.objects.filter(customer=customer).exists()
    other, _i, other_token = _identified(p.inbox_a, "member-4")
    send(access.customer_actor(other, p.inbox_a.pk), "member 4's")
    _identified(p.inbox_a, "member-3", token=other_token)  # two identified customers are never merged
    assert Conversation.objects.filter(customer=other).count() == 1 and Customer.objects.get(pk=other.pk).merged_into_id is None


# --- 主动联系 -------------------------------------------------------------------------------------


@pytest.mark.engine_db
def test_an_agent_reaches_out_the_conversation_is_theirs_and_the_customer_sees_it(personas):
    p = personas
    first, _ = send(p.visitor, "上次的问题")
    states.change_state(p.owner, first.conversation_id, "resolved")
    AgentPresence.objects.create(workspace=p.workspace, user=p.agent_a_user, status="online", open_chats=0)
    conversation, message = lifecycle_outreach.reach_out(p.agent_a, p.visitor.customer_id, body="您好，您的退款已到账。",
                                                          client_msg_id="out-1")
    assert conversation.state == Conversation.State.ASSIGNED and conversation.assignee_id == p.agent_a_user.pk
    assert conversation.inbox_id == p.inbox_a.pk
    assert message.seq == 1 and message.sender_kind == "agent" and message.body == "您好，您的退款已到账。"
    assert ConversationEvent.objects.get(conversation=conversation, kind="created").data == {"outreach": True}
    assert AgentPresence.objects.get(user=p.agent_a_user).open_chats == 1
    assert AuditLog.objects.filter(action="customer.outreach", target_id=str(conversation.pk)).exists()
    # The customer's socket hello lists it (states.conversations_for), newest first.
    assert [c.pk for c in states.conversations_for(p.visitor)][0] == conversation.pk
    # A retry of the same start answers the same conversation; a second start is told to reply there.
    again, _m = outreach.start(p.agent_a, p.visitor.customer_id, body="您好，您的退款已到账。", client_msg_id="out-1")
    assert again.pk == conversation.pk
    err = _error(lambda: outreach.start(p.agent_a, p.visitor.customer_id, body="再说一次", client_msg_id="out-2"))
    assert err.code == "open_conversation" and err.status == 409
    assert Message.objects.filter(conversation=conversation).count() == 1


@pytest.mark.engine_db
def test_bad_outreach_stores_nothing(personas):
    p = personas
    before = (Conversation.objects.count(), Message.objects.count())
    assert _error(lambda: outreach.start(p.owner, p.visitor.customer_id, body="   ", client_msg_id="b-1")).code == "empty_message"
    # Another workspace's customer: not found, like a missing one.
    assert _error(lambda: outreach.start(p.owner, p.other_visitor.customer_id, body="hi", client_msg_id="b-2")).status == 404
    assert _error(lambda: outreach.start(p.owner, 987654321, body="hi", client_msg_id="b-3")).status == 404
    # A customer with no inbox that can reach them (an e-mail inbox only): a clear error.
    mail = make_inbox(p.workspace, name="Mail", kind=Inbox.Kind.EMAIL)
    stranded = Customer.objects.create(workspace=p.workspace, first_inbox=mail, name="只发过邮件")
    err = _error(lambda: outreach.start(p.owner, stranded.pk, body="hi", client_msg_id="b-4"))
    assert err.code == "no_channel" and err.status == 409 and str(err.message)
    # An inbox the agent does not serve.
    assert _error(lambda: outreach.start(p.owner, p.visitor.customer_id, body="hi", client_msg_id="b-5", inbox_id=mail.pk)).code == "invalid_inbox"
    _u, viewer = make_agent(p.workspace, [], username="viewer")
    assign_perm("accounts.view_all_history", _u, p.workspace)
    viewer = access.agent_actor_for(_u, p.workspace.pk)
    assert _error(lambda: outreach.start(viewer, p.visitor.customer_id, body="hi", client_msg_id="b-6")).code == "not_serving"
    assert (Conversation.objects.count(), Message.objects.count()) == before


@pytest.mark.engine_db
def test_wechat_outreach_only_inside_the_48_hour_window(personas):
    p = personas
    wx = Inbox.objects.create(workspace=p.workspace, name="公众号", kind=Inbox.Kind.WECHAT_OA)
    ChannelAccount.objects.create(inbox=wx, app_id="wxapp", token="tok123")
    assign_perm("chat.reply_in_inbox", p.agent_a_user, wx)
    customer = Customer.objects.create(workspace=p.workspace, first_inbox=wx, name="微信客户")
    Conversation.objects.create(workspace=p.workspace, inbox=wx, customer=customer, state="resolved", assignee=p.agent_a_user)
    channel_user = ChannelUser.objects.create(inbox=wx, customer=customer, external_id="openid-1",
                                              last_inbound_at=timezone.now() - timedelta(hours=72))
    before = (Conversation.objects.count(), Message.objects.count())
    err = _error(lambda: lifecycle_outreach.reach_out(p.agent_a, customer.pk, body="您好", client_msg_id="wx-1"))
    assert err.code == "reply_window_closed" and err.status == 409
    assert (Conversation.objects.count(), Message.objects.count()) == before
    ChannelUser.objects.filter(pk=channel_user.pk).update(last_inbound_at=timezone.now() - timedelta(hours=2))
    conversation, message = lifecycle_outreach.reach_out(p.agent_a, customer.pk, body="您好", client_msg_id="wx-2")
    assert conversation.inbox_id == wx.pk and conversation.assignee_id == p.agent_a_user.pk
    assert OutboundMessage.objects.get(message=message).channel_user_id == channel_user.pk  # on its way to WeChat


# --- the console ----------------------------------------------------------------------------------


def test_console_customer_list_page_and_forms(personas, client):
    p = personas
    send(p.visitor, "hi")
    Customer.objects.filter(pk=p.visitor.customer_id).update(name="王小明", attributes={"phone": "13800001111"})
    web = verified_client(p.agent_a_user, client)
    page = web.get("/console/customers/?q=1380000")
    assert page.status_code == 200 and "王小明" in page.content.decode()
    assert "王小明" not in web.get("/console/customers/?q=nobody").content.decode()
    url = f"/console/customers/{p.visitor.customer_id}/"
    assert web.get(url).status_code == 200
    assert web.post(f"{url}notes/", {"text": "爱喝奶茶"}).status_code == 302
    assert "爱喝奶茶" in web.get(url).content.decode()
    assert web.post(f"{url}level/", {"level": "5"})["Location"] == url
    assert Customer.objects.get(pk=p.visitor.customer_id).vip_level == 5
    refused = web.post(f"{url}contact/", {"body": "在吗", "client_msg_id": "form-1"})  # the open conversation: reply there
    open_id = Conversation.objects.get(customer_id=p.visitor.customer_id).pk
    assert refused.status_code == 409 and f"#{open_id}" in refused.content.decode()
    other = web.get(f"/console/customers/{p.other_visitor.customer_id}/")
    assert other.status_code == 404
