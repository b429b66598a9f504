"""Agent messages to WeChat, against the simulator running as a real process: written with the
message, sent exactly once through token expiry, busy answers and outages, failed (not retried)
on permanent errors, refused up front outside WeChat's reply rules."""

import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from chat import uploads
from chat.models import Inbox, Message
from conftest import make_agent, send
from routing.models import AgentPresence
from connectors import inbound, outbound
from connectors.base import InboundItem
from connectors.models import ChannelAccount, ChannelUser, OutboundMessage
from connectors.tests.factories import APP_ID, make_channel_inbox
from connectors.tests import simulator_fixture
from connectors.tests.simulator_fixture import wait_until
from helpdesk.errors import DomainError
from lifecycle import followups
from lifecycle.models import FollowUp

simulator_process, wechat_sim = simulator_fixture.simulator_process, simulator_fixture.wechat_sim  # the fixtures
pytestmark = pytest.mark.django_db(transaction=True)

OPENID = "o6_bmjrPTlm6_2sgVt7hMZOPfL2M"


@pytest.fixture
def deferred(settings):
    """Jobs are written but run only when the test says so."""
    settings.FOLLOWUPS = {**settings.FOLLOWUPS, "EAGER": False, "SYNC": False}


@pytest.fixture
def chat(wechat_sim, deferred):
    return make_chat()


def make_chat(kind=Inbox.Kind.WECHAT_OA, **account):
    class Chat:
        pass

    c = Chat()
    c.inbox = make_channel_inbox(kind=kind, **account)
    acc = c.inbox.channel_account
    acc.app_secret = "sim-secret"
    acc.save()
    c.account = acc
    c.user, c.agent = make_agent(c.inbox.workspace, [c.inbox])
    # On duty but full: the chat queues with no "nobody can serve" line, which would go out to WeChat too.
    AgentPresence.objects.create(workspace=c.inbox.workspace, user=c.user, status="online", capacity=0)
    c.customer_message = customer_writes(c.inbox)
    c.conversation = c.customer_message.conversation
    c.channel_user = ChannelUser.objects.get(inbox=c.inbox, external_id=OPENID)
    return c


def customer_writes(inbox, text="你好", openid=OPENID):
    return inbound.receive(inbox, InboundItem(external_id=openid, dedupe_key=f"m{time.monotonic_ns()}", kind="text", text=text,
                                              sent_at=int(time.time())))


def reply(c, body="您好,请问有什么可以帮您?", **kwargs):
    message, _created = send(c.agent, body, conversation_id=c.conversation.pk, **kwargs)
    return message


def job_for(message):
    outbound_id = OutboundMessage.objects.get(message=message).pk
    return FollowUp.objects.get(kind=FollowUp.Kind.CHANNEL_SEND, data__outbound=outbound_id)


def state_of(message):
    row = OutboundMessage.objects.get(message=message)
    return row.state, row.errcode


def text_sends(sim):
    return [body["text"]["content"] for body in sim.custom_sends() if body["msgtype"] == "text"]


@pytest.mark.engine_db
def test_a_reply_is_written_with_the_message_and_sent_exactly_once(chat, wechat_sim):
    message = reply(chat, "您好")
    job = job_for(message)
    assert state_of(message) == ("queued", None) and job.state == "pending"
    assert wechat_sim.custom_sends() == []  # nothing leaves before the job runs
    assert followups.run(job.pk) is True
    assert state_of(message) == ("sent", None)
    assert followups.run(job.pk) is False  # done: never again
    assert wechat_sim.custom_sends() == [{"touser": OPENID, "msgtype": "text", "text": {"content": "您好"}}]
    second = reply(chat, "还在吗")
    followups.run(job_for(second).pk)
    assert text_sends(wechat_sim) == ["您好", "还在吗"]
    assert wechat_sim.token_fetches() == {f"oa:{APP_ID}": 1}  # one token, kept in the AccessToken row


@pytest.mark.engine_db
def test_a_token_expired_mid_send_is_refreshed_and_the_message_sent_once(chat, wechat_sim):
    first = reply(chat, "一")
    followups.run(job_for(first).pk)
    wechat_sim.expire_tokens()  # WeChat ended the token early: our row still says it is fresh
    second = reply(chat, "二")
    assert followups.run(job_for(second).pk) is True
    assert state_of(second) == ("sent", None)
    assert text_sends(wechat_sim) == ["一", "二"]
    assert wechat_sim.token_fetches() == {f"oa:{APP_ID}": 2}
    assert ["/cgi-bin/message/custom/send", 42001] in wechat_sim.stats()["calls"]


