"""Hosting (托管) with a controllable clock: windows crossing midnight, weekdays, time zones,
business hours, the once-per-M-minutes limit, and the no-answer timeout an agent's reply cancels."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from chat import states
from chat.models import Conversation, ConversationEvent, Deadline, Message, SenderKind
from conftest import make_visitor, verified_client
from lifecycle import worker
from replies.hosting import in_window
from replies.models import AutoReplyRule, ReplySettings
from routing import actions as routing

SHANGHAI = ZoneInfo("Asia/Shanghai")
NIGHT = "夜间客服已下班，您的留言我们明早 8 点后第一时间回复。"


def at(year, month, day, hour, minute=0, tz=SHANGHAI):
    return datetime(year, month, day, hour, minute, tzinfo=tz)


# 2026-11-23 is a Monday.
@pytest.mark.parametrize("moment,weekdays,expected", [
    (at(2026, 11, 23, 21, 59), [0], False),
    (at(2026, 11, 23, 22, 0), [0], True),
    (at(2026, 11, 23, 23, 30), [0], True),
    (at(2026, 11, 24, 0, 30), [0], True),      # Tuesday after midnight: still Monday's window
    (at(2026, 11, 24, 7, 59), [0], True),
    (at(2026, 11, 24, 8, 0), [0], False),      # the end is exclusive
    (at(2026, 11, 24, 23, 0), [0], False),     # Tuesday's own window is not chosen
    (at(2026, 11, 23, 2, 0), [6], True),       # Monday 02:00 belongs to Sunday's window
    (at(2026, 11, 23, 2, 0), [], True),        # no weekdays: every day
    (at(2026, 11, 23, 12, 0), [], False),
])
def test_window_crossing_midnight_and_weekdays(moment, weekdays, expected):
    assert in_window(time(22, 0), time(8, 0), weekdays, moment, SHANGHAI) is expected


def test_same_day_window_and_whole_days():
    assert in_window(time(12, 0), time(13, 30), [], at(2026, 11, 23, 12, 45), SHANGHAI)
    assert not in_window(time(12, 0), time(13, 30), [], at(2026, 11, 23, 13, 30), SHANGHAI)
    assert in_window(None, None, [5, 6], at(2026, 11, 28, 15, 0), SHANGHAI)  # Saturday, all day
    assert not in_window(None, None, [5, 6], at(2026, 11, 27, 15, 0), SHANGHAI)


def test_the_same_instant_in_two_time_zones():
    instant = datetime(2026, 11, 23, 15, 0, tzinfo=ZoneInfo("UTC"))  # 23:00 in Shanghai, 10:00 in New York
    assert in_window(time(22, 0), time(8, 0), [], instant, SHANGHAI)
    assert not in_window(time(22, 0), time(8, 0), [], instant, ZoneInfo("America/New_York"))


@pytest.fixture
def night_hosting(personas):
    return ReplySettings.objects.create(workspace=personas.workspace, hosting_enabled=True, hosting_message=NIGHT,
                                        hosting_start=time(22, 0), hosting_end=time(8, 0), hosting_limit_minutes=60)


def hosting_lines(conversation_id):
    return Message.objects.filter(conversation_id=conversation_id, sender_kind=SenderKind.BOT, body=NIGHT).count()


def test_night_reply_once_within_the_limit_then_again_after_it(personas, night_hosting, say):
    with time_machine.travel(at(2026, 11, 23, 23, 0), tick=False) as clock:
        message, _ = say(personas.visitor, "在吗")
        conversation_id = message.conversation_id
        assert hosting_lines(conversation_id) == 1
        clock.shift(timedelta(minutes=30))
        say(personas.visitor, "有人吗", conversation_id=conversation_id)
        assert hosting_lines(conversation_id) == 1  # within 60 minutes: not twice
        clock.shift(timedelta(minutes=31))
        say(personas.visitor, "还是没人？", conversation_id=conversation_id)
        assert hosting_lines(conversation_id) == 2
    event = ConversationEvent.objects.filter(conversation_id=conversation_id, kind=ConversationEvent.Kind.HOSTED).first()
    assert event.data == {"kind": "hosting", "reason": "window"}


def test_no_reply_in_the_day_nor_on_other_weekdays(personas, night_hosting, say):
    night_hosting.hosting_weekdays = [4, 5]  # Friday and Saturday nights
    night_hosting.save()
    with time_machine.travel(at(2026, 11, 23, 14, 0), tick=False):  # Monday afternoon
        message, _ = say(personas.visitor, "hello")
    with time_machine.travel(at(2026, 11, 24, 23, 0), tick=False):  # Tuesday night
        say(personas.visitor, "hello?", conversation_id=message.conversation_id)
    assert hosting_lines(message.conversation_id) == 0
    with time_machine.travel(at(2026, 11, 28, 1, 0), tick=False):  # Saturday 01:00: Friday's window
        say(personas.visitor, "hello??", conversation_id=message.conversation_id)
    assert hosting_lines(message.conversation_id) == 1


def test_the_workspace_time_zone_decides(personas, night_hosting, say):
    personas.workspace.timezone = "America/New_York"
    personas.workspace.save()
    with time_machine.travel(datetime(2026, 11, 23, 15, 0, tzinfo=ZoneInfo("UTC")), tick=False):  # 10:00 in New York
        message, _ = say(personas.visitor, "hi")
    assert hosting_lines(message.conversation_id) == 0
    with time_machine.travel(datetime(2026, 11, 24, 4, 0, tzinfo=ZoneInfo("UTC")), tick=False):  # 23:00 in New York
        say(personas.visitor, "hi again", conversation_id=message.conversation_id)
    assert hosting_lines(message.conversation_id) == 1


def test_the_limit_is_per_customer_across_conversations(personas, night_hosting, say, committed):
    with time_machine.travel(at(2026, 11, 23, 23, 0), tick=False) as clock:
        first, _ = say(personas.visitor, "在吗")
        committed(states.change_state, personas.owner, first.conversation_id, Conversation.State.RESOLVED)
        clock.shift(timedelta(minutes=5))
        second, _ = say(personas.visitor, "又来了")  # reopens or starts again: same customer
        other, _ = say(make_visitor(personas.inbox_a)[0], "在吗")
    assert hosting_lines(first.conversation_id) + hosting_lines(second.conversation_id) == 1
    assert hosting_lines(other.conversation_id) == 1  # another customer has their own limit


def test_no_window_reply_while_an_agent_is_talking(personas, night_hosting, say, committed):
    committed(routing.set_status, personas.agent_a, "online")
    with time_machine.travel(at(2026, 11, 23, 21, 50), tick=False) as clock:
        message, _ = say(personas.visitor, "hello")
        conversation = Conversation.objects.get(pk=message.conversation_id)
        assert conversation.assignee_id == personas.agent_a_user.pk
        say(personas.agent_a, "您好，请讲", conversation_id=conversation.pk)
        clock.shift(timedelta(minutes=15))  # 22:05: the window is open, but a person is here
        say(personas.visitor, "my order 123", conversation_id=conversation.pk)
    assert hosting_lines(conversation.pk) == 0


def test_outside_business_hours_hosting_replaces_the_away_line(personas, say):
    personas.inbox_a.business_hours = {"timezone": "Asia/Shanghai", "weekly": {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}}
    personas.inbox_a.save()
    ReplySettings.objects.create(workspace=personas.workspace, hosting_enabled=True, hosting_message=NIGHT, hosting_use_window=False,
                                 hosting_outside_business_hours=True)
    with time_machine.travel(at(2026, 11, 28, 10, 0), tick=False):  # Saturday
        message, _ = say(personas.visitor, "周末有人吗")
    conversation = Conversation.objects.get(pk=message.conversation_id)
    assert conversation.is_leave_message
    lines = list(Message.objects.filter(conversation=conversation).exclude(sender_kind=SenderKind.CUSTOMER).values_list("body", flat=True))
    assert lines == [NIGHT]  # one line, the merchant's, instead of the generic "we are away"
    with time_machine.travel(at(2026, 11, 30, 10, 0), tick=False):  # Monday, open
        visitor, _token = make_visitor(personas.inbox_a)
        open_message, _ = say(visitor, "hi")
    assert hosting_lines(open_message.conversation_id) == 0


@pytest.fixture
def unanswered_hosting(personas):
    return ReplySettings.objects.create(workspace=personas.workspace, hosting_enabled=True, hosting_message=NIGHT, hosting_use_window=False,
                                        hosting_no_answer_minutes=5, hosting_limit_minutes=60)


def test_no_answer_timeout_fires_once(personas, unanswered_hosting, say, committed):
    start = at(2026, 11, 23, 14, 0)
    with time_machine.travel(start, tick=False) as clock:
        message, _ = say(personas.visitor, "有人吗")
        clock.shift(timedelta(minutes=2))
        say(personas.visitor, "???", conversation_id=message.conversation_id)  # does not push the deadline back
        deadline = Deadline.objects.get(conversation_id=message.conversation_id, kind=Deadline.Kind.NO_ANSWER, state=Deadline.State.PENDING)
        assert deadline.due_at == start + timedelta(minutes=5)
        clock.shift(timedelta(minutes=2, seconds=59))
        assert committed(worker.fire_due) == 0
        clock.shift(timedelta(seconds=1))
        assert committed(worker.fire_due) == 1
        assert committed(worker.fire_due) == 0
    assert hosting_lines(message.conversation_id) == 1
    event = ConversationEvent.objects.get(conversation_id=message.conversation_id, kind=ConversationEvent.Kind.HOSTED)
    assert event.data["reason"] == "no_answer"


def test_no_answer_timeout_cancelled_by_an_agent_reply(personas, unanswered_hosting, say, committed):
    committed(routing.set_status, personas.agent_a, "online")
    with time_machine.travel(at(2026, 11, 23, 14, 0), tick=False) as clock:
        message, _ = say(personas.visitor, "有人吗")
        clock.shift(timedelta(minutes=3))
        say(personas.agent_a, "在的", conversation_id=message.conversation_id)
        assert Deadline.objects.get(conversation_id=message.conversation_id).state == Deadline.State.CANCELLED
        clock.shift(timedelta(minutes=10))
        assert committed(worker.fire_due) == 0
        # A private note is not an answer: the customer's next wait gets its own deadline.
        say(personas.visitor, "那我的订单呢", conversation_id=message.conversation_id)
        say(personas.agent_a, "note to self", conversation_id=message.conversation_id, is_private=True)
        clock.shift(timedelta(minutes=6))
        assert committed(worker.fire_due) == 1
    assert hosting_lines(message.conversation_id) == 1


def test_bad_settings_are_refused_in_the_admin(personas):
    client = verified_client(personas.owner_user)
    base = {"workspace": personas.workspace.pk, "hosting_limit_minutes": 60, "hosting_no_answer_minutes": 0,
            "hosting_use_window": "on", "_save": "Save"}
    cases = [
        ({"hosting_weekdays": ["7"]}, "hosting_weekdays"),
        ({"hosting_weekdays": ["[0, 1]"]}, "hosting_weekdays"),  # JSON is not a weekday
        ({"hosting_start": "22:00"}, "hosting_end"),
        ({"hosting_enabled": "on"}, "hosting_message"),
        ({"inbox": personas.other_inbox.pk}, "inbox"),
    ]
    for extra, field in cases:
        r = client.post("/admin/replies/replysettings/add/", {**base, **extra})
        assert r.status_code == 200 and field in r.context["adminform"].form.errors, (extra, r.status_code)
    assert not ReplySettings.objects.exists()
    r = client.post("/admin/replies/replysettings/add/", {**base, "hosting_enabled": "on", "hosting_message": NIGHT,
                                                           "hosting_start": "22:00", "hosting_end": "08:00", "hosting_weekdays": ["5", "4"]})
    assert r.status_code == 302
    saved = ReplySettings.objects.get()
    assert saved.hosting_weekdays == [4, 5] and saved.hosting_start == time(22, 0)
    page = client.get(f"/admin/replies/replysettings/{saved.pk}/change/").content.decode()
    assert page.count('name="hosting_weekdays"') == 7 and page.count("checked") >= 2  # the ticked days read back


def test_agents_get_no_reply_admin_and_other_workspaces_stay_hidden(personas):
    theirs = ReplySettings.objects.create(workspace=personas.other_workspace, welcome_message="theirs")
    r = verified_client(personas.agent_a_user).get("/admin/replies/replysettings/")
    assert r.status_code == 302 and "/admin/login/" in r["Location"]
    owner = verified_client(personas.owner_user)
    assert owner.get(f"/admin/replies/replysettings/{theirs.pk}/change/").status_code == 404
    assert "theirs" not in owner.get("/admin/replies/replysettings/").content.decode()


def test_hosting_answers_only_when_no_other_automatic_line_did(personas, night_hosting, say):
    """At night "你好" used to get the welcome, the keyword reply and the hosting line, with an
    agent assigned. Now the welcome greets before the question, the keyword reply answers it, and
    the hosting window stays quiet while someone serving the inbox is on duty."""
    night_hosting.welcome_message = "您好，请问有什么可以帮您？"
    night_hosting.save()
    AutoReplyRule.objects.create(workspace=personas.workspace, name="hi", keywords="你好", reply_text="你好！稍等，客服马上到。")
    routing.set_status(personas.agent_a, "online")
    with time_machine.travel(at(2026, 11, 23, 23, 0), tick=False) as clock:
        first, _ = say(personas.visitor, "你好")
        conversation = Conversation.objects.get(pk=first.conversation_id)
        assert conversation.assignee_id == personas.agent_a_user.pk
        lines = list(Message.objects.filter(conversation=conversation, sender_kind=SenderKind.BOT).order_by("seq").values_list("body", flat=True))
        assert lines == ["您好，请问有什么可以帮您？", "你好！稍等，客服马上到。"]  # welcome, keyword reply: no hosting on top
        clock.shift(timedelta(minutes=1))
        assert list(Message.objects.filter(conversation=conversation).order_by("seq").values_list("body", flat=True))[:2] == [
            "您好，请问有什么可以帮您？", "你好"]
        say(personas.visitor, "什么时候发货", conversation_id=conversation.pk)
        assert hosting_lines(conversation.pk) == 0  # agent_a is on duty and has the chat: no "we are away" line
