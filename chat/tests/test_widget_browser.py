"""The customer widget in Debian's Chromium (Playwright), embedded in a merchant page served
from another origin under a strict CSP. The agent is a real WebSocket client."""

import hashlib
import hmac
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from chat.models import Conversation, Customer, Message
from conftest import BROWSER_WAIT_MS, outside_the_browser_loop, widget_session_open

pytestmark = [pytest.mark.django_db(transaction=True)]


class MerchantSite:
    """A merchant's site on its own origin: the one-line snippet, a strict CSP (no inline
    script or style; our origin allowed for the script and the frame only)."""

    def __init__(self, chat_origin, inbox_key, settings_js="", lang="en"):
        pages = {
            "/": (f"<!doctype html><html lang='{lang}'><head><meta charset='utf-8'><title>Shop</title></head><body><h1>Shop</h1>"
                  "<script src='/settings.js'></script>"
                  f"<script src='{chat_origin}/static/chat/widget/loader.js' data-inbox='{inbox_key}' async></script></body></html>", "text/html"),
            "/settings.js": (settings_js, "application/javascript"),
        }
        csp = f"default-src 'self'; script-src 'self' {chat_origin}; frame-src {chat_origin}; style-src 'self'; connect-src 'self'"

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                body, kind = pages.get(self.path.split("?")[0], ("not found", "text/plain"))
                self.send_response(200 if self.path.split("?")[0] in pages else 404)
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.send_header("Content-Security-Policy", csp)
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://localhost:{self.server.server_address[1]}/"  # another origin than 127.0.0.1
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()



