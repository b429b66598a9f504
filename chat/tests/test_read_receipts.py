"""Read receipts (issue 19, item 2): the stored read positions reach both sides live and on every
resume, and the console renders 已读/未读 on the agents' replies from them."""

import json

import pytest
from channels.db import database_sync_to_async as sync_to_async  # closes its DB connection after use
from guardian.shortcuts import assign_perm

from chat import messages as chat_messages
from chat.models import Inbox, ReadState
from chat.tests.wsutil import connect_agent, connect_customer, frames_until, send_json
from conftest import make_inbox, make_visitor, send, verified_client

pytestmark = pytest.mark.usefixtures("agents_on_duty_but_full")  # seqs here: no nobody-can-serve line (lifecycle.flow)

read_states = sync_to_async(lambda conversation_id: dict(
    ReadState.objects.filter(conversation_id=conversation_id).values_list("participant_key", "last_read_seq")))


@pytest.mark.engine_db
@pytest.mark.django_db(transaction=True)
async def test_each_side_gets_the_others_read_position_live_and_on_resume(personas):
    p = personas
    customer = await connect_customer(p.visitor_token)
    agent = await connect_agent(p.agent_a_user)
    await send_json(customer, {"type": "send", "client_msg_id": "c1", "body": "在吗？"})
    ack, _ = await frames_until(customer, "ack")
    cid = ack["message"]["conversation_id"]

    # Nobody has read anything: both resumes say 0.
    await send_json(customer, {"type": "resume", "conversation_id": cid, "after_seq": 0})
    assert (await frames_until(customer, "messages"))[0]["peer_read_seq"] == 0
    await send_json(agent, {"type": "resume", "conversation_id": cid, "after_seq": 0})
    assert (await frames_until(agent, "messages"))[0]["peer_read_seq"] == 0

    # The agent opens the chat: stored, and the customer hears of it at once.
    await send_json(agent, {"type": "read", "conversation_id": cid, "seq": 1})
    await frames_until(agent, "read.ok")
    read, _ = await frames_until(customer, "read")
    assert (read["reader"]["kind"], read["seq"]) == ("agent", 1)
    assert await read_states(cid) == {f"u:{p.agent_a_user.pk}": 1}

    # The agent replies; the customer reads it: the agent hears of it.
    await send_json(agent, {"type": "send", "client_msg_id": "a1", "conversation_id": cid, "body": "在的"})
    await frames_until(agent, "ack")
    await send_json(customer, {"type": "read", "conversation_id": cid, "seq": 2})
    read, _ = await frames_until(agent, "read")
    assert (read["reader"]["kind"], read["seq"]) == ("customer", 2)
    assert await read_states(cid) == {f"u:{p.agent_a_user.pk}": 1, f"c:{p.visitor.customer_id}": 2}
    await customer.disconnect()
    await agent.disconnect()

    # Live events may be dropped: a reconnecting client gets the other side's position on resume.
    customer = await connect_customer(p.visitor_token)
    await send_json(customer, {"type": "resume", "conversation_id": cid, "after_seq": 2})
    batch, _ = await frames_until(customer, "messages")
    assert (batch["messages"], batch["peer_read_seq"]) == ([], 1)
    agent = await connect_agent(p.agent_a_user)
    await send_json(agent, {"type": "resume", "conversation_id": cid, "after_seq": 2})
    assert (await frames_until(agent, "messages"))[0]["peer_read_seq"] == 2
    await customer.disconnect()
    await agent.disconnect()


@pytest.mark.django_db
def test_customer_sees_the_furthest_agent_position_and_reads_never_move_back(personas):
    p = personas
    message, _ = send(p.visitor, "one")
    cid = message.conversation_id
    send(p.visitor, "two")
    send(p.visitor, "three")
    chat_messages.mark_read(p.owner, cid, 3)
    chat_messages.mark_read(p.agent_a, cid, 1)
    chat_messages.mark_read(p.agent_a, cid, 0)  # an older position arriving late changes nothing
    assert ReadState.objects.get(conversation_id=cid, participant_key=f"u:{p.agent_a_user.pk}").last_read_seq == 1
    conversation = message.conversation
    assert chat_messages.peer_read_seq(p.visitor, conversation) == 3  # any agent: the furthest
    assert chat_messages.peer_read_seq(p.agent_a, conversation) == 0  # the customer read nothing


@pytest.mark.django_db
def test_http_resume_carries_the_read_position(personas, client):
    p = personas
    message, _ = send(p.visitor, "hello")
    cid = message.conversation_id
    chat_messages.mark_read(p.agent_a, cid, 1)
    answer = client.get(f"/api/v1/conversations/{cid}/messages?after_seq=1", HTTP_AUTHORIZATION=f"Customer {p.visitor_token}")
    assert answer.status_code == 200 and answer.json()["peer_read_seq"] == 1
    agent = verified_client(p.agent_a_user)
    assert agent.get(f"/api/v1/conversations/{cid}/messages").json()["peer_read_seq"] == 0


@pytest.mark.django_db
def test_console_marks_agent_replies_read_or_unread(personas):
    p = personas
    message, _ = send(p.visitor, "请问发货了吗")
    cid = message.conversation_id
    first, _ = send(p.agent_a, "已经发货", conversation_id=cid)
    second, _ = send(p.agent_a, "单号稍后发您", conversation_id=cid)
    send(p.agent_a, "内部备注", conversation_id=cid, is_private=True)
    chat_messages.mark_read(p.visitor, cid, first.seq)
    agent = verified_client(p.agent_a_user)

    pane = agent.get(f"/console/c/{cid}/pane/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert pane.count('class="msg__receipt"') == 2  # the two replies; not the customer's line, not the note
    assert f'data-seq="{first.seq}"' in pane
    assert '<span class="msg__receipt" data-receipt="read">已读</span>' in pane
    assert '<span class="msg__receipt" data-receipt="unread">未读</span>' in pane

    # The live update renders with the position of the moment (the same partial).
    chat_messages.mark_read(p.visitor, cid, second.seq)
    live = agent.get(f"/console/c/{cid}/messages/?after_seq={first.seq}", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert live.count('data-receipt="read"') == 1 and 'data-receipt="unread"' not in live
    older = agent.get(f"/console/c/{cid}/history/?before_seq={second.seq + 1}", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert older.count('data-receipt="read">已读') == 2


@pytest.mark.django_db
def test_wechat_inboxes_show_no_read_marks(personas):
    p = personas
    inbox = make_inbox(p.workspace, name="公众号")
    assign_perm("chat.reply_in_inbox", p.owner_user, inbox)
    visitor, _ = make_visitor(inbox)
    message, _ = send(visitor, "你好")
    send(p.owner, "您好", conversation_id=message.conversation_id)
    Inbox.objects.filter(pk=inbox.pk).update(kind=Inbox.Kind.WECHAT_OA)  # (a WeChat send needs the channel's user: not the point here)
    pane = verified_client(p.owner_user).get(f"/console/c/{message.conversation_id}/pane/").content.decode()
    assert "msg__receipt" not in pane


@pytest.mark.django_db
def test_widget_texts_name_both_marks(personas, client):
    page = client.get(f"/widget/chat/?inbox={personas.inbox_a.public_key}", HTTP_ACCEPT_LANGUAGE="zh-hans")
    texts = json.loads(page.content.decode().split('id="w-texts">', 1)[1].split("</script>", 1)[0])
    assert (texts["read"], texts["unread"]) == ("已读", "未读")

