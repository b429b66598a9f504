"""A bot-first inbox in the customer's chat (Debian's Chromium): the bot answers a known
question from the knowledge base, and "转人工" brings a person (a real agent socket)."""

import pytest

from accounts.models import Membership
from chat.models import Conversation, ConversationEvent, Message
from conftest import BROWSER_WAIT_MS, outside_the_browser_loop, verified_client, widget_session_open
from knowledge import actions
from routing.models import AgentPresence

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def bot_inbox(personas, search_index):
    owner = Membership.objects.get(user=personas.owner_user)
    article = actions.save_article(owner, slug="returns", versions={"zh-hans": {
        "title": "如何退货", "body": "收到商品 7 天内可以申请退货：在订单页点击“申请售后”。", "similar_questions": ["怎么退货", "我要退货"]}})
    actions.publish(owner, article.pk)
    personas.inbox_a.bot_first = True
    personas.inbox_a.save()
    AgentPresence.objects.filter(user=personas.owner_user).delete()
    return personas


def test_bot_answers_then_hands_off_on_keyword(bot_inbox, live_server_url, browser, artifacts):
    from playwright.sync_api import expect

    from chat.tests.live_customer import LiveAgent

    p = bot_inbox
    agent = LiveAgent(live_server_url, outside_the_browser_loop(lambda: verified_client(p.agent_a_user).cookies["sessionid"].value))
    agent.frame({"type": "status", "status": "online"}, "status.ok")
    page = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 760}).new_page()
    page.goto(f"{live_server_url}/widget/chat/?inbox={p.inbox_a.public_key}&lang=zh-hans")
    widget_session_open(page)  # "Contact us" shows before the session is open; a click until then is lost
    page.click("[data-action=start]")
    expect(page.locator("#w-input")).to_be_editable(timeout=BROWSER_WAIT_MS)
    page.fill("#w-input", "请问怎么退货？")
    page.click("#w-composer button[type=submit]")
    answer = page.locator(".w-msg--bot").first
    expect(answer).to_contain_text("如何退货", timeout=15000)
    expect(answer.locator("a")).to_have_attribute("href", f"/help/{p.workspace.slug}/zh-hans/articles/returns/")
    expect(page.locator("#w-bot")).to_be_visible()  # "talk to a person" is always there while the bot has the chat
    conversation_id = outside_the_browser_loop(lambda: Message.objects.get(body="请问怎么退货？").conversation_id)
    assert outside_the_browser_loop(lambda: Conversation.objects.get(pk=conversation_id).state) == "bot"
    page.screenshot(path=artifacts / "bot-answer-phone.png")

    page.fill("#w-input", "转人工")
    page.click("#w-composer button[type=submit]")
    agent.wait_for(lambda f: f["type"] == "conversation.updated" and f["conversation"]["id"] == conversation_id
                   and f["conversation"]["assignee_id"] == p.agent_a_user.pk, timeout=15)
    expect(page.locator("#w-bot")).to_be_hidden()
    conversation = outside_the_browser_loop(lambda: Conversation.objects.get(pk=conversation_id))
    assert (conversation.state, conversation.assignee_id) == ("assigned", p.agent_a_user.pk)
    assert outside_the_browser_loop(lambda: ConversationEvent.objects.get(conversation_id=conversation_id, kind="handed_off").data) == {"reason": "keyword"}
    agent.send("您好，我来帮您处理退货。", conversation_id=conversation_id)
    expect(page.locator(".w-msg--agent")).to_contain_text(["您好，我来帮您处理退货。"])
    agent.close()
