"""Read receipts both ways (issue 19, item 2), in Debian's Chromium at 375×812 in zh-Hans: the
customer on the H5 chat page, the agent on the phone console, each seeing 已读/未读 move live,
and after a dropped connection from the position the resume answer carries."""

import pytest

from chat.models import Message, ReadState
from conftest import BROWSER_WAIT_MS, outside_the_browser_loop, widget_session_open
from routing.models import AgentPresence

from .test_console_browser import no_serious_accessibility_violations
from .test_seen_broken_browser import PHONE, log_in

pytestmark = [pytest.mark.engine_db, pytest.mark.django_db(transaction=True)]  # engine_db: also on PostgreSQL, where sends go on the event loop


def read_position(conversation_id, key):
    return outside_the_browser_loop(lambda: ReadState.objects.filter(conversation_id=conversation_id, participant_key=key)
                                    .values_list("last_read_seq", flat=True).first())


def wait_for_row(page, condition, timeout_ms=BROWSER_WAIT_MS):
    """Wait for a stored state the page cannot show (Playwright's sync expect polls only the page)."""
    for _ in range(timeout_ms // 100):
        if condition():
            return
        page.wait_for_timeout(100)
    assert condition()


def open_h5(context, base, inbox_key):
    page = context.new_page()
    page.goto(f"{base}/widget/chat/?inbox={inbox_key}")
    widget_session_open(page)
    return page


def test_read_receipts_both_ways_live_and_after_a_reconnect(personas, live_server_url, browser, artifacts):
    from playwright.sync_api import expect

    p = personas
    outside_the_browser_loop(lambda: AgentPresence.objects.create(workspace=p.workspace, user=p.agent_a_user, status="online", capacity=5))
    customer_context = browser.new_context(**PHONE)
    customer = open_h5(customer_context, live_server_url, p.inbox_a.public_key)
    customer.click("[data-action=start]")
    expect(customer.locator("#w-input")).to_be_editable(timeout=BROWSER_WAIT_MS)

    # The customer writes: 未读 until an agent opens the chat.
    customer.fill("#w-input", "我的快递到哪了？")
    customer.click("#w-composer button[type=submit]")
    mine = customer.locator(".w-msg--mine", has_text="我的快递到哪了？")
    expect(mine.locator(".w-receipt")).to_have_text("未读", timeout=BROWSER_WAIT_MS)
    question = outside_the_browser_loop(lambda: Message.objects.get(body="我的快递到哪了？"))
    cid = question.conversation_id
    agent_key, customer_key = f"u:{p.agent_a_user.pk}", f"c:{question.sender_customer_id}"
    assert read_position(cid, agent_key) is None
    customer.screenshot(path=artifacts / "read-receipts-customer-unread-phone.png")

    # The agent opens it on their phone: the customer's mark turns 已读 without a reload.
    agent_context = browser.new_context(**PHONE)
    agent = agent_context.new_page()
    log_in(agent, live_server_url, "agent_a", "/console/")
    agent.wait_for_url(f"{live_server_url}/console/")
    expect(agent.locator("#connection")).to_have_attribute("data-state", "online", timeout=BROWSER_WAIT_MS)
    agent.locator(f'#conversation-list [data-conversation="{cid}"] .row__link').click()
    expect(agent.locator("#messages .msg__body", has_text="我的快递到哪了？")).to_be_visible()
    expect(mine.locator(".w-receipt")).to_have_text("已读", timeout=BROWSER_WAIT_MS)
    expect(mine.locator(".w-receipt")).to_have_attribute("data-receipt", "read")
    assert read_position(cid, agent_key) >= question.seq
    customer.screenshot(path=artifacts / "read-receipts-customer-read-phone.png")
    no_serious_accessibility_violations(customer)

    # The customer has left the page; the agent replies: 未读 on the reply.
    customer.close()
    agent.fill("#composer-input", "已经发出了，明天到。")
    agent.click("#composer button[type=submit]")
    reply = agent.locator("#messages .msg--agent", has_text="已经发出了，明天到。")
    expect(reply.locator(".msg__receipt")).to_have_text("未读", timeout=BROWSER_WAIT_MS)
    reply_seq = int(reply.get_attribute("data-seq"))
    agent.screenshot(path=artifacts / "read-receipts-agent-unread-phone.png")

    # The agent's connection drops; meanwhile the customer comes back and reads the reply. The live
    # `read` never reaches the agent: the resume answer on reconnect carries the position instead.
    agent_context.set_offline(True)
    expect(agent.locator("#connection")).to_have_attribute("data-state", "offline", timeout=BROWSER_WAIT_MS)
    customer = open_h5(customer_context, live_server_url, p.inbox_a.public_key)
    expect(customer.locator(".w-msg--agent .w-body")).to_have_text(["已经发出了，明天到。"], timeout=BROWSER_WAIT_MS)
    # The fresh page knows the agent read the question from its resume answer alone.
    expect(customer.locator(".w-msg--mine", has_text="我的快递到哪了？").locator(".w-receipt")).to_have_text("已读", timeout=BROWSER_WAIT_MS)
    wait_for_row(customer, lambda: (read_position(cid, customer_key) or 0) >= reply_seq)  # stored before the agent is back
    expect(reply.locator(".msg__receipt")).to_have_text("未读")  # still offline: nothing could tell it
    agent_context.set_offline(False)
    expect(agent.locator("#connection")).to_have_attribute("data-state", "online", timeout=BROWSER_WAIT_MS)
    expect(reply.locator(".msg__receipt")).to_have_text("已读", timeout=BROWSER_WAIT_MS)

    # Both connected: the next reply turns 已读 live as the customer's page shows it.
    agent.fill("#composer-input", "单号是 SF123456。")
    agent.click("#composer button[type=submit]")
    expect(customer.locator(".w-msg--agent .w-body", has_text="单号是 SF123456。")).to_be_visible(timeout=BROWSER_WAIT_MS)
    last = agent.locator("#messages .msg--agent", has_text="单号是 SF123456。")
    expect(last.locator(".msg__receipt")).to_have_text("已读", timeout=BROWSER_WAIT_MS)
    expect(agent.locator('#messages .msg__receipt[data-receipt="unread"]')).to_have_count(0)
    assert agent.evaluate("document.documentElement.scrollWidth") <= 375
    assert customer.evaluate("document.documentElement.scrollWidth") <= 375
    agent.screenshot(path=artifacts / "read-receipts-agent-read-phone.png")
    customer.screenshot(path=artifacts / "read-receipts-customer-conversation-phone.png")
    no_serious_accessibility_violations(agent)
    for page, name in ((agent, "agent"), (customer, "customer")):  # and on a desktop
        page.set_viewport_size({"width": 1440, "height": 900})
        expect(page.locator(".msg__receipt, .w-receipt").first).to_have_text("已读")
        page.screenshot(path=artifacts / f"read-receipts-{name}-desktop.png")
    customer_context.close()
    agent_context.close()
