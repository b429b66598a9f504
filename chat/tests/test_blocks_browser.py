"""黑名单 on a phone (issue 19 item 6), in Debian's Chromium at 375×812 in zh-Hans: the agent blocks
the customer from the customer panel; the customer's next message on the H5 page gets the polite
line and is not stored; a group's supervisor lifts the block from the blocklist page at 1440 px and the
customer writes again. Screenshots at both widths, tap targets of 44 px, axe-core without serious
or critical violations."""

import pytest
from guardian.shortcuts import assign_perm

from chat.models import Conversation, CustomerBlock, Message
from routing.models import AgentGroup
from conftest import BROWSER_WAIT_MS, outside_the_browser_loop

from .test_console_browser import no_serious_accessibility_violations
from .test_faq_wrapup_browser import DESKTOP, assert_tap_targets, open_console_conversation
from .test_read_receipts_browser import open_h5, wait_for_row
from .test_seen_broken_browser import log_in

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_agent_blocks_the_customer_is_refused_and_a_supervisor_lifts_it(personas, live_server_url, browser, artifacts):
    from playwright.sync_api import expect

    p = personas
    customer_context = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True, locale="zh-CN")
    customer = open_h5(customer_context, live_server_url, p.inbox_a.public_key)
    customer.click("[data-action=start]")
    expect(customer.locator("#w-input")).to_be_editable(timeout=BROWSER_WAIT_MS)
    customer.fill("#w-input", "你们都是骗子！！")
    customer.click("#w-composer button[type=submit]")
    wait_for_row(customer, lambda: outside_the_browser_loop(lambda: Message.objects.filter(body="你们都是骗子！！").exists()))
    cid = outside_the_browser_loop(lambda: Message.objects.get(body="你们都是骗子！！").conversation_id)
    outside_the_browser_loop(lambda: Conversation.objects.filter(pk=cid).update(assignee=p.agent_a_user, state="assigned"))

    agent_context, agent = open_console_conversation(browser, live_server_url, cid)
    agent.click('[data-show-pane="customer"]')
    summary = agent.locator(".block-details summary")
    expect(summary).to_have_text("拉黑该客户")
    summary.click()
    form = agent.locator('[data-form="block-customer"]')
    expect(form.locator('select[name="days"] option')).to_have_text(["1 天", "7 天", "30 天", "直到解除"])
    form.locator('input[name="reason"]').fill("辱骂客服")
    assert_tap_targets(agent.locator('.block-details summary, [data-form="block-customer"] button, [data-form="block-customer"] select'))
    assert agent.evaluate("document.documentElement.scrollWidth") <= 375
    agent.screenshot(path=artifacts / "block-form-phone.png")
    no_serious_accessibility_violations(agent)
    form.locator("button[type=submit]").click()
    expect(agent.locator(".blocked-note")).to_contain_text("已拉黑", timeout=BROWSER_WAIT_MS)
    expect(agent.locator(".blocked-note")).to_contain_text("辱骂客服")
    expect(agent.locator('[data-action="lift-block"]')).to_have_count(0)  # an agent does not lift blocks
    block = outside_the_browser_loop(lambda: CustomerBlock.objects.get())
    assert block.customer_id == p.visitor.customer_id or block.reason == "辱骂客服"
    agent.screenshot(path=artifacts / "block-done-phone.png")

    # The customer's next message: the polite line where the message was, nothing stored.
    customer.fill("#w-input", "还在吗")
    customer.click("#w-composer button[type=submit]")
    expect(customer.locator(".w-msg--refused .w-state")).to_have_text("抱歉，您暂时无法在此会话中发送消息。", timeout=BROWSER_WAIT_MS)
    assert not outside_the_browser_loop(lambda: Message.objects.filter(body="还在吗").exists())
    assert customer.evaluate("document.documentElement.scrollWidth") <= 375
    customer.screenshot(path=artifacts / "block-refused-customer-phone.png")
    no_serious_accessibility_violations(customer)

    # A group's supervisor, on a desktop, lifts it from the blocklist page.
    def make_supervisor():
        assign_perm("routing.supervise_group", p.agent_b_user, AgentGroup.objects.create(workspace=p.workspace, name="售后组"))

    outside_the_browser_loop(make_supervisor)
    owner_context = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    owner = owner_context.new_page()
    log_in(owner, live_server_url, "agent_b", "/console/blocks/")
    owner.wait_for_url(f"{live_server_url}/console/blocks/")
    row = owner.locator(".blocklist__row", has_text="辱骂客服")
    expect(row).to_be_visible()
    expect(owner.locator("h1")).to_have_text("黑名单")
    owner.screenshot(path=artifacts / "blocklist-desktop.png")
    no_serious_accessibility_violations(owner)
    row.locator('[data-action="lift-block"]').click()
    expect(owner.locator("#blocklist")).to_have_text("黑名单为空。", timeout=BROWSER_WAIT_MS)
    wait_for_row(owner, lambda: outside_the_browser_loop(lambda: CustomerBlock.objects.get().lifted_at is not None))
    owner.set_viewport_size({"width": 375, "height": 812})
    owner.screenshot(path=artifacts / "blocklist-phone.png")

    # Lifted: the customer writes again and it is stored in the same conversation.
    customer.fill("#w-input", "刚才抱歉")
    customer.click("#w-composer button[type=submit]")
    wait_for_row(customer, lambda: outside_the_browser_loop(lambda: Message.objects.filter(body="刚才抱歉", conversation_id=cid).exists()))
    for context in (customer_context, agent_context, owner_context):
        context.close()