@pytest.mark.engine_db
def test_system_busy_is_retried_and_sent_once(chat, wechat_sim):
    wechat_sim.fail(code=-1, times=1, path="custom/send")
    message = reply(chat, "稍等")
    job = job_for(message)
    assert followups.run(job.pk) is False
    assert state_of(message) == ("queued", -1)  # kept, with what WeChat said
    job.refresh_from_db()
    assert (job.state, job.attempts) == ("pending", 1) and job.run_after > timezone.now()  # backoff
    assert wechat_sim.custom_sends() == []
    assert followups.run_due(now=job.run_after + timedelta(seconds=1)) == 1
    assert state_of(message) == ("sent", None)
    assert text_sends(wechat_sim) == ["稍等"]


@pytest.mark.engine_db
@pytest.mark.parametrize("mode", ["close", "503"])
def test_wechat_down_keeps_the_message_queued_until_it_is_back(chat, wechat_sim, mode):
    message = reply(chat, "在的")
    job = job_for(message)
    wechat_sim.down(mode)
    assert followups.run(job.pk) is False
    assert followups.run(job.pk) is False  # still down (the test drives the runner; no waiting on the backoff)
    assert state_of(message)[0] == "queued"
    assert OutboundMessage.objects.get(message=message).error  # the agent can see why it waits
    wechat_sim.up()
    assert wait_until(lambda: followups.run(job.pk) or state_of(message)[0] == "sent")
    assert state_of(message) == ("sent", None)
    assert text_sends(wechat_sim) == ["在的"]


@pytest.mark.engine_db
def test_a_transient_failure_on_the_last_attempt_marks_it_failed(chat, wechat_sim, settings):
    settings.FOLLOWUPS = {**settings.FOLLOWUPS, "MAX_ATTEMPTS": 2}
    wechat_sim.down()
    message = reply(chat)
    job = job_for(message)
    followups.run(job.pk)
    assert state_of(message)[0] == "queued"
    followups.run(job.pk)
    row = OutboundMessage.objects.get(message=message)
    assert (row.state, row.attempts) == ("failed", 2) and "无法连接微信" in row.error  # zh-Hans, the default language


@pytest.mark.engine_db
def test_a_permanent_error_fails_with_its_code_and_is_not_retried(chat, wechat_sim):
    wechat_sim.fail(code=45015, times=1, path="custom/send")
    message = reply(chat, "晚了")
    job = job_for(message)
    assert followups.run(job.pk) is True  # the job is done: WeChat answered, there is nothing to retry
    row = OutboundMessage.objects.get(message=message)
    assert (row.state, row.errcode, row.attempts) == ("failed", 45015, 1)
    assert "48 小时" in row.error
    job.refresh_from_db()
    assert job.state == "done" and followups.run_due(now=timezone.now() + timedelta(hours=1)) == 0
    assert wechat_sim.custom_sends() == []


@pytest.mark.engine_db
def test_the_agent_can_send_a_failed_message_again(chat, wechat_sim):
    wechat_sim.fail(code=45047, times=1, path="custom/send")
    message = reply(chat, "再试一次")
    followups.run(job_for(message).pk)
    assert state_of(message) == ("failed", 45047)
    _other_user, outsider = make_agent(chat.inbox.workspace, [])
    with pytest.raises(DomainError) as refused:
        outbound.retry(outsider, message.pk)
    assert refused.value.status == 404  # not theirs to see
    with pytest.raises(DomainError) as not_failed:
        outbound.retry(chat.agent, reply(chat, "另一条").pk)
    assert not_failed.value.code == "not_failed"
    outbound.retry(chat.agent, message.pk)
    assert state_of(message) == ("queued", None)
    followups.run(FollowUp.objects.filter(kind=FollowUp.Kind.CHANNEL_SEND, state="pending",
                                          data__outbound=OutboundMessage.objects.get(message=message).pk).latest("pk").pk)
    assert state_of(message) == ("sent", None)
    assert "再试一次" in text_sends(wechat_sim)


def _nothing_stored(c, before):
    assert Message.objects.filter(conversation=c.conversation).count() == before
    assert not OutboundMessage.objects.exists() and not FollowUp.objects.filter(kind=FollowUp.Kind.CHANNEL_SEND).exists()


@pytest.mark.engine_db
def test_outside_the_48_hour_window_the_send_is_refused_and_nothing_stored(chat):
    ChannelUser.objects.filter(pk=chat.channel_user.pk).update(last_inbound_at=timezone.now() - timedelta(hours=48, minutes=1))
    before = Message.objects.filter(conversation=chat.conversation).count()
    with pytest.raises(DomainError) as refused:
        reply(chat, "太晚了")
    assert (refused.value.code, refused.value.status) == ("reply_window_closed", 409)
    assert "48 小时" in str(refused.value.message)
    _nothing_stored(chat, before)


