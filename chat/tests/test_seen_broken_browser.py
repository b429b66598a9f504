"""What was seen broken on a phone (issue 19, item 9), in Debian's Chromium at 375×812 in zh-Hans:
the console's bottom bar, the transfer dialog, display names, the bot chats' own list, the demo
shop's chat launcher, and the verifier's page."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Membership, Role
from chat.models import Conversation
from conftest import make_agent, make_visitor, outside_the_browser_loop, send
from orders.models import Voucher
from routing.models import AgentPresence

from .test_console_browser import no_serious_accessibility_violations

pytestmark = [pytest.mark.django_db(transaction=True)]

PHONE = {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True, "locale": "zh-CN"}


def log_in(page, base, username, next_url):
    page.goto(f"{base}/accounts/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-for-tests-123")
    page.click("button[type=submit]")


def test_console_on_a_phone_labels_names_bot_list_and_transfer(personas, live_server_url, browser, artifacts):
    from playwright.sync_api import expect

    p = personas

    def setup():
        Membership.objects.filter(user=p.agent_a_user).update(display_name="小王")
        Membership.objects.filter(user=p.owner_user).update(display_name="店长老李")
        AgentPresence.objects.create(workspace=p.workspace, user=p.owner_user, status="offline", capacity=5)
        mine = send(p.visitor, "我的快递到哪了？")[0].conversation
        Conversation.objects.filter(pk=mine.pk).update(assignee=p.agent_a_user, state="assigned")
        bot_visitor, _ = make_visitor(p.inbox_a)
        bot = send(bot_visitor, "营业时间？")[0].conversation
        Conversation.objects.filter(pk=bot.pk).update(state="bot")
        return mine.pk, bot.pk

    mine, bot = outside_the_browser_loop(setup)
    context = browser.new_context(**PHONE)
    page = context.new_page()
    log_in(page, live_server_url, "agent_a", "/console/")
    page.wait_for_url(f"{live_server_url}/console/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "online")

    # The bottom bar: three different words.
    labels = [t.strip() for t in page.locator(".bottom-nav button").all_inner_texts()]
    assert [label.split()[0] for label in labels] == ["会话列表", "当前会话", "客户"]
    for box in (b.bounding_box() for b in page.locator(".bottom-nav button").all()):
        assert box["height"] >= 44

    # 全部 keeps to chats for people; the bot's chats have their own tab. Rows name the agent by display name.
    page.click('.list-tab[data-view="all"]')
    expect(page.locator(f'#conversation-list [data-conversation="{mine}"]')).to_be_visible()
    expect(page.locator(f'#conversation-list [data-conversation="{bot}"]')).to_have_count(0)
    expect(page.locator(f'#conversation-list [data-conversation="{mine}"] .row__assignee')).to_have_text("· 小王")
    page.screenshot(path=artifacts / "seen-broken-console-all-phone.png")
    page.click('.list-tab[data-view="bot"]')
    expect(page.locator('.list-tab[data-view="bot"]')).to_have_attribute("aria-selected", "true")
    expect(page.locator(f'#conversation-list [data-conversation="{bot}"]')).to_be_visible()
    expect(page.locator(f'#conversation-list [data-conversation="{mine}"]')).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=artifacts / "seen-broken-console-bot-phone.png")

    # The page was loaded while the owner was offline; they go online, then the agent opens the dialog.
    page.click('.list-tab[data-view="mine"]')
    page.locator(f'#conversation-list [data-conversation="{mine}"] .row__link').click()
    expect(page.locator("#conversation-header")).to_contain_text("小王")
    outside_the_browser_loop(lambda: AgentPresence.objects.filter(user=p.owner_user).update(status="online"))
    page.click('[data-action="open-transfer"]')
    option = page.locator(f'#transfer-agent option[value="{p.owner_user.pk}"]')
    expect(option).to_have_text("店长老李（在线，进行中会话：0）")
    expect(page.locator("#transfer-dialog")).to_be_visible()
    page.screenshot(path=artifacts / "seen-broken-transfer-dialog-phone.png")
    page.select_option("#transfer-agent", str(p.owner_user.pk))
    page.click("#transfer-dialog button[type=submit]")
    expect(page.locator("#alerts [data-notice]")).to_contain_text("已转接给店长老李。")
    expect(page.locator(f'#conversation-list [data-conversation="{mine}"]')).to_have_count(0)  # no longer agent_a's
    assert outside_the_browser_loop(lambda: Conversation.objects.get(pk=mine).assignee_id) == p.owner_user.pk
    page.screenshot(path=artifacts / "seen-broken-transferred-phone.png")
    no_serious_accessibility_violations(page)
    context.close()


def test_demo_shop_shows_the_chat_launcher_on_a_phone(personas, live_server_url, browser, artifacts):
    from playwright.sync_api import expect

    context = browser.new_context(**PHONE)
    page = context.new_page()
    page.goto(f"{live_server_url}/widget/demo/")
    launcher = page.locator("[data-helpdesk-launcher]")
    expect(launcher).to_be_visible()
    box = launcher.bounding_box()
    width = page.evaluate("window.innerWidth")
    assert width == 375 and page.evaluate("document.documentElement.scrollWidth") <= 375
    assert 0 <= box["x"] and box["x"] + box["width"] <= 375 and box["y"] + box["height"] <= 812
    assert box["width"] >= 44 and box["height"] >= 44
    page.screenshot(path=artifacts / "seen-broken-demo-shop-phone.png")
    launcher.click()
    expect(page.locator("iframe")).to_be_visible()
    context.close()


def test_verifier_on_a_phone_lower_case_code_history_and_no_console(live_server_url, browser, artifacts, db):
    from playwright.sync_api import expect

    from conftest import make_workspace

    def setup():
        ws = make_workspace("茶馆")
        make_agent(ws, role=Role.VERIFIER, username="counter")
        Voucher.objects.create(workspace=ws, code="TEA-2024-0001", title="双人下午茶", valid_until=timezone.now() + timedelta(days=3))

    outside_the_browser_loop(setup)
    context = browser.new_context(**PHONE)
    page = context.new_page()
    log_in(page, live_server_url, "counter", "/console/")
    page.wait_for_url(f"{live_server_url}/verify/")  # sent to their page, not a broken console
    expect(page.locator("[data-recent]")).to_contain_text("你还没有核销过任何券码或订单。")

    page.locator("#verify-code").fill(" tea-2024-0001 ")
    page.locator("[data-lookup] button[type=submit]").click()
    expect(page.locator("[data-voucher] h2")).to_have_text("双人下午茶")
    page.locator("[data-verify] button[type=submit]").click()
    expect(page.locator(".notice-success")).to_contain_text("TEA-2024-0001")
    expect(page.locator('[data-recent-code="TEA-2024-0001"]')).to_contain_text("双人下午茶")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=artifacts / "seen-broken-verify-history-phone.png", full_page=True)
    no_serious_accessibility_violations(page)
    context.close()
