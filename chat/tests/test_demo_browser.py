"""A person chats end to end on the demo pages, in Debian's Chromium driven by Playwright."""

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from chat.models import Message
from helpdesk import processes

pytestmark = [pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(settings.BASE_DIR, "test-artifacts")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def outside_the_browser_loop(query):
    """Playwright's sync API runs an event loop in this thread; Django's ORM must run elsewhere."""
    from concurrent.futures import ThreadPoolExecutor

    def run():
        try:
            return query()
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


@pytest.fixture
def live_server_url(db, tmp_path):
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium missing at /usr/bin/chromium (scripts/install-chromium.sh installs it)")
        pytest.skip("Chromium not installed at /usr/bin/chromium: run scripts/install-chromium.sh")
    assert connection.vendor == "sqlite"
    port = processes.free_port()
    proc = processes.start_uvicorn(port, {"DATABASE_URL": f"sqlite:///{connection.settings_dict['NAME']}", "REDIS_URL": ""}, tmp_path / "uvicorn.log")
    yield f"http://127.0.0.1:{port}"
    processes.stop(proc)


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


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
    expect(customer.locator(".messages .body")).to_have_text(["Hello <b>not bold</b> 你好", "Hi! How can I help?", "sent while offline"])
    ARTIFACTS.mkdir(exist_ok=True)
    customer.screenshot(path=ARTIFACTS / "demo-customer-phone.png")
    agent.screenshot(path=ARTIFACTS / "demo-agent.png")
