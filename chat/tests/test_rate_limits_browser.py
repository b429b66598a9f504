"""The widget (client.js) under a send limit, in Chromium against a live server: a throttled send
shows the server's polite line, stays in the outbox and goes out after retry_after; nothing is
lost or stored twice."""

import re

import pytest

from chat.models import Message
from chat.tests.test_widget_browser import start_chat
from conftest import BROWSER_WAIT_MS, outside_the_browser_loop, widget_session_open

pytestmark = [pytest.mark.django_db(transaction=True)]

TEXTS = ["one", "two", "three"]


@pytest.fixture
def one_send_per_3_seconds(monkeypatch):
    """The live server inherits this environment (helpdesk.processes.start_uvicorn). Three sends
    within 3 s span at most two windows: at least one is refused."""
    monkeypatch.setenv("RATE_LIMIT_SEND_VISITOR", "1/3")


def stored_bodies():
    return list(Message.objects.filter(body__in=TEXTS).order_by("seq").values_list("body", flat=True))


def test_a_throttled_send_waits_politely_and_goes_out_once(one_send_per_3_seconds, personas, live_server_url, browser, artifacts):
    from playwright.sync_api import expect

    page = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 700}).new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{live_server_url}/widget/chat/?inbox={personas.inbox_a.public_key}")
    widget_session_open(page)
    start_chat(page)
    for text in TEXTS:
        page.fill("#w-input", text)
        page.click("#w-composer button[type=submit]")
    # A refused send is still pending, with the server's line (not "failed"), until it goes again.
    expect(page.locator(".w-msg--pending .w-state").first).to_have_text(re.compile("^(?!Not sent|未发送).*(too fast|太快)"), timeout=BROWSER_WAIT_MS)
    page.screenshot(path=str(artifacts / "widget-rate-limited-phone.png"))
    expect(page.locator(".w-msg--pending")).to_have_count(0, timeout=30_000)
    stored = outside_the_browser_loop(stored_bodies)
    assert stored == TEXTS  # each exactly once, in the order typed
    expect(page.locator("#w-messages .w-msg--mine .w-body")).to_have_count(3)
    assert errors == []
