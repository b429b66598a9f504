"""A person chats end to end on the demo pages, in Debian's Chromium driven by Playwright."""

from pathlib import Path

import pytest
from django.conf import settings

from chat.models import Message
from conftest import outside_the_browser_loop

pytestmark = [pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(settings.BASE_DIR, "test-artifacts")


def test_customer_and_agent_chat_on_the_demo_pages(personas, live_server_url, browser):
    from playwright.sync_api import expect

    customer_ctx = browser.new_context(locale="en-US", viewport={"width": 375, "height": 812})
    customer = customer_ctx.new_page()
    customer.goto(f"{live_server_url}/demo/?inbox={personas.inbox_a.public_key}")
    expect(customer.locator("[data-status]")).to_have_text("Online")
    customer.fill("#composer-input", "Hello <b>not bold</b> 你好")
    customer.keyboard.press("Enter")
    expect(customer.locator(".msg-mine:not(.msg-pending) .body")).to_have_text(["Hello <b>not bold</b> 你好"])

    agent_ctx = browser.new_context(locale="en-US")
    agent = agent_ctx.new_page()
    agent.goto(f"{live_server_url}/accounts/login/?next=/demo/agent/")
    agent.fill("#id_username", "agent_a")
    agent.fill("#id_password", "pw-for-tests-123")
    agent.click("button[type=submit]")
    expect(agent.locator(".messages .body").first).to_have_text("Hello <b>not bold</b> 你好")
    assert agent.locator(".messages b").count() == 0  # customer HTML shown as text, never as markup

    agent.fill("#composer-input", "Hi! How can I help?")
    agent.keyboard.press("Enter")
    expect(customer.locator(".msg-agent .body")).to_have_text(["Hi! How can I help?"])

    # The customer's network drops while sending: the message waits in the outbox, then arrives once.
    customer_ctx.set_offline(True)
    customer.fill("#composer-input", "sent while offline")
    customer.keyboard.press("Enter")
    expect(customer.locator(".msg-pending .body")).to_have_text(["sent while offline"])
    customer.wait_for_timeout(1500)
    expect(customer.locator(".msg-pending .body")).to_have_text(["sent while offline"])  # still unacknowledged
    assert outside_the_browser_loop(lambda: Message.objects.filter(body="sent while offline").count()) == 0
    customer_ctx.set_offline(False)
    expect(agent.locator(".messages .body").last).to_have_text("sent while offline", timeout=30000)
    expect(customer.locator(".msg-mine:not(.msg-pending) .body")).to_have_count(2)
    assert outside_the_browser_loop(lambda: Message.objects.filter(body="sent while offline").count()) == 1

    customer.reload()
    # Nobody was on duty at the first message: the flow's one line (leave a message) follows it.
    expect(customer.locator(".messages .body")).to_have_text(["Hello <b>not bold</b> 你好", "我们暂时不在线。请留下您的问题和联系方式，我们回来后会尽快回复您。",
                                                               "Hi! How can I help?", "sent while offline"])
    ARTIFACTS.mkdir(exist_ok=True)
    customer.screenshot(path=ARTIFACTS / "demo-customer-phone.png")
    agent.screenshot(path=ARTIFACTS / "demo-agent.png")