@pytest.mark.engine_db
def test_the_reply_limit_is_enforced_until_the_customer_writes_again(wechat_sim, deferred):
    c = make_chat(replies_per_message=2)
    reply(c, "一")
    reply(c, "二")
    before = Message.objects.filter(conversation=c.conversation).count()
    with pytest.raises(DomainError) as refused:
        reply(c, "三")
    assert (refused.value.code, refused.value.status) == ("reply_limit_reached", 409)
    assert "回复 2 条" in str(refused.value.message)
    assert Message.objects.filter(conversation=c.conversation).count() == before
    assert OutboundMessage.objects.count() == 2 and ChannelUser.objects.get(pk=c.channel_user.pk).replies_since_inbound == 2
    time.sleep(1.01)  # WeChat's CreateTime has whole seconds: the next message is later
    customer_writes(c.inbox, "还有问题")
    reply(c, "三")
    assert OutboundMessage.objects.count() == 3


def test_private_notes_and_web_inboxes_send_nothing(chat, personas):
    reply(chat, "内部备注", is_private=True)
    send(personas.agent_a, "web", conversation_id=send(personas.visitor, "hi")[0].conversation_id)
    assert not OutboundMessage.objects.exists()


def test_an_agent_cannot_write_to_a_wechat_chat_nobody_can_receive(chat):
    ChannelUser.objects.all().delete()
    with pytest.raises(DomainError) as refused:
        reply(chat, "喂")
    assert refused.value.code == "channel_user_unknown"


def test_an_image_is_uploaded_as_temporary_media_then_sent(chat, wechat_sim, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    jpeg = wechat_sim.media("sim-image-jpeg")
    attachment = uploads.store_upload(chat.agent, SimpleUploadedFile("photo.jpg", jpeg, content_type="image/jpeg"))
    message = reply(chat, "", msg_type="image", attachments=[attachment])
    followups.run(job_for(message).pk)
    assert state_of(message) == ("sent", None)
    [upload] = wechat_sim.sent("media/upload")
    assert upload["body"]["type"] == "image" and upload["body"]["size"] == len(jpeg)
    assert wechat_sim.custom_sends() == [{"touser": OPENID, "msgtype": "image", "image": {"media_id": upload["media_id"]}}]


def test_a_part_delivered_before_a_failure_is_not_sent_again(chat, wechat_sim, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    attachment = uploads.store_upload(chat.agent, SimpleUploadedFile("p.jpg", wechat_sim.media("sim-image-jpeg"), content_type="image/jpeg"))
    message = reply(chat, "图片说明", msg_type="image", attachments=[attachment])
    job = job_for(message)
    wechat_sim.fail(code=-1, times=1, path="custom/send")
    followups.run(job.pk)  # the image upload works, its send is busy
    followups.run(job.pk)  # image sent, then the caption
    assert state_of(message) == ("sent", None)
    assert [body["msgtype"] for body in wechat_sim.custom_sends()] == ["image", "text"]


def test_a_mini_program_card_is_sent_as_a_page(wechat_sim, deferred, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    c = make_chat(kind=Inbox.Kind.WECHAT_MP)
    thumb = uploads.store_upload(c.agent, SimpleUploadedFile("t.jpg", wechat_sim.media("sim-image-jpeg"), content_type="image/jpeg"))
    message = reply(c, "看看这个订单", msg_type="card", attachments=[{"url": "/pages/order/detail?id=7", "name": "订单 7", "image": thumb["url"]}])
    followups.run(job_for(message).pk)
    [card] = wechat_sim.custom_sends()
    assert card["msgtype"] == "miniprogrampage"
    assert card["miniprogrampage"]["pagepath"] == "pages/order/detail?id=7" and card["miniprogrampage"]["title"] == "订单 7"


def test_a_bot_line_outside_the_rules_is_simply_not_delivered(chat):
    ChannelUser.objects.filter(pk=chat.channel_user.pk).update(last_inbound_at=timezone.now() - timedelta(days=3))
    account = ChannelAccount.objects.get(pk=chat.account.pk)
    assert account.reply_window_hours == 48
    bot_line = Message.objects.create(conversation=chat.conversation, seq=999, sender_kind="bot", sender_key="bot", body="自动回复")
    assert outbound.enqueue(chat.conversation, bot_line) is None


def test_states_for_lists_the_delivery_state_of_messages(chat):
    message = reply(chat, "查询状态")
    assert outbound.states_for([message.pk, chat.customer_message.pk]) == {
        message.pk: {"state": "queued", "errcode": None, "error": ""}}
