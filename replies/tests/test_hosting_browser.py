"""A customer writes outside business hours in the phone chat page (Playwright + Debian Chromium):
the hosting reply comes once, not twice within the limit."""

import time
from datetime import timedelta

import pytest

from chat.models import ConversationEvent, Message, SenderKind
from conftest import BROWSER_WAIT_MS, outside_the_browser_loop, widget_session_open
from replies.models import AutoReplyRule, HostingMark, ReplySettings

pytestmark = [pytest.mark.django_db(transaction=True)]
NIGHT = "现在是非工作时间，客服上班后会第一时间回复您。"


def test_outside_hours_the_hosting_reply_comes_once(personas, live_server_url, browser, artifacts):
    from playwright.sync_api import expect

    def closed_today_with_hosting():
        from django.utils import timezone

        today = timezone.localdate()
        inbox = personas.inbox_a
        # Holidays: closed whatever the hour the test runs at.
        inbox.business_hours = {"timezone": "Asia/Shanghai", "weekly": {"mon": [["09:00", "18:00"]]},
                                "holidays": [str(today - timedelta(days=1)), str(today), str(today + timedelta(days=1))]}
        inbox.save()
        ReplySettings.objects.create(workspace=personas.workspace, hosting_enabled=True, hosting_message=NIGHT, hosting_use_window=False,
                                     hosting_outside_business_hours=True, hosting_limit_minutes=60)
        # Shows when the second message has been through the auto-replies (hosting is decided right after).
        AutoReplyRule.objects.create(workspace=personas.workspace, name="orders", keywords="订单", reply_text="订单问题请提供订单号。")

    outside_the_browser_loop(closed_today_with_hosting)
    page = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 740}).new_page()
    page.goto(f"{live_server_url}/widget/chat/?inbox={personas.inbox_a.public_key}&lang=zh-CN")
    widget_session_open(page)  # "Contact us" shows before the session is open; a click until then is lost
    page.click("[data-action=start]")
    expect(page.locator("#w-input")).to_be_editable(timeout=BROWSER_WAIT_MS)
    page.fill("#w-input", "你好，在吗？")
    page.click("#w-composer button[type=submit]")
    bot_lines = page.locator(".w-msg--bot .w-body > p")  # the lines' text (the hosting line also offers 留下联系方式)
    expect(bot_lines).to_have_text([NIGHT], timeout=10000)

    page.fill("#w-input", "我的订单还没到")
    page.click("#w-composer button[type=submit]")
    expect(bot_lines).to_have_text([NIGHT, "订单问题请提供订单号。"], timeout=10000)
    time.sleep(1.0)  # hosting is decided a moment after the keyword reply: give a second reply every chance to show
    expect(bot_lines).to_have_count(2)
    page.screenshot(path=str(artifacts / "hosting-phone.png"))

    def stored():
        conversation = Message.objects.get(body="你好，在吗？").conversation
        return (
            Message.objects.filter(conversation=conversation, sender_kind=SenderKind.BOT, body=NIGHT).count(),
            ConversationEvent.objects.filter(conversation=conversation, kind=ConversationEvent.Kind.HOSTED).count(),
            Message.objects.filter(conversation=conversation, sender_kind__in=[SenderKind.SYSTEM, SenderKind.BOT]).exclude(
                body__in=[NIGHT, "订单问题请提供订单号。"]).count(),
            HostingMark.objects.filter(customer_id=conversation.customer_id, last_hosted_at__isnull=False).count(),
            conversation.is_leave_message,
        )

    hosted, events, generic_away_lines, marks, left_message = outside_the_browser_loop(stored)
    assert (hosted, events, marks) == (1, 1, 1)
    assert generic_away_lines == 0 and left_message  # a message for the agents, answered by the merchant's own line
