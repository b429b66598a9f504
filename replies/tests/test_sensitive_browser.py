"""A supervisor's console shows the sensitive-words alert live, with a link to the conversation
(Playwright + Debian Chromium; the customer is a real WebSocket client)."""

import pytest

from chat.tests.live_customer import LiveCustomer
from conftest import outside_the_browser_loop, verified_client
from replies.models import SensitiveWordList

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_supervisor_sees_the_alert_and_opens_the_conversation(personas, live_server_url, browser):
    from playwright.sync_api import expect

    outside_the_browser_loop(lambda: SensitiveWordList.objects.create(
        workspace=personas.workspace, name="complaints", words="12315\n投诉", action=SensitiveWordList.Action.ALERT,
        applies_to=SensitiveWordList.AppliesTo.CUSTOMERS))
    # The founder has passed two-factor login (required for founders and admins): reuse that session.
    session_id = outside_the_browser_loop(lambda: verified_client(personas.owner_user).cookies["sessionid"].value)
    context = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 812})
    context.add_cookies([{"name": "sessionid", "value": session_id, "url": live_server_url}])
    page = context.new_page()
    page.goto(f"{live_server_url}/console/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "online")
    customer = LiveCustomer(live_server_url, personas.visitor_token)
    sent = customer.send("再不退款我就打12315投诉")
    assert sent["body"] == "再不退款我就打12315投诉"  # delivered as written
    alert = page.locator("#alerts .alerts__item a")
    expect(alert).to_have_text(f"会话 #{sent['conversation_id']} 中有敏感词：12315、投诉", timeout=10000)
    alert.click()
    page.wait_for_url(f"{live_server_url}/console/c/{sent['conversation_id']}/")
    # The private note names the words for the agents; the customer never gets it.
    expect(page.locator("#messages .msg--note .msg__body")).to_contain_text("12315")
    customer.drain()
    delivered = [f["message"]["body"] for f in customer.frames if f["type"] == "message"]
    assert delivered and not any("、" in body for body in delivered)
    customer.close()
