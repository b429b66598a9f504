"""A fresh founder's onboarding checklist in Debian's Chromium, zh-Hans, at 1440 px and 820 px
(issue 20 item 5): the admin index shows five steps and their progress; the founder follows
"发起一次测试会话" to the chat page, sends a message, comes back, and that step is ticked.
Screenshots at both widths, tap targets of 44 px, axe-core without serious or critical violations."""

import pytest

from accounts.models import Role
from chat.models import Message
from chat.tests.test_console_browser import no_serious_accessibility_violations
from chat.tests.test_faq_wrapup_browser import assert_tap_targets
from chat.tests.test_read_receipts_browser import wait_for_row
from conftest import BROWSER_WAIT_MS, make_agent, make_inbox, make_workspace, outside_the_browser_loop, widget_session_open
from helpdesk.tests.test_csp_browser import logged_in_context

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width,height", [(1440, 900), (820, 1180)])
def test_fresh_founder_follows_a_step_and_sees_it_ticked(width, height, live_server_url, browser, artifacts):
    from playwright.sync_api import expect

    def fresh_shop():
        workspace = make_workspace("茶馆")
        inbox = make_inbox(workspace, name="官网")
        founder, _ = make_agent(workspace, [inbox], role=Role.FOUNDER, username="店主")
        return founder

    founder = outside_the_browser_loop(fresh_shop)
    context = logged_in_context(browser, live_server_url, founder, locale="zh-CN")
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{live_server_url}/admin/")
    checklist = page.locator("section.onboarding")
    expect(checklist.locator("h2")).to_have_text("开始使用")
    expect(checklist.locator(".onboarding-step a")).to_have_text(["接入渠道", "添加客服", "设置营业时间", "添加五条常见问题", "发起一次测试会话"])
    expect(checklist.locator(".onboarding-step.done")).to_have_count(0)
    expect(checklist.locator(".onboarding-progress")).to_contain_text("已完成 0 / 5 步")
    assert_tap_targets(checklist.locator(".onboarding-step a"))
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.screenshot(path=artifacts / f"onboarding-fresh-{width}.png", full_page=True)
    no_serious_accessibility_violations(page)

    # The step's link opens the inbox's chat page in a new tab: the founder chats as a customer.
    with context.expect_page() as opened:
        checklist.locator('[data-step="test_chat"] a').click()
    customer = opened.value
    widget_session_open(customer)
    customer.click("[data-action=start]")
    expect(customer.locator("#w-input")).to_be_editable(timeout=BROWSER_WAIT_MS)
    customer.fill("#w-input", "测试一下")
    customer.click("#w-composer button[type=submit]")
    wait_for_row(customer, lambda: outside_the_browser_loop(lambda: Message.objects.filter(body="测试一下").exists()))
    customer.close()

    page.reload()
    expect(checklist.locator('[data-step="test_chat"]')).to_have_class("onboarding-step done")
    expect(checklist.locator('[data-step="test_chat"] .onboarding-state')).to_have_text("已完成")
    expect(checklist.locator(".onboarding-step.done")).to_have_count(1)  # the full-page chat is not an embedded widget
    expect(checklist.locator(".onboarding-progress")).to_contain_text("已完成 1 / 5 步")
    expect(checklist.locator("progress")).to_have_attribute("value", "1")
    page.screenshot(path=artifacts / f"onboarding-ticked-{width}.png", full_page=True)
    no_serious_accessibility_violations(page)
    context.close()
