"""Quick phrases in Debian's Chromium (Playwright) on a phone (375×812): the agent creates a
personal phrase with an attachment on the management page, then serves a live customer with
"/shortcut" phrases (keyboard and tap); the customer's real WebSocket receives them."""

import pytest
from django.utils import translation

from chat.models import Conversation, Message
from chat.tests.live_customer import LiveCustomer
from chat.tests.test_console_browser import log_in, no_serious_accessibility_violations
from chat.tests.test_uploads import png_bytes
from conftest import make_visitor, outside_the_browser_loop
from replies.models import QuickPhrase
from routing.models import AgentPresence

pytestmark = [pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 812}


def test_agent_manages_and_inserts_quick_phrases_on_a_phone(personas, live_server_url, browser, artifacts):
    from playwright.sync_api import expect

    p = personas

    def setup():
        QuickPhrase.objects.create(workspace=p.workspace, shortcut="ship", title="Shipping time", category="Orders",
                                   body="Hi {customer_name}, parcels leave within 48 hours.")
        AgentPresence.objects.create(workspace=p.workspace, user=p.owner_user, status="online", capacity=0)  # agent_a gets the chat
        return make_visitor(p.inbox_a)

    _visitor, token = outside_the_browser_loop(setup)
    context = browser.new_context(locale="en-US", viewport=PHONE, has_touch=True, is_mobile=True)
    page = context.new_page()
    log_in(page, live_server_url, "agent_a")

    # --- a personal phrase through the management page (from the settings page) -------------------
    page.goto(f"{live_server_url}/console/settings/")
    page.click("text=Manage my quick phrases")
    page.wait_for_url(f"{live_server_url}/console/phrases/manage/")
    expect(page.locator(".phrase-item", has_text="/ship")).to_contain_text("Whole workspace")
    expect(page.locator(".phrase-item", has_text="/ship").locator("a", has_text="Edit")).to_have_count(0)  # not the agent's to edit
    page.click("#new-phrase")
    page.fill("#id_title", "优惠券")
    page.fill("#id_shortcut", "two words")
    page.fill("#id_category", "活动")
    page.fill("#id_body", "{customer_name}，送您一张优惠券！")
    page.set_input_files("#phrase-file", files=[{"name": "coupon.png", "mimeType": "image/png", "buffer": png_bytes(6, 4)}])
    expect(page.locator("#phrase-attachment-name")).to_contain_text("coupon.png")
    page.click("#phrase-form button[type=submit]")
    expect(page.locator("#id_shortcut_error")).to_be_visible()  # bad input: the form again, nothing stored
    expect(page.locator("#id_shortcut")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#phrase-attachment-name")).to_contain_text("coupon.png")  # the upload is kept
    assert outside_the_browser_loop(lambda: QuickPhrase.objects.filter(scope="personal").count()) == 0
    page.fill("#id_shortcut", "coupon")
    page.click("#phrase-form button[type=submit]")
    page.wait_for_url(f"{live_server_url}/console/phrases/manage/?saved=1")
    mine = page.locator(".phrase-item", has_text="/coupon")
    expect(mine).to_contain_text("Personal")
    expect(mine).to_contain_text("coupon.png")
    page.screenshot(path=artifacts / "phrases-phone-manage.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling on a phone
    no_serious_accessibility_violations(page)
    phrase = outside_the_browser_loop(lambda: QuickPhrase.objects.get(shortcut="coupon"))
    assert (phrase.scope, phrase.owner_id, phrase.category) == ("personal", p.agent_a_user.pk, "活动")
    assert phrase.attachment["name"] == "coupon.png" and phrase.attachment["kind"] == "image"

    # --- serving a customer: "/ship" + Enter --------------------------------------------------------
    page.goto(f"{live_server_url}/console/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "online")
    page.select_option("#status-select", "online")
    expect(page.locator("#status-select")).to_have_attribute("data-status", "online")
    customer = LiveCustomer(live_server_url, token)
    first = customer.send("When will my parcel leave?")
    conversation_id = first["conversation_id"]
    row = page.locator(f'#conversation-list [data-conversation="{conversation_id}"]')
    expect(row).to_be_visible(timeout=10000)
    row.locator(".row__link").click()

    def english_name():
        with translation.override("en"):
            return str(Conversation.objects.get(pk=conversation_id).customer.display_name)

    name = outside_the_browser_loop(english_name)
    composer = page.locator("#composer-input")
    composer.press_sequentially("/ship")
    expect(page.locator("#phrase-options [role=option]")).to_have_count(1)
    expect(page.locator("#phrase-options [role=option]")).to_contain_text("Shipping time")
    composer.press("Enter")
    expect(composer).to_have_value(f"Hi {name}, parcels leave within 48 hours.")
    page.click("#composer button[type=submit]")
    received = customer.wait_for_message(lambda m: "parcels leave within 48 hours." in m["body"])
    assert received["body"] == f"Hi {name}, parcels leave within 48 hours." and received["sender"]["kind"] == "agent"
    stored = outside_the_browser_loop(lambda: list(Message.objects.filter(conversation_id=conversation_id, sender_kind="agent").values_list("body", flat=True)))
    assert stored == [f"Hi {name}, parcels leave within 48 hours."]
    assert outside_the_browser_loop(lambda: QuickPhrase.objects.get(shortcut="ship").usage_count) == 1

    # --- the personal phrase found by its title typed in traditional script, tapped; its image goes along
    composer.press_sequentially("/優惠")
    option = page.locator("#phrase-options [role=option]")
    expect(option).to_have_count(1)
    option.tap()
    expect(composer).to_have_value(f"{name}，送您一张优惠券！")
    expect(page.locator(".composer__attachment")).to_contain_text("coupon.png")
    page.screenshot(path=artifacts / "phrases-phone-composer.png")
    page.click("#composer button[type=submit]")
    image = customer.wait_for_message(lambda m: m["type"] == "image")
    assert image["body"] == f"{name}，送您一张优惠券！" and image["attachments"][0]["url"] == phrase.attachment["url"]
    expect(page.locator(".composer__attachment")).to_be_hidden()
    expect(page.locator("#messages .msg__body img")).to_have_count(1)
    assert outside_the_browser_loop(lambda: Message.objects.filter(conversation_id=conversation_id, msg_type="image",
                                                                   body=f"{name}，送您一张优惠券！").count()) == 1
    assert outside_the_browser_loop(lambda: QuickPhrase.objects.get(shortcut="coupon").usage_count) == 1
    customer.close()
    context.close()
