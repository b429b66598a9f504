"""A customer on a phone (Debian's Chromium) taps a 猜你想问 choice and gets that article, then
answers 「是否解决了您的问题？」 with 已解决."""

import pytest

from chat.models import Message
from conftest import BROWSER_WAIT_MS, outside_the_browser_loop, widget_session_open
from knowledge.models import BotAnswer
from knowledge.tests.test_bot_conversation import publish_articles

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def unsure_bot(personas, search_index, monkeypatch):
    # The live server is another process: its bot is made "never sure" through its environment.
    monkeypatch.setenv("KB_BOT_MIN_CONFIDENCE", "2")
    publish_articles(personas)
    return personas


def test_phone_customer_taps_a_suggestion_then_solved(unsure_bot, live_server_url, browser, artifacts):
    from playwright.sync_api import expect

    p = unsure_bot
    page = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 760}, has_touch=True, is_mobile=True).new_page()
    page.goto(f"{live_server_url}/widget/chat/?inbox={p.inbox_a.public_key}&lang=zh-hans")
    widget_session_open(page)
    page.click("[data-action=start]")
    expect(page.locator("#w-input")).to_be_editable(timeout=BROWSER_WAIT_MS)
    page.fill("#w-input", "退货怎么弄")
    page.click("#w-composer button[type=submit]")

    choice = page.locator(".w-msg--bot .w-choice[data-choice=ask]").first
    expect(choice).to_have_text("如何退货", timeout=BROWSER_WAIT_MS)
    expect(page.locator(".w-msg--bot").first).to_contain_text("猜你想问：")
    expect(page.locator("#w-bot")).to_be_visible()  # "talk to a person" stays
    choice.tap()

    expect(page.locator(".w-msg--customer").last).to_contain_text("如何退货", timeout=BROWSER_WAIT_MS)
    expect(page.locator(".w-msg--bot").nth(1)).to_contain_text("收到商品 7 天内可以申请退货", timeout=BROWSER_WAIT_MS)
    solved = page.locator(".w-msg--bot .w-choice[data-choice=resolved]")
    expect(solved).to_have_text("已解决", timeout=BROWSER_WAIT_MS)
    expect(page.locator(".w-msg--bot .w-choice[data-choice=unresolved]")).to_have_text("未解决")
    expect(page.locator(".w-msg--bot").nth(2)).to_contain_text("是否解决了您的问题？")
    solved.tap()

    expect(solved).to_have_attribute("aria-pressed", "true", timeout=BROWSER_WAIT_MS)
    expect(page.locator(".w-msg--bot").last).to_contain_text("很高兴能帮到您！", timeout=BROWSER_WAIT_MS)
    expect(page.locator(".w-msg--bot .w-choice[data-choice=unresolved]")).to_be_disabled()
    page.screenshot(path=artifacts / "bot-choices-solved-phone.png")

    answer = outside_the_browser_loop(lambda: BotAnswer.objects.select_related("article").get())
    assert (answer.feedback, answer.article.slug, answer.question) == ("resolved", "returns", "如何退货")
    bodies = outside_the_browser_loop(lambda: list(Message.objects.order_by("seq").values_list("sender_kind", "body")))
    assert [kind for kind, _body in bodies] == ["customer", "bot", "customer", "bot", "bot", "bot"]
