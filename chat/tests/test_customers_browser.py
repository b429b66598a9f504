"""Customers for agents and 主动联系 on a phone (issue 19 items 3 and 5), in Debian's Chromium at
375×812 in zh-Hans: a customer asks on the H5 page and leaves; later the agent writes to them from
the customer panel of the finished conversation; the customer opens the H5 page again and the
agent's message is there. The customer list with search, and a customer's page, at 375 and 1440
px. Screenshots at both widths, tap targets of 44 px, no horizontal overflow, axe-core without
serious or critical violations."""

import pytest

from chat.models import Conversation, Customer, Message
from conftest import BROWSER_WAIT_MS, outside_the_browser_loop

from .test_console_browser import no_serious_accessibility_violations
from .test_faq_wrapup_browser import DESKTOP, assert_tap_targets
from .test_read_receipts_browser import open_h5, wait_for_row
from .test_seen_broken_browser import PHONE, log_in

pytestmark = [pytest.mark.django_db(transaction=True)]

AGENT_TEXT = "您好，您的退款已原路退回，请注意查收。"


def no_overflow(page, width):
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_agent_reaches_a_returning_customer_and_finds_customers(personas, live_server_url, browser, artifacts):
    from playwright.sync_api import expect

    p = personas
    # A customer asks on the H5 page; the conversation is answered and resolved; they leave.
    customer_context = browser.new_context(**PHONE)
    customer = open_h5(customer_context, live_server_url, p.inbox_a.public_key)
    customer.click("[data-action=start]")
    expect(customer.locator("#w-input")).to_be_editable(timeout=BROWSER_WAIT_MS)
    customer.fill("#w-input", "我的退款什么时候到？")
    customer.click("#w-composer button[type=submit]")
    wait_for_row(customer, lambda: outside_the_browser_loop(lambda: Message.objects.filter(body="我的退款什么时候到？").exists()))
    first = outside_the_browser_loop(lambda: Message.objects.get(body="我的退款什么时候到？").conversation)

    def finish():
        Conversation.objects.filter(pk=first.pk).update(assignee=p.agent_a_user, state="resolved")
        Customer.objects.filter(pk=first.customer_id).update(name="王小明", attributes={"phone": "13800138000"})

    outside_the_browser_loop(finish)
    customer.close()

    # The agent, on a phone, writes to them from the customer panel of that conversation.
    agent_context = browser.new_context(**PHONE)
    agent = agent_context.new_page()
    log_in(agent, live_server_url, "agent_a", f"/console/c/{first.pk}/")
    agent.wait_for_url(f"{live_server_url}/console/c/{first.pk}/")
    agent.click('[data-show-pane="customer"]')
    form = agent.locator('#customer-pane [data-customer-form="customer-contact"]')
    expect(agent.locator("#customer-pane #contact-title")).to_have_text("联系客户")
    expect(form).to_be_visible()
    form.locator("textarea[name=body]").fill(AGENT_TEXT)
    assert_tap_targets(agent.locator('#customer-pane [data-customer-form="customer-contact"] button, #customer-pane [data-customer-form="customer-note"] button, '
                                     '#customer-pane [data-customer-form="customer-level"] button, #customer-pane [data-customer-form="customer-level"] select'))
    no_overflow(agent, 375)
    agent.screenshot(path=artifacts / "outreach-panel-phone.png", full_page=True)
    no_serious_accessibility_violations(agent)
    form.locator("button[type=submit]").click()
    wait_for_row(agent, lambda: outside_the_browser_loop(lambda: Message.objects.filter(body=AGENT_TEXT).exists()))
    started = outside_the_browser_loop(lambda: Message.objects.select_related("conversation").get(body=AGENT_TEXT).conversation)
    assert started.pk != first.pk and started.assignee_id == p.agent_a_user.pk and started.state == "assigned"
    agent.wait_for_url(f"{live_server_url}/console/c/{started.pk}/")
    expect(agent.locator("#messages").get_by_text(AGENT_TEXT)).to_be_visible(timeout=BROWSER_WAIT_MS)
    agent.screenshot(path=artifacts / "outreach-sent-phone.png")
    agent.set_viewport_size(DESKTOP)
    expect(agent.locator("#customer-pane #contact-title")).to_be_visible()
    no_overflow(agent, DESKTOP["width"])
    agent.screenshot(path=artifacts / "outreach-sent-desktop.png")
    agent.set_viewport_size({"width": 375, "height": 812})

    # The customer comes back later: the agent's message is waiting on the H5 page.
    customer = open_h5(customer_context, live_server_url, p.inbox_a.public_key)
    expect(customer.locator(".w-msg--agent").get_by_text(AGENT_TEXT)).to_be_visible(timeout=BROWSER_WAIT_MS)
    no_overflow(customer, 375)
    customer.screenshot(path=artifacts / "outreach-customer-phone.png")
    no_serious_accessibility_violations(customer)

    # The customer list, searched by phone, on the phone and on a desktop.
    agent.goto(f"{live_server_url}/console/customers/")
    expect(agent.locator("h1")).to_have_text("客户")
    agent.fill("#customer-q", "13800138")
    agent.locator(".customer-search button[type=submit]").click()
    rows = agent.locator(".customer-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("王小明")
    assert_tap_targets(agent.locator(".customer-search button, .customer-search input, .customer-row__link"))
    no_overflow(agent, 375)
    agent.screenshot(path=artifacts / "customers-phone.png")
    no_serious_accessibility_violations(agent)
    agent.fill("#customer-q", "没有这个人")
    agent.locator(".customer-search button[type=submit]").click()
    expect(agent.locator(".customer-list__empty")).to_have_text("没有匹配的客户。")
    agent.set_viewport_size(DESKTOP)
    agent.goto(f"{live_server_url}/console/customers/?q=王小明")
    expect(rows).to_have_count(1)
    agent.screenshot(path=artifacts / "customers-desktop.png")

    # The customer's page: a note and the VIP level, on the phone.
    agent.set_viewport_size({"width": 375, "height": 812})
    rows.first.locator("a").click()
    agent.wait_for_url(f"{live_server_url}/console/customers/{first.customer_id}/")
    agent.fill("#note-%d" % first.customer_id, "偏好顺丰，周末不方便接电话")
    agent.locator('[data-customer-form="customer-note"] button[type=submit]').click()
    expect(agent.locator(".customer-note__text")).to_have_text("偏好顺丰，周末不方便接电话")
    agent.select_option("#level-%d" % first.customer_id, "6")
    agent.locator('[data-customer-form="customer-level"] button[type=submit]').click()
    expect(agent.locator(".level-now strong")).to_have_text("VIP 6")
    wait_for_row(agent, lambda: outside_the_browser_loop(lambda: Customer.objects.get(pk=first.customer_id).vip_level == 6))
    expect(agent.locator('[data-customer-form="customer-contact"]')).to_have_count(0)  # an open conversation: reply there
    assert_tap_targets(agent.locator('.customer-page button, .customer-page select'))
    no_overflow(agent, 375)
    agent.screenshot(path=artifacts / "customer-page-phone.png", full_page=True)
    no_serious_accessibility_violations(agent)
    agent.set_viewport_size(DESKTOP)
    agent.screenshot(path=artifacts / "customer-page-desktop.png", full_page=True)
    for context in (customer_context, agent_context):
        context.close()
