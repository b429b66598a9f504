"""The agent console in Debian's Chromium (Playwright), at a phone and a desktop viewport.
Customers are real WebSocket clients against the same live server."""

import pytest
from django.utils import translation

from chat.models import Conversation, Message
from conftest import make_visitor, outside_the_browser_loop
from replies.models import QuickPhrase
from routing.models import AgentPresence

from .live_customer import LiveCustomer

pytestmark = [pytest.mark.engine_db, pytest.mark.django_db(transaction=True)]  # engine_db: also on PostgreSQL, where replies go on the event loop

VIEWPORTS = {"phone": {"width": 375, "height": 812}, "desktop": {"width": 1366, "height": 860}}


def no_serious_accessibility_violations(page):
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == [], [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in serious]
    return results


def log_in(page, base, username):
    page.goto(f"{base}/accounts/login/?next=/console/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-for-tests-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/console/")


def show(page, viewport, pane):
    """On a phone one pane shows at a time: use the bottom navigation."""
    if viewport == "phone":
        page.click(f".bottom-nav [data-show-pane={pane}]")


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_agent_serves_a_chat_end_to_end(viewport, personas, live_server_url, browser, artifacts):
    from playwright.sync_api import expect

    p = personas

    def setup():
        QuickPhrase.objects.create(workspace=p.workspace, shortcut="ship", title="Shipping time",
                                   body="Hi {customer_name}, parcels leave within 48 hours.")
        # The owner is online but full (capacity 0): the first chat goes to agent_a.
        AgentPresence.objects.create(workspace=p.workspace, user=p.owner_user, status="online", capacity=0)
        return make_visitor(p.inbox_a)

    visitor, token = outside_the_browser_loop(setup)

    context = browser.new_context(locale="en-US", viewport=VIEWPORTS[viewport])
    page = context.new_page()
    log_in(page, live_server_url, "agent_a")
    expect(page.locator("#connection")).to_have_attribute("data-state", "online")
    page.select_option("#status-select", "online")
    expect(page.locator("#status-select")).to_have_attribute("data-status", "online")

    # A customer writes: routing assigns the chat to agent_a, and it appears live in "Mine".
    customer = LiveCustomer(live_server_url, token)
    first = customer.send("Where is my parcel? <script>alert(1)</script>")
    row = page.locator(f'#conversation-list [data-conversation="{first["conversation_id"]}"]')
    expect(row).to_be_visible(timeout=10000)
    expect(row.locator(".unread")).to_have_text("1")
    row.locator(".row__link").click()
    messages = page.locator("#messages .msg__body")
    expect(messages.first).to_have_text("Where is my parcel? <script>alert(1)</script>")  # text, never markup
    expect(page.locator("#messages script")).to_have_count(0)

    # Customer typing shows; then the agent replies.
    customer.ws.send('{"type":"typing","conversation_id":%d,"is_typing":true}' % first["conversation_id"])
    expect(page.locator("#typing")).not_to_be_empty()
    page.fill("#composer-input", "Let me check for you.")
    page.click("#composer button[type=submit]")
    assert customer.wait_for_message(lambda m: m["body"] == "Let me check for you.")["sender"]["kind"] == "agent"

    # Recall within the window: the customer's copy is emptied, the agent sees "(recalled)".
    page.fill("#composer-input", "Wrong chat, sorry")
    page.click("#composer button[type=submit]")
    customer.wait_for_message(lambda m: m["body"] == "Wrong chat, sorry")
    page.locator("#messages .msg", has_text="Wrong chat, sorry").locator('[data-action="recall"]').click()
    customer.wait_for(lambda f: f["type"] == "message.updated" and f["message"]["recalled"])
    expect(page.locator("#messages .msg--recalled")).to_have_count(1)
    assert outside_the_browser_loop(lambda: Message.objects.get(body="Wrong chat, sorry").recalled_at) is not None

    # An image from the attach button: uploaded, sent, shown, delivered.
    from chat.tests.test_uploads import png_bytes

    page.set_input_files("#composer-file", files=[{"name": "receipt.png", "mimeType": "image/png", "buffer": png_bytes(4, 3)}])
    image = customer.wait_for_message(lambda m: m["type"] == "image")
    assert image["attachments"][0]["url"].startswith("/media/uploads/") and image["attachments"][0]["name"] == "receipt.png"
    expect(page.locator("#messages .msg__body img")).to_have_count(1)

    # A quick phrase by "/shortcut": the picker filters, Enter inserts it with the customer's name.
    page.fill("#composer-input", "/shi")
    expect(page.locator("#phrase-options [role=option]")).to_have_count(1)
    page.press("#composer-input", "Enter")
    def english_name():
        with translation.override("en"):
            return str(Conversation.objects.get(pk=first["conversation_id"]).customer.display_name)

    customer_name = outside_the_browser_loop(english_name)
    expect(page.locator("#composer-input")).to_have_value(f"Hi {customer_name}, parcels leave within 48 hours.")
    page.click("#composer button[type=submit]")
    customer.wait_for_message(lambda m: "parcels leave within 48 hours." in m["body"])
    assert outside_the_browser_loop(lambda: QuickPhrase.objects.get(shortcut="ship").usage_count) == 1

    # Tag the customer from the customer panel.
    show(page, viewport, "customer")
    page.fill("#customer-tags input[name=name]", "VIP客户")
    page.click("#customer-tags button[type=submit]")
    expect(page.locator("#customer-tags .tag")).to_contain_text(["VIP客户"])
    assert outside_the_browser_loop(lambda: list(Conversation.objects.get(pk=first["conversation_id"]).customer.tags.values_list("name", flat=True))) == ["VIP客户"]
    show(page, viewport, "conversation")

    # The network drops while sending: the message waits in the outbox, then is delivered once.
    context.set_offline(True)
    expect(page.locator("#connection")).to_have_attribute("data-state", "offline", timeout=10000)
    page.fill("#composer-input", "sent while offline")
    page.click("#composer button[type=submit]")
    expect(page.locator("#messages .msg--pending")).to_have_count(1)
    page.wait_for_timeout(1000)
    assert outside_the_browser_loop(lambda: Message.objects.filter(body="sent while offline").count()) == 0
    context.set_offline(False)
    customer.wait_for_message(lambda m: m["body"] == "sent while offline", timeout=30)
    expect(page.locator("#messages .msg--pending")).to_have_count(0, timeout=10000)
    expect(page.locator("#messages .msg__body", has_text="sent while offline")).to_have_count(1)
    assert len(customer.received("sent while offline")) == 1
    assert outside_the_browser_loop(lambda: Message.objects.filter(body="sent while offline").count()) == 1

    # Installable: the manifest is linked and the service worker controls /console/.
    assert page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)") == f"{live_server_url}/console/"
    assert page.evaluate("fetch(document.querySelector('link[rel=manifest]').href).then(r => r.json()).then(m => m.start_url)") == "/console/"

    page.screenshot(path=artifacts / f"console-{viewport}-conversation.png")
    no_serious_accessibility_violations(page)

    # Transfer to the owner with a note: the owner now has it, the customer sees a system line.
    outside_the_browser_loop(lambda: AgentPresence.objects.filter(user=p.owner_user).update(capacity=5))
    page.click('[data-action="open-transfer"]')
    page.select_option("#transfer-agent", str(p.owner_user.pk))
    page.fill("#transfer-note", "VIP, wants a refund")
    page.click('#transfer-dialog button[type=submit]')
    customer.wait_for_message(lambda m: m["sender"]["kind"] == "system" and "owner" in m["body"])  # "…transferred to owner"
    conversation = outside_the_browser_loop(lambda: Conversation.objects.get(pk=first["conversation_id"]))
    assert conversation.assignee_id == p.owner_user.pk
    assert outside_the_browser_loop(lambda: Message.objects.filter(conversation_id=conversation.pk, is_private=True, body="VIP, wants a refund").count()) == 1
    expect(row).to_have_count(0)  # left agent_a's "Mine" list live

    # A second customer: agent_a resolves that chat.
    _second_actor, second_token = outside_the_browser_loop(lambda: make_visitor(p.inbox_a))
    second = LiveCustomer(live_server_url, second_token)
    sent = second.send("Do you ship to Macau?")
    show(page, viewport, "list")
    row2 = page.locator(f'#conversation-list [data-conversation="{sent["conversation_id"]}"]')
    row2.locator(".row__link").click()
    page.fill("#composer-input", "Yes, we do.")
    page.click("#composer button[type=submit]")
    second.wait_for_message(lambda m: m["body"] == "Yes, we do.")
    page.click('[data-action="state"][data-state="resolved"]')
    expect(page.locator("#conversation-header .badge--resolved")).to_be_visible()
    second.wait_for(lambda f: f["type"] == "conversation.updated" and f["conversation"]["state"] == "resolved")
    assert outside_the_browser_loop(lambda: Conversation.objects.get(pk=sent["conversation_id"]).state) == "resolved"

    show(page, viewport, "list")
    page.screenshot(path=artifacts / f"console-{viewport}-list.png")
    no_serious_accessibility_violations(page)
    customer.close()
    second.close()
    context.close()
