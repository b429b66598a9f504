"""A WeChat Official Account chat served from the agent console on a phone (Debian's Chromium,
Playwright): a customer writes through WeChat's signed, encrypted callback (scripts/wechat_customer.py
against the live server), the agent answers with a quick phrase and an image, and the WeChat
simulator (a real subprocess) receives both while the console shows each one delivered."""

import subprocess
import sys

import pytest

from chat.models import Conversation, Inbox, Message
from conftest import make_agent, make_inbox, make_workspace, outside_the_browser_loop
from connectors.models import ChannelAccount, ChannelUser, OutboundMessage
from connectors.tests.simulator_fixture import simulator_process, wait_until, wechat_sim  # noqa: F401
from helpdesk.processes import BASE_DIR
from replies.models import QuickPhrase

pytestmark = [pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
TOKEN = "DemoToken2024"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
APP_ID = "wx5823bf96d3bd56c7"
OPENID = "o_browser_customer_0001"
PHRASE = "订单一般在付款后 48 小时内发货。"


@pytest.fixture
def wechat_api(simulator_process, monkeypatch):  # noqa: F811
    """The live server process inherits os.environ: its WeChat API is the simulator."""
    monkeypatch.setenv("WECHAT_API_BASE", simulator_process)
    monkeypatch.setenv("WECOM_API_BASE", simulator_process)
    return simulator_process


@pytest.fixture
def server(wechat_api, live_server_url):
    """The live server, started after WECHAT_API_BASE is set (fixtures run in argument order)."""
    return live_server_url


def wechat_customer(base_url, inbox_key, text):
    """scripts/wechat_customer.py as a customer uses it: a safe-mode (encrypted) text message."""
    run = subprocess.run(
        [sys.executable, "scripts/wechat_customer.py", "--url", base_url, f"--inbox={inbox_key}", "--token", TOKEN,
         "--app-id", APP_ID, "--aes-key", AES_KEY, "--safe", "--openid", OPENID, "--text", text],
        cwd=BASE_DIR, capture_output=True, text=True, timeout=30)
    assert run.returncode == 0, run.stdout + run.stderr


def test_agent_answers_a_wechat_customer_on_a_phone(wechat_sim, server, browser, artifacts):  # noqa: F811
    live_server_url = server
    from playwright.sync_api import expect

    from chat.tests.test_uploads import png_bytes

    def setup():
        workspace = make_workspace("公众号店铺")
        inbox = make_inbox(workspace, kind=Inbox.Kind.WECHAT_OA, name="微信公众号")
        account = ChannelAccount(inbox=inbox, app_id=APP_ID, token=TOKEN, mode=ChannelAccount.Mode.SAFE)
        account.app_secret = "sim-app-secret-0123456789abcdef"
        account.aes_key = AES_KEY
        account.save()
        make_agent(workspace, [inbox], username="wx_agent")
        QuickPhrase.objects.create(workspace=workspace, shortcut="ship", title="发货时间", body=PHRASE)
        return inbox.public_key

    inbox_key = outside_the_browser_loop(setup)

    context = browser.new_context(locale="zh-CN", viewport=PHONE, extra_http_headers={"Accept-Language": "zh-Hans"})
    page = context.new_page()
    page.goto(f"{live_server_url}/accounts/login/?next=/console/")
    page.fill("#id_username", "wx_agent")
    page.fill("#id_password", "pw-for-tests-123")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server_url}/console/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "online")
    page.select_option("#status-select", "online")
    expect(page.locator("#status-select")).to_have_attribute("data-status", "online")

    # The customer writes from WeChat: routing gives the chat to the agent, live.
    wechat_customer(live_server_url, inbox_key, "你好，我的订单什么时候发货？")
    conversation_id = outside_the_browser_loop(lambda: Conversation.objects.get(inbox__public_key=inbox_key).pk)
    row = page.locator(f'#conversation-list [data-conversation="{conversation_id}"]')
    expect(row).to_be_visible(timeout=20000)
    page.screenshot(path=artifacts / "wechat-phone-list.png")
    row.locator(".row__link").click()
    expect(page.locator("#messages .msg__body").first).to_have_text("你好，我的订单什么时候发货？")

    # The header: the WeChat badge and what is left of the reply window.
    header = page.locator("#conversation-header")
    expect(header.locator('[data-channel="wechat_oa"] .badge--wechat')).to_have_text("公众号")
    expect(header.locator(".channel-window")).to_have_text("还可回复 47 小时 / 5 条")
    expect(header.locator(".channel-window")).to_be_visible()

    # A quick phrase by "/ship": sent to WeChat with custom/send.
    page.fill("#composer-input", "/shi")
    expect(page.locator("#phrase-options [role=option]")).to_have_count(1)
    page.press("#composer-input", "Enter")
    expect(page.locator("#composer-input")).to_have_value(PHRASE)
    page.click("#composer button[type=submit]")
    assert wait_until(lambda: [b for b in wechat_sim.custom_sends() if b.get("msgtype") == "text"], timeout=20)
    text_send = next(b for b in wechat_sim.custom_sends() if b.get("msgtype") == "text")
    assert text_send["touser"] == OPENID and text_send["text"]["content"] == PHRASE
    phrase_bubble = page.locator("#messages .msg", has_text=PHRASE)
    expect(phrase_bubble.locator('[data-delivery="sent"]')).to_have_text("已送达微信", timeout=20000)
    expect(header.locator(".channel-window")).to_have_text("还可回复 47 小时 / 4 条", timeout=20000)

    # An image through the composer's attach button: media/upload, then custom/send with that media_id.
    page.set_input_files("#composer-file", files=[{"name": "receipt.png", "mimeType": "image/png", "buffer": png_bytes(40, 30)}])
    assert wait_until(lambda: [b for b in wechat_sim.custom_sends() if b.get("msgtype") == "image"], timeout=20)
    uploads = wechat_sim.sent("media/upload")
    assert len(uploads) == 1 and uploads[0]["body"]["type"] == "image"
    image_send = next(b for b in wechat_sim.custom_sends() if b.get("msgtype") == "image")
    assert image_send["touser"] == OPENID and image_send["image"]["media_id"] == uploads[0]["media_id"]
    assert wechat_sim.media(uploads[0]["media_id"]).startswith(b"\x89PNG")
    image_bubble = page.locator("#messages .msg", has=page.locator(".msg__body img"))
    expect(image_bubble).to_have_count(1)
    expect(image_bubble.locator('[data-delivery="sent"]')).to_have_text("已送达微信", timeout=20000)

    def states():
        return sorted(OutboundMessage.objects.filter(message__conversation_id=conversation_id).values_list("state", flat=True))

    assert outside_the_browser_loop(states) == ["sent", "sent"]
    assert outside_the_browser_loop(lambda: QuickPhrase.objects.get(shortcut="ship").usage_count) == 1
    assert outside_the_browser_loop(lambda: Message.objects.filter(conversation_id=conversation_id, sender_kind="agent").count()) == 2
    # Both replies counted and delivered: the header's last live re-render has happened (a header
    # replaced mid-screenshot detaches the element).
    expect(header.locator(".channel-window")).to_have_text("还可回复 47 小时 / 3 条", timeout=20000)
    page.screenshot(path=artifacts / "wechat-phone-conversation.png")
    page.screenshot(path=artifacts / "wechat-phone-header.png", clip=page.locator("#conversation-header").bounding_box())

    # WeChat's reply limit reached (as after five replies): the send is refused with the clear line,
    # nothing is stored or sent, and the text comes back into the composer as a draft.
    outside_the_browser_loop(lambda: ChannelUser.objects.filter(external_id=OPENID).update(replies_since_inbound=5))
    page.fill("#composer-input", "还有别的问题吗？")
    page.click("#composer button[type=submit]")
    refused = page.locator("#messages .msg--failed", has_text="还有别的问题吗？")
    expect(refused.locator(".msg__status")).to_contain_text("最多允许回复 5 条", timeout=20000)
    expect(page.locator("#composer-input")).to_have_value("还有别的问题吗？")
    assert outside_the_browser_loop(lambda: Message.objects.filter(conversation_id=conversation_id, sender_kind="agent").count()) == 2
    assert len([b for b in wechat_sim.custom_sends() if b.get("msgtype") == "text"]) == 1
    page.screenshot(path=artifacts / "wechat-phone-limit.png")
    context.close()
