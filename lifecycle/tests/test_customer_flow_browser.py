"""The night flow on a phone (issue 19 item 1), Debian's Chromium at 375×812 in zh-Hans: the welcome
before the customer types; after the question exactly one line (the hosting message, nobody on
duty) with 留下联系方式, which takes a phone number; an agent comes on duty, routing gives them the
chat and the customer reads "客服 小李 为您服务"; at the end a labelled rating with reasons. Nothing else, in
this order. Screenshots at 375 and 1440 px, tap targets of 44 px, axe-core without serious or
critical violations."""

from datetime import time

import pytest

from chat.models import Conversation, Customer, Message, SatisfactionRating
from chat.tests.test_console_browser import no_serious_accessibility_violations
from chat.tests.test_faq_wrapup_browser import DESKTOP, assert_tap_targets, open_console_conversation
from chat.tests.test_read_receipts_browser import open_h5, wait_for_row
from conftest import BROWSER_WAIT_MS, outside_the_browser_loop
from replies.models import ReplySettings

pytestmark = [pytest.mark.django_db(transaction=True)]

WELCOME = "您好，欢迎光临小店！"
HOSTING = "现在是夜间托管时间，客服明早 9 点上班后第一时间回复您。"
PHONE = {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True, "locale": "zh-CN"}


def lines(page):
    return page.locator("#w-messages .w-msg .w-body > p").all_inner_texts()


def test_the_night_flow_has_one_line_per_situation(personas, live_server_url, browser, artifacts):
    from playwright.sync_api import expect

    p = personas

    def setup():
        # Hosting all day (00:00-00:00), nobody on duty: "night" whenever the test runs.
        ReplySettings.objects.create(workspace=p.workspace, welcome_message=WELCOME, queue_message="您前面还有 {position} 位。",
                                     hosting_enabled=True, hosting_message=HOSTING, hosting_start=time(0, 0), hosting_end=time(0, 0))
        p.agent_a_user.memberships.update(display_name="小李")

    outside_the_browser_loop(setup)
    context = browser.new_context(**PHONE)
    customer = open_h5(context, live_server_url, p.inbox_a.public_key)
    customer.click("[data-action=start]")
    expect(customer.locator(".w-welcome .w-body > p")).to_have_text(WELCOME)  # before the customer types
    assert lines(customer) == [WELCOME]
    customer.screenshot(path=artifacts / "flow-welcome-phone.png")

    customer.fill("#w-input", "请问还能发货吗？")
    customer.click("#w-composer button[type=submit]")
    expect(customer.locator(".w-msg--bot .w-body > p", has_text=HOSTING)).to_be_visible(timeout=BROWSER_WAIT_MS)
    expect(customer.locator("#w-messages .w-msg .w-body > p")).to_have_text([WELCOME, "请问还能发货吗？", HOSTING])
    assert customer.locator(".w-welcome").count() == 0  # the stored welcome took its place
    expect(customer.locator("#w-notice")).not_to_contain_text("排")  # no place in a queue nobody serves
    contact = customer.locator('.w-choice[data-choice="contact"]')
    expect(contact).to_have_text("留下手机号或微信号")
    assert_tap_targets(contact)
    assert customer.evaluate("document.documentElement.scrollWidth") <= 375
    customer.screenshot(path=artifacts / "flow-night-phone.png")
    no_serious_accessibility_violations(customer)

    # 留下联系方式: a bad number first (the server's field error), then a good one.
    contact.click()
    form = customer.locator(".w-contact")
    form.locator('input[name="phone"]').fill("打给我")
    form.locator("button[type=submit]").click()
    expect(form.locator(".w-error")).to_have_text("请检查标出的字段。", timeout=BROWSER_WAIT_MS)
    form.locator('input[name="phone"]').fill("13800138000")
    assert_tap_targets(form.locator("input, button"))
    customer.screenshot(path=artifacts / "flow-contact-form-phone.png")
    form.locator("button[type=submit]").click()
    expect(customer.locator(".w-contact-done")).to_have_text("谢谢！我们会尽快与您联系。", timeout=BROWSER_WAIT_MS)
    assert outside_the_browser_loop(lambda: Customer.objects.get(attributes__contact_phone="13800138000").pk)
    cid = outside_the_browser_loop(lambda: Message.objects.get(body="请问还能发货吗？").conversation_id)

    # An agent comes on duty: routing gives them the waiting chat, and the customer is told who serves them.
    agent_context, agent = open_console_conversation(browser, live_server_url, cid)
    agent.select_option("#status-select", "online")
    expect(customer.locator(".w-msg--system .w-body > p")).to_have_text(["客服 小李 为您服务"], timeout=BROWSER_WAIT_MS)
    assert outside_the_browser_loop(lambda: Conversation.objects.get(pk=cid).assignee_id) == p.agent_a_user.pk
    agent.fill("#composer-input", "您好，可以发货的，今天就发。")
    agent.click("#composer button[type=submit]")
    expect(customer.locator(".w-msg--agent .w-body > p")).to_have_text(["您好，可以发货的，今天就发。"], timeout=BROWSER_WAIT_MS)
    assert lines(customer) == [WELCOME, "请问还能发货吗？", HOSTING, "客服 小李 为您服务", "您好，可以发货的，今天就发。"]

    # Resolved: a labelled rating, with reasons of its side.
    agent.locator('[data-action="state"][data-state="resolved"]').click()
    csat = customer.locator("#w-csat")
    expect(csat).to_be_visible(timeout=BROWSER_WAIT_MS)
    expect(csat.locator(".w-stars label")).to_have_text(["非常满意", "满意", "一般", "不满意", "非常不满意"])
    csat.locator(".w-stars label", has_text="非常满意").click()
    expect(csat.locator('[data-reasons="praise"]')).to_be_visible()
    expect(csat.locator('[data-reasons="complaints"]')).to_be_hidden()
    csat.locator('[data-reasons="praise"] label', has_text="回复及时").click()
    assert_tap_targets(csat.locator(".w-stars label, .w-reasons:not([hidden]) label"))
    assert customer.evaluate("document.documentElement.scrollWidth") <= 375
    customer.screenshot(path=artifacts / "flow-rating-phone.png")
    no_serious_accessibility_violations(customer)
    csat.locator("button[type=submit]").click()
    expect(customer.locator("#w-csat-thanks")).to_be_visible(timeout=BROWSER_WAIT_MS)
    wait_for_row(customer, lambda: outside_the_browser_loop(lambda: SatisfactionRating.objects.filter(conversation_id=cid).exists()))
    rated = outside_the_browser_loop(lambda: SatisfactionRating.objects.get(conversation_id=cid))
    assert (rated.rating, rated.reasons) == (5, ["quick"])
    assert outside_the_browser_loop(lambda: Conversation.objects.get(pk=cid).state) == "resolved"
    customer.set_viewport_size(DESKTOP)
    customer.screenshot(path=artifacts / "flow-rating-desktop.png")
    agent.set_viewport_size(DESKTOP)
    agent.screenshot(path=artifacts / "flow-agent-desktop.png")
    agent_context.close()
    context.close()
