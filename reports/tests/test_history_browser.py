"""会话记录 in Debian's Chromium, in zh-Hans: an agent on a phone (375×812) searches their history with
a traditional keyword, sees the highlighted snippet, opens the transcript; the same on a desktop
(1440×900) with the filters open. Screenshots in test-artifacts/, axe-core without serious or
critical violations."""

import pytest

from chat import access
from chat.models import Conversation, Participant
from chat.tests.test_console_browser import no_serious_accessibility_violations
from chat.tests.test_seen_broken_browser import PHONE, log_in
from conftest import BROWSER_WAIT_MS, make_visitor, outside_the_browser_loop, send

pytestmark = [pytest.mark.django_db(transaction=True)]
DESKTOP = {"viewport": {"width": 1440, "height": 900}, "locale": "zh-CN"}


def test_agent_finds_a_past_chat_on_a_phone_and_a_desktop(personas, live_server_url, browser, artifacts):
    from playwright.sync_api import expect

    p = personas

    def setup():
        agent = access.agent_actor_for(p.agent_a_user, p.workspace.pk)
        ids = []
        for body, answer in [("我想退货，快递单号是 SF123456，<b>急</b>", "好的，退货地址已发给您。"),
                             ("發票什麼時候開？", "发票会在三个工作日内开具。"),
                             ("Where is my parcel? 包裹还没到", "已帮您催促快递。")]:
            visitor, _t = make_visitor(p.inbox_a)
            message, _ = send(visitor, body)
            ids.append(message.conversation_id)
            Conversation.objects.filter(pk=message.conversation_id).update(assignee=p.agent_a_user, state="assigned")
            Participant.add(message.conversation_id, p.agent_a_user.pk)
            send(agent, answer, conversation_id=message.conversation_id)
        return ids

    ids = outside_the_browser_loop(setup)
    base = live_server_url
    for name, options in (("375", PHONE), ("1440", DESKTOP)):
        context = browser.new_context(**options)
        page = context.new_page()
        log_in(page, base, "agent_a", "/console/history/")
        page.wait_for_url(f"{base}/console/history/")
        expect(page.locator("h1")).to_have_text("会话记录")
        expect(page.locator(".history-row")).to_have_count(3, timeout=BROWSER_WAIT_MS)
        page.fill("#h-q", "退貨")
        page.click(".history-keyword button[type=submit]")
        expect(page.locator(".history-row")).to_have_count(1, timeout=BROWSER_WAIT_MS)
        row = page.locator(".history-row")
        expect(row.locator("mark").first).to_have_text("退货")
        expect(row.locator(".history-row__snippet")).to_contain_text("<b>急</b>")  # shown as text, not markup
        if name == "1440":
            expect(page.locator(".history-more")).to_have_attribute("open", "")
        no_serious_accessibility_violations(page)
        page.screenshot(path=artifacts / f"history-{name}-results.png", full_page=True)
        row.locator("a").click()
        page.wait_for_url(f"{base}/console/history/c/{ids[0]}/?*")
        expect(page.locator(".transcript__message--customer")).to_have_count(1)
        expect(page.locator(".history-transcript")).to_contain_text("退货地址已发给您")
        no_serious_accessibility_violations(page)
        page.screenshot(path=artifacts / f"history-{name}-transcript.png", full_page=True)
        context.close()
