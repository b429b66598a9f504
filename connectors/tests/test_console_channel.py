"""The console on a WeChat conversation: the channel badge, what is left of WeChat's reply window,
each agent message's delivery state with WeChat's reason, and the retry button."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from chat.models import Inbox
from conftest import make_agent, make_inbox, make_visitor, make_workspace, send, verified_client
from connectors import payloads
from connectors.models import ChannelAccount, ChannelUser, OutboundMessage

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat():
    workspace = make_workspace()
    inbox = make_inbox(workspace, kind=Inbox.Kind.WECHAT_OA, name="公众号")
    acc = ChannelAccount(inbox=inbox, app_id="wx5823bf96d3bd56c7", token="QDG6eK")
    acc.app_secret = "0123456789abcdef0123456789abcdef"
    acc.save()
    user, membership = make_agent(workspace, [inbox])
    visitor, _token = make_visitor(inbox)
    first, _ = send(visitor, "你好")
    channel_user = ChannelUser.objects.create(inbox=inbox, customer_id=visitor.customer_id, external_id="oia2Tjjewbm",
                                              last_inbound_at=timezone.now() - timedelta(minutes=30))
    return inbox, first.conversation, channel_user, user, membership


def agent_says(user, actor, conversation, body):
    message, _ = send(actor, body, conversation_id=conversation.pk)
    return message


def test_the_header_shows_the_channel_and_the_reply_window(chat):
    inbox, conversation, _cu, user, _m = chat
    html = verified_client(user).get(f"/console/c/{conversation.pk}/pane/").content.decode()
    assert 'data-channel="wechat_oa"' in html and "公众号" in html  # zh-Hans, the default language
    assert "还可回复 47 小时 / 5 条" in html


def test_a_web_conversation_has_no_channel_facts(personas):
    p = personas
    message, _ = send(p.visitor, "hello")
    html = verified_client(p.agent_a_user).get(f"/console/c/{message.conversation_id}/pane/").content.decode()
    assert "data-channel" not in html and "msg__delivery" not in html


def test_the_reply_window_counts_hours_and_replies():
    now = timezone.now()
    acc = ChannelAccount(reply_window_hours=48, replies_per_message=5)
    fresh = ChannelUser(last_inbound_at=now - timedelta(hours=1), replies_since_inbound=2)
    assert payloads.reply_window(acc, fresh, now) | {"text": ""} == payloads.reply_window(acc, fresh, now) | {"text": ""}
    facts = payloads.reply_window(acc, fresh, now)
    assert facts["open"] and facts["hours_left"] == 47 and facts["replies_left"] == 3
    late = payloads.reply_window(acc, ChannelUser(last_inbound_at=now - timedelta(hours=47, minutes=40)), now)
    assert late["open"] and late["text"] == "还可回复 20 分钟 / 5 条"
    closed = payloads.reply_window(acc, ChannelUser(last_inbound_at=now - timedelta(hours=49)), now)
    assert not closed["open"] and "回复窗口已关闭" in closed["text"]
    used_up = payloads.reply_window(acc, ChannelUser(last_inbound_at=now, replies_since_inbound=5), now)
    assert not used_up["open"] and "已达回复上限" in used_up["text"]
    never = payloads.reply_window(acc, None, now)
    assert not never["open"]


def test_each_agent_message_shows_its_delivery_state_in_one_query(chat):
    inbox, conversation, _cu, user, membership = chat
    sent = agent_says(user, membership, conversation, "已发货")
    failed = agent_says(user, membership, conversation, "还在吗")
    queued = agent_says(user, membership, conversation, "稍等")
    OutboundMessage.objects.filter(message=sent).update(state="sent")
    OutboundMessage.objects.filter(message=failed).update(state="failed", errcode=45015,
                                                          error="The customer has not written for 48 hours")
    client = verified_client(user)
    with CaptureQueriesContext(connection) as queries:
        html = client.get(f"/console/c/{conversation.pk}/messages/?after_seq=0").content.decode()
    assert sum("connectors_outboundmessage" in q["sql"] for q in queries.captured_queries) == 1
    assert html.count("msg__delivery--sent") == 1 and html.count("msg__delivery--queued") == 1
    assert "The customer has not written for 48 hours (45015)" in html
    assert f'data-retry-message="{failed.pk}"' in html and f'data-retry-message="{queued.pk}"' not in html
    pane = client.get(f"/console/c/{conversation.pk}/pane/").content.decode()
    assert "msg__delivery--failed" in pane and "还可回复" in pane and "/ 2 条" in pane  # three of five taken


def test_retry_sends_a_failed_message_again(chat):
    inbox, conversation, _cu, user, membership = chat
    failed = agent_says(user, membership, conversation, "还在吗")
    OutboundMessage.objects.filter(message=failed).update(state="failed", errcode=-1, error="WeChat was busy")
    client = verified_client(user)
    client.get("/console/")  # the console remembers the workspace in the session
    response = client.post(reverse("connectors:outbound-retry", args=[failed.pk]))
    assert response.status_code == 200 and "msg__delivery--queued" in response.content.decode()
    assert OutboundMessage.objects.get(message=failed).state == "queued"
    again = client.post(reverse("connectors:outbound-retry", args=[failed.pk]))
    assert again.status_code == 409 and again.json()["error"]["code"] == "not_failed"


def test_retry_is_refused_to_whoever_may_not_reply(chat):
    inbox, conversation, _cu, user, membership = chat
    failed = agent_says(user, membership, conversation, "还在吗")
    OutboundMessage.objects.filter(message=failed).update(state="failed", errcode=-1, error="busy")
    stranger, _ = make_agent(make_workspace(), [])
    response = verified_client(stranger).post(reverse("connectors:outbound-retry", args=[failed.pk]))
    assert response.status_code == 404
    assert OutboundMessage.objects.get(message=failed).state == "failed"
