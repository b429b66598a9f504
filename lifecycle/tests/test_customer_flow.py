"""One coherent customer flow (issue 19 item 1): exactly one clear line per situation, in order.

The welcome greets before the customer's first message; then one line says what happens now:
assigned ("客服 X 为您服务"), queued with someone on duty (the queue line), nobody can serve (the
hosting message where hosting speaks now, else the generic line), each of the last two offering
the contact form (留下联系方式). Never a queue position when nobody is on duty, never a hosting line
on top of a queue line, never the generic line on top of hosting. Plus: leaving contact details,
and a rating's labelled reasons."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditLog
from chat import profile, ratings
from chat.models import Conversation, ConversationEvent, Message, SatisfactionRating
from conftest import make_visitor, send
from helpdesk.errors import DomainError
from replies.models import ReplySettings
from routing import actions as routing
from routing.models import AgentPresence

pytestmark = pytest.mark.django_db(transaction=True)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NIGHT = datetime(2026, 11, 23, 23, 0, tzinfo=SHANGHAI)  # a Monday, inside the 22:00-08:00 hosting window
DAY = datetime(2026, 11, 23, 11, 0, tzinfo=SHANGHAI)
WELCOME, QUEUE, HOSTING = "您好，欢迎光临！", "您前面还有 {position} 位，请稍候。", "夜间客服已下班，请留下您的问题，明早第一时间回复。"
GENERIC = "我们暂时不在线。请留下您的问题和联系方式，我们回来后会尽快回复您。"


@pytest.fixture
def say(django_capture_on_commit_callbacks):
    def run(actor, body, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return send(actor, body, **kwargs)
    return run


@pytest.fixture
def replies(personas):
    return ReplySettings.objects.create(workspace=personas.workspace, welcome_message=WELCOME, queue_message=QUEUE, hosting_enabled=True,
                                        hosting_message=HOSTING, hosting_start=time(22, 0), hosting_end=time(8, 0), hosting_limit_minutes=60)


def transcript(conversation_id):
    """(sender kind, text, offers the contact form) of every line the customer sees, in order."""
    rows = Message.objects.filter(conversation_id=conversation_id, is_private=False).order_by("seq").values_list("sender_kind", "body", "attachments")
    return [(kind, body, any(a.get("choice") == "contact" for a in attachments)) for kind, body, attachments in rows]


def on_duty(user, workspace, capacity):
    AgentPresence.objects.create(workspace=workspace, user=user, status="online", capacity=capacity)


def test_at_night_with_nobody_on_duty_the_hosting_line_alone(personas, replies, say):
    with time_machine.travel(NIGHT, tick=False) as clock:
        first, _ = say(personas.visitor, "在吗？")
        assert transcript(first.conversation_id) == [("bot", WELCOME, False), ("customer", "在吗？", False), ("bot", HOSTING, True)]
        clock.shift(timedelta(minutes=2))
        say(personas.visitor, "我的快递到哪了", conversation_id=first.conversation_id)
        assert transcript(first.conversation_id)[3:] == [("customer", "我的快递到哪了", False)]  # nothing more: said once in the limit
    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert conversation.state == Conversation.State.QUEUED and conversation.assignee_id is None  # the first agent online gets it


def test_in_the_day_with_nobody_on_duty_the_generic_line_alone(personas, replies, say):
    with time_machine.travel(DAY, tick=False):
        first, _ = say(personas.visitor, "你好")
    assert transcript(first.conversation_id) == [("bot", WELCOME, False), ("customer", "你好", False), ("bot", GENERIC, True)]


def test_someone_on_duty_but_full_the_queue_line_alone_even_at_night(personas, replies, say):
    on_duty(personas.agent_a_user, personas.workspace, capacity=0)
    with time_machine.travel(NIGHT, tick=False) as clock:
        first, _ = say(personas.visitor, "在吗？")
        clock.shift(timedelta(minutes=2))
        say(personas.visitor, "还在吗", conversation_id=first.conversation_id)
    assert transcript(first.conversation_id) == [
        ("bot", WELCOME, False), ("customer", "在吗？", False), ("bot", "您前面还有 1 位，请稍候。", False), ("customer", "还在吗", False)]


def test_assigned_at_once_the_agent_is_named(personas, replies, say):
    on_duty(personas.agent_a_user, personas.workspace, capacity=5)
    personas.agent_a_user.memberships.update(display_name="小李")
    with time_machine.travel(NIGHT, tick=False):
        first, _ = say(personas.visitor, "在吗？")
    assert transcript(first.conversation_id) == [("bot", WELCOME, False), ("customer", "在吗？", False), ("system", "客服 小李 为您服务", False)]
    assert Conversation.objects.get(pk=first.conversation_id).assignee_id == personas.agent_a_user.pk


def test_a_claim_names_the_agent_a_transfer_says_its_own_line(personas, replies, say, django_capture_on_commit_callbacks):
    on_duty(personas.agent_a_user, personas.workspace, capacity=0)
    with time_machine.travel(DAY, tick=False):
        first, _ = say(personas.visitor, "你好")
    AgentPresence.objects.filter(user=personas.agent_a_user).update(capacity=5)
    with django_capture_on_commit_callbacks(execute=True):
        routing.claim(personas.agent_a, first.conversation_id)
    assert transcript(first.conversation_id)[-1] == ("system", "客服 agent_a 为您服务", False)


def test_outside_business_hours_one_line_and_a_message_for_later(personas, say):
    personas.inbox_a.business_hours = {"timezone": "Asia/Shanghai", "weekly": {"mon": [["09:00", "18:00"]]}, "holidays": []}
    personas.inbox_a.save()
    on_duty(personas.agent_a_user, personas.workspace, capacity=5)
    with time_machine.travel(NIGHT, tick=False):
        first, _ = say(personas.visitor, "在吗？")
    conversation = Conversation.objects.get(pk=first.conversation_id)
    assert (conversation.state, conversation.is_leave_message) == (Conversation.State.PENDING, True)
    assert transcript(first.conversation_id) == [("customer", "在吗？", False), ("bot", GENERIC, True)]


def test_the_customer_leaves_contact_details_once_checked(personas, replies, say):
    with time_machine.travel(DAY, tick=False):
        first, _ = say(personas.visitor, "你好")
    cid = first.conversation_id
    bad = [({"phone": "", "wechat": ""}, {"phone", "wechat"}), ({"phone": "call me", "wechat": ""}, {"phone"}),
           ({"phone": "", "wechat": "1abc"}, {"wechat"}), ({"phone": 13800138000}, {"phone"}), ({"phone": "+86 138\x00"}, {"phone"})]
    for data, fields in bad:
        with pytest.raises(DomainError) as refused:
            profile.leave_contact(personas.visitor, cid, **data)
        assert refused.value.code == "invalid_contact" and set(refused.value.fields) == fields, data
    other, _token = make_visitor(personas.inbox_a)
    for actor, code in ((other, "not_found"), (personas.agent_a, "forbidden")):
        with pytest.raises(DomainError) as refused:
            profile.leave_contact(actor, cid, phone="13800138000")
        assert refused.value.code == code
    assert not ConversationEvent.objects.filter(kind=ConversationEvent.Kind.CONTACT_LEFT).exists()
    with CaptureQueriesContext(connection) as queries:
        customer = profile.leave_contact(personas.visitor, cid, phone=" 138-0013-8000 ", wechat="shop_fan88")
    assert len(queries) <= 14
    assert (customer.attributes["contact_phone"], customer.attributes["contact_wechat"]) == ("138-0013-8000", "shop_fan88")
    event = ConversationEvent.objects.get(conversation_id=cid, kind=ConversationEvent.Kind.CONTACT_LEFT)
    assert event.data == {"contact_phone": "138-0013-8000", "contact_wechat": "shop_fan88"}
    note = Message.objects.filter(conversation_id=cid, is_private=True).get()
    assert "138-0013-8000" in note.body and "shop_fan88" in note.body  # for the agents only
    assert not AuditLog.objects.exists()


def test_a_rating_carries_reasons_of_its_own_side(personas, say):
    first, _ = say(personas.visitor, "你好")
    Conversation.objects.filter(pk=first.conversation_id).update(state=Conversation.State.RESOLVED)
    for rating, reasons in ((5, ["slow"]), (2, ["quick"]), (4, ["nonsense"]), (3, "slow"), (1, [["slow"]])):
        with pytest.raises(DomainError) as refused:
            ratings.rate_conversation(personas.visitor, first.conversation_id, rating, "", reasons)
        assert refused.value.code == "invalid_reasons", (rating, reasons)
    assert not SatisfactionRating.objects.exists()
    rated = ratings.rate_conversation(personas.visitor, first.conversation_id, 2, "等了很久", ["unsolved", "slow", "slow"])
    assert rated.reasons == ["slow", "unsolved"] and str(ratings.LABELS[2]) == "不满意"
    event = ConversationEvent.objects.get(conversation_id=first.conversation_id, kind=ConversationEvent.Kind.RATED)
    assert event.data == {"rating": 2, "reasons": ["slow", "unsolved"]}


def test_a_bot_first_chat_gets_the_welcome_then_the_bot(personas, replies, say):
    personas.inbox_a.bot_first = True
    personas.inbox_a.save()
    with time_machine.travel(NIGHT, tick=False):
        first, _ = say(personas.visitor, "营业时间？")
    lines = transcript(first.conversation_id)
    assert lines[:2] == [("bot", WELCOME, False), ("customer", "营业时间？", False)]
    assert all(kind == "bot" and text not in (HOSTING, GENERIC) for kind, text, _offer in lines[2:])  # the bot speaks, not hosting
    assert Conversation.objects.get(pk=first.conversation_id).state == Conversation.State.BOT