def resolve_on_the_server(base_url, personas, conversation_id):
    import json
    import urllib.request

    from accounts import tokens
    from accounts.models import Membership

    def issue():
        return tokens.issue(Membership.objects.get(user=personas.agent_a_user), "test")

    key = outside_the_browser_loop(issue)
    key = key[1] if isinstance(key, tuple) else key
    request = urllib.request.Request(f"{base_url}/api/v1/conversations/{conversation_id}/state", method="POST",
                                     data=json.dumps({"state": "resolved"}).encode(),
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def open_widget(page, site_url):
    """The merchant's page, the launcher clicked, and the widget's session open (ready for "Contact us")."""
    from playwright.sync_api import expect

    page.goto(site_url)
    launcher = page.locator("[data-helpdesk-launcher]")
    expect(launcher).to_be_visible(timeout=BROWSER_WAIT_MS)  # built by the async loader script
    launcher.click()
    frame = page.frame_locator("[data-helpdesk-frame]")
    widget_session_open(frame)
    expect(frame.locator("#w-home:not([hidden]), #w-chat:not([hidden])")).to_be_visible(timeout=BROWSER_WAIT_MS)
    return frame


def start_chat(frame):
    """"Contact us", then wait for the composer (no pre-chat form on the inbox)."""
    from playwright.sync_api import expect

    frame.locator("[data-action=start]").click()
    expect(frame.locator("#w-input")).to_be_editable(timeout=BROWSER_WAIT_MS)


def test_widget_chat_reload_and_offline_sends_exactly_once(personas, live_server_url, online_agent, browser, artifacts):
    from playwright.sync_api import expect

    site = MerchantSite(live_server_url, personas.inbox_a.public_key)
    context = browser.new_context(locale="en-US", viewport={"width": 375, "height": 812})
    page = context.new_page()
    errors = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    frame = open_widget(page, site.url)
    start_chat(frame)
    frame.locator("#w-input").fill("Hello, is my order shipped? <b>x</b>")
    frame.locator("#w-composer button[type=submit]").click()

    first = online_agent.wait_for_message(lambda m: m["body"] == "Hello, is my order shipped? <b>x</b>")
    conversation_id = first["conversation_id"]
    online_agent.send("Yes, it left this morning.", conversation_id=conversation_id)
    expect(frame.locator(".w-msg--agent .w-body")).to_have_text(["Yes, it left this morning."], timeout=BROWSER_WAIT_MS)
    expect(frame.locator(".w-body b")).to_have_count(0)  # the customer's text stays text

    # Reload mid-conversation: the history comes back.
    page.reload()
    page.click("[data-helpdesk-launcher]")
    frame = page.frame_locator("[data-helpdesk-frame]")
    widget_session_open(frame)
    expect(frame.locator("#w-messages .w-body")).to_have_text(["Hello, is my order shipped? <b>x</b>", "客服 agent_a 为您服务",
                                                             "Yes, it left this morning."], timeout=BROWSER_WAIT_MS)

    # Offline while sending three messages; back online: each arrives once, in order.
    context.set_offline(True)
    for text in ("one", "two", "three"):
        frame.locator("#w-input").fill(text)
        frame.locator("#w-composer button[type=submit]").click()
    expect(frame.locator(".w-msg--pending")).to_have_count(3)
    page.wait_for_timeout(800)
    assert outside_the_browser_loop(lambda: Message.objects.filter(body__in=["one", "two", "three"]).count()) == 0
    context.set_offline(False)
    for text in ("one", "two", "three"):
        online_agent.wait_for_message(lambda m, t=text: m["body"] == t, timeout=30)
    expect(frame.locator(".w-msg--pending")).to_have_count(0, timeout=15000)
    online_agent.drain(quiet=1.0)
    bodies = [f["message"]["body"] for f in online_agent.frames if f["type"] == "message" and f["message"]["sender"]["kind"] == "customer"]
    assert bodies[-3:] == ["one", "two", "three"] and bodies.count("one") == 1 and bodies.count("three") == 1
    stored = outside_the_browser_loop(lambda: list(Message.objects.filter(conversation_id=conversation_id, body__in=["one", "two", "three"]).order_by("seq").values_list("body", flat=True)))
    assert stored == ["one", "two", "three"]
    page.screenshot(path=artifacts / "widget-phone.png")

    # The agent resolves (through the live server's API, so its socket layer tells the widget):
    # the customer rates the conversation.
    resolve_on_the_server(live_server_url, personas, conversation_id)
    expect(frame.locator("#w-csat")).to_be_visible(timeout=10000)
    frame.locator('#w-csat .w-stars label:has(input[value="4"])').click()
    frame.locator("#w-csat-comment").fill("Quick, thanks <script>alert(1)</script>")
    frame.locator("#w-csat button[type=submit]").click()
    expect(frame.locator("#w-csat-thanks")).to_be_visible()
    from chat.models import SatisfactionRating

    rating = outside_the_browser_loop(lambda: SatisfactionRating.objects.get(conversation_id=conversation_id))
    assert (rating.rating, rating.comment, rating.agent_id) == (4, "Quick, thanks <script>alert(1)</script>", personas.agent_a_user.pk)
    assert not [e for e in errors if "Content Security Policy" in e], errors
    context.close()
    site.close()


def test_unread_badge_on_the_launcher(personas, live_server_url, online_agent, browser):
    from playwright.sync_api import expect

    site = MerchantSite(live_server_url, personas.inbox_a.public_key, lang="zh-CN")
    page = browser.new_context(locale="en-US").new_page()
    frame = open_widget(page, site.url)
    expect(frame.locator("[data-action=start]")).to_have_text("联系我们")  # the page's language (zh) picks zh-Hans
    start_chat(frame)
    frame.locator("#w-input").fill("在吗？")
    frame.locator("#w-composer button[type=submit]").click()
    conversation_id = online_agent.wait_for_message(lambda m: m["body"] == "在吗？")["conversation_id"]
    page.click("[data-helpdesk-launcher]")  # close the panel
    online_agent.send("在的，请讲", conversation_id=conversation_id)
    expect(page.locator("[data-helpdesk-unread]")).to_have_text("1", timeout=BROWSER_WAIT_MS)
    page.click("[data-helpdesk-launcher]")
    expect(page.locator("[data-helpdesk-unread]")).to_be_hidden()
    site.close()


def identity_js(inbox, user_id, secret=None):
    digest = hmac.new((secret or inbox.secret).encode(), user_id.encode(), hashlib.sha256).hexdigest()
    return (f"window.HelpdeskSettings = {{identity: {{userId: '{user_id}', userHash: '{digest}', "
            "attributes: {name: 'Li Lei', level: 'gold', tags: ['vip']}}};")


def test_identity_signed_by_the_merchant_is_accepted_and_a_wrong_one_is_not(personas, live_server_url, online_agent, browser):
    from playwright.sync_api import expect

    good = MerchantSite(live_server_url, personas.inbox_a.public_key, identity_js(personas.inbox_a, "u-42"))
    page = browser.new_context(locale="en-US").new_page()
    frame = open_widget(page, good.url)
    start_chat(frame)
    frame.locator("#w-input").fill("identified hello")
    frame.locator("#w-composer button[type=submit]").click()
    online_agent.wait_for_message(lambda m: m["body"] == "identified hello")
    customer = outside_the_browser_loop(lambda: Customer.objects.get(external_id="u-42"))
    assert customer.name == "Li Lei" and customer.attributes.get("level") == "gold"
    assert outside_the_browser_loop(lambda: list(customer.tags.values_list("name", flat=True))) == ["vip"]

    # Another device of the same user: the history follows.
    other_device = browser.new_context(locale="en-US").new_page()
    frame2 = open_widget(other_device, good.url)
    expect(frame2.locator("#w-messages .w-body")).to_have_text(["identified hello", "客服 agent_a 为您服务"], timeout=BROWSER_WAIT_MS)
    good.close()

    forged = MerchantSite(live_server_url, personas.inbox_a.public_key, identity_js(personas.inbox_a, "u-43", secret="wrong"))
    page3 = browser.new_context(locale="en-US").new_page()
    frame3 = open_widget(page3, forged.url)
    start_chat(frame3)
    frame3.locator("#w-input").fill("forged hello")
    frame3.locator("#w-composer button[type=submit]").click()
    online_agent.wait_for_message(lambda m: m["body"] == "forged hello")
    assert not outside_the_browser_loop(lambda: Customer.objects.filter(external_id="u-43").exists())
    sender = outside_the_browser_loop(lambda: Message.objects.get(body="forged hello").conversation.customer)
    assert sender.external_id is None and sender.pk != customer.pk  # chatted anonymously, never as u-43
    forged.close()


def test_after_hours_the_customer_leaves_a_message(personas, live_server_url, browser):
    from playwright.sync_api import expect

    def closed_now():
        inbox = personas.inbox_a
        from datetime import timedelta

        from django.utils import timezone

        today = timezone.now().date()
        days = [str(today), str(today + timedelta(days=1))]  # holidays: closed whatever the hour
        inbox.business_hours = {"timezone": "UTC", "weekly": {"mon": [["09:00", "18:00"]]}, "holidays": days}
        inbox.save()

    outside_the_browser_loop(closed_now)
    site = MerchantSite(live_server_url, personas.inbox_a.public_key)
    page = browser.new_context(locale="en-US").new_page()
    frame = open_widget(page, site.url)
    expect(frame.locator("#w-availability")).to_contain_text("away")
    start_chat(frame)
    frame.locator("#w-input").fill("Please call me back tomorrow")
    frame.locator("#w-composer button[type=submit]").click()
    # One line says so, from the assistant, and offers the contact form (lifecycle.flow).
    expect(frame.locator('.w-msg--bot .w-choice[data-choice="contact"]')).to_have_count(1, timeout=10000)
    expect(frame.locator(".w-msg--bot")).to_have_count(1)
    conversation = outside_the_browser_loop(lambda: Message.objects.get(body="Please call me back tomorrow").conversation)
    assert conversation.is_leave_message and conversation.state == Conversation.State.PENDING
    site.close()


def test_full_page_h5_chat_for_app_web_views(personas, live_server_url, online_agent, browser):
    from playwright.sync_api import expect

    page = browser.new_context(locale="en-US", viewport={"width": 375, "height": 700}).new_page()
    page.goto(f"{live_server_url}/widget/chat/?inbox={personas.inbox_a.public_key}&lang=zh-TW")
    expect(page.locator("[data-action=start]")).to_have_text("聯絡我們")  # zh-TW picks Traditional Chinese
    widget_session_open(page)
    start_chat(page)
    page.fill("#w-input", "從 App 裡來的訊息")
    page.click("#w-composer button[type=submit]")
    conversation_id = online_agent.wait_for_message(lambda m: m["body"] == "從 App 裡來的訊息")["conversation_id"]
    online_agent.send("收到", conversation_id=conversation_id)
    expect(page.locator(".w-msg--agent .w-body")).to_have_text(["收到"], timeout=BROWSER_WAIT_MS)


def test_prechat_form_queue_position_and_attachment(personas, live_server_url, browser):
    from playwright.sync_api import expect

    from chat.tests.test_uploads import png_bytes

    def configure():
        # Someone serves the inbox but has no free slot: the chat waits in a queue that has an end.
        from routing.models import AgentPresence

        AgentPresence.objects.create(workspace=personas.workspace, user=personas.agent_a_user, status="online", capacity=0)
        inbox = personas.inbox_a
        inbox.prechat_fields = [{"key": "name", "label": "Your name", "type": "text", "required": True},
                                {"key": "phone", "label": "Phone", "type": "tel", "required": False}]
        inbox.save()

    outside_the_browser_loop(configure)
    site = MerchantSite(live_server_url, personas.inbox_a.public_key)
    page = browser.new_context(locale="en-US").new_page()
    frame = open_widget(page, site.url)
    frame.locator("[data-action=start]").click()
    expect(frame.locator("#w-prechat")).to_be_visible(timeout=BROWSER_WAIT_MS)
    frame.locator("#w-prechat-form button[type=submit]").click()
    expect(frame.locator("#w-prechat-form .w-error")).to_contain_text("Please fill in this field.")
    frame.locator("#w-f-name").fill("Wang Fang <i>")
    frame.locator("#w-f-phone").fill("+86 138 0000 0000")
    frame.locator("#w-prechat-form button[type=submit]").click()
    expect(frame.locator("#w-chat")).to_be_visible(timeout=BROWSER_WAIT_MS)
    frame.locator("#w-input").fill("Anyone there?")
    frame.locator("#w-composer button[type=submit]").click()
    # The customer waits in the queue and is told where.
    expect(frame.locator("#w-notice")).to_contain_text("number 1", timeout=10000)
    frame.locator("#w-file").set_input_files(files=[{"name": "photo.png", "mimeType": "image/png", "buffer": png_bytes(5, 5)}])
    expect(frame.locator(".w-msg--mine img")).to_have_count(1, timeout=10000)
    frame.locator("#w-file").set_input_files(files=[{"name": "evil.png", "mimeType": "image/png", "buffer": b"<script>alert(1)</script>"}])
    expect(frame.locator("#w-error")).not_to_be_empty()

    def stored():
        customer = Message.objects.get(body="Anyone there?").conversation.customer
        return customer.name, customer.attributes.get("phone"), Message.objects.filter(conversation__customer=customer, msg_type="image").count()

    assert outside_the_browser_loop(stored) == ("Wang Fang <i>", "+86 138 0000 0000", 1)
    site.close()
