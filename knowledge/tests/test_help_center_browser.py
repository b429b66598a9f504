"""The help center on a phone (375×812, Debian's Chromium via Playwright, a real uvicorn):
browse home → category → article, instant search in Chinese with the real search engine,
"was this helpful?", and "Contact us" opening the chat widget in place, answered by an agent
on a real socket, with the article as the conversation's entry page."""

import pytest

from chat.models import Conversation, CustomerVisit
from conftest import BROWSER_WAIT_MS, outside_the_browser_loop, widget_session_open
from knowledge import actions
from knowledge.models import Article, HelpSession, SearchLog

pytestmark = [pytest.mark.django_db(transaction=True)]



@pytest.fixture
def help_center(personas, search_index):
    """Published articles written and indexed through the real actions (after commit), in a
    search index of this test that the live server (started after this fixture) reads too."""
    from accounts.models import Membership


    owner = Membership.objects.get(user=personas.owner_user)
    orders = actions.save_category(owner, slug="orders", name_zh_hans="订单与退款", name_en="Orders")
    refund = actions.save_article(owner, slug="refund", category_id=orders.pk, versions={
        "zh-hans": {"title": "如何申请退款", "body": "在**我的订单**里点击「申请退款」，退款会在 7 天内原路退回。",
                    "similar_questions": ["退款多久到账"]},
        "en": {"title": "How to get a refund", "body": "Open **My orders** and tap *Refund*."},
    })
    invoice = actions.save_article(owner, slug="invoice", category_id=orders.pk, versions={
        "zh-hans": {"title": "如何开发票", "body": "在订单详情页申请电子发票。"}})
    for article in (refund, invoice):
        actions.publish(owner, article.pk)
    return {"workspace": personas.workspace.slug, "refund": refund, "invoice": invoice}


def test_browse_search_vote_and_contact_us_on_a_phone(personas, help_center, live_server_url, online_agent, browser, artifacts):
    from playwright.sync_api import expect

    ws = help_center["workspace"]
    context = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 812}, has_touch=True, is_mobile=True)
    page = context.new_page()
    errors = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    failed = []
    page.on("response", lambda r: r.status >= 400 and failed.append((r.status, r.url)))

    # Home (by the browser's language) → category → article.
    page.goto(f"{live_server_url}/help/{ws}/")
    assert page.url == f"{live_server_url}/help/{ws}/zh-hans/"
    expect(page.locator(".hc-categories a")).to_contain_text(["订单与退款"])
    page.screenshot(path=artifacts / "help-center-home-phone.png")
    page.locator(".hc-categories a", has_text="订单与退款").click()
    expect(page.locator("h1")).to_have_text("订单与退款")
    page.locator(".hc-list a", has_text="如何申请退款").click()
    expect(page.locator("h1")).to_have_text("如何申请退款")
    expect(page.locator(".hc-body strong")).to_have_text("我的订单")
    article_url = f"{live_server_url}/help/{ws}/zh-hans/articles/refund/"
    assert page.url == article_url

    # Instant search in Chinese: results appear while typing and link to the article.
    page.goto(f"{live_server_url}/help/{ws}/zh-hans/")
    page.locator("#hc-q").fill("退款")
    results = page.locator("#hc-instant a:has(.hc-hit-title)")
    expect(results.first).to_be_visible(timeout=BROWSER_WAIT_MS)
    expect(results.first.locator(".hc-hit-title")).to_have_text("如何申请退款")
    page.screenshot(path=artifacts / "help-center-instant-search-phone.png")
    results.first.click()
    expect(page.locator("h1")).to_have_text("如何申请退款")
    assert page.url == article_url
    log = outside_the_browser_loop(lambda: list(SearchLog.objects.values_list("query", "source", "result_count")))
    assert log == [("退款", "help_center", 1)]

    # "Was this helpful?" → yes: counted, thanks shown in place.
    page.locator(".hc-vote button[value=yes]").click()
    expect(page.locator("[data-vote-thanks]")).to_be_visible()
    assert page.url == article_url
    page.screenshot(path=artifacts / "help-center-article-phone.png", full_page=True)
    counts = outside_the_browser_loop(lambda: Article.objects.filter(pk=help_center["refund"].pk).values_list("helpful_count", "view_count").get())
    assert counts[0] == 1 and counts[1] >= 2
    assert outside_the_browser_loop(lambda: HelpSession.objects.filter(source="help_center").count()) == 1

    # "Contact us": the widget opens on this page; the agent gets the message; the article is the entry page.
    page.locator("form[data-contact] button").click()
    frame_element = page.locator("[data-helpdesk-frame]")
    expect(frame_element).to_be_visible()
    assert page.url == article_url
    frame = page.frame_locator("[data-helpdesk-frame]")
    widget_session_open(frame)  # "Contact us" shows before the session is open; a click until then is lost
    frame.locator("[data-action=start]").click()
    expect(frame.locator("#w-input")).to_be_editable(timeout=BROWSER_WAIT_MS)
    frame.locator("#w-input").fill("退款还没到账")
    frame.locator("#w-composer button[type=submit]").click()
    message = online_agent.wait_for_message(lambda m: m["body"] == "退款还没到账")
    page.screenshot(path=artifacts / "help-center-contact-phone.png")
    conversation = outside_the_browser_loop(lambda: Conversation.objects.select_related("customer").get(pk=message["conversation_id"]))
    assert conversation.entry_page == article_url
    assert conversation.inbox_id == personas.inbox_a.pk  # the workspace's first web inbox
    visits = outside_the_browser_loop(lambda: list(CustomerVisit.objects.filter(customer=conversation.customer).values_list("url", flat=True)))
    assert article_url in visits
    online_agent.send("正在为您查询", conversation_id=conversation.pk)
    expect(frame.locator(".w-msg--agent .w-body")).to_have_text(["正在为您查询"], timeout=BROWSER_WAIT_MS)
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
    assert not [e for e in errors if "Failed to load resource" not in e], errors
    assert [url for status, url in failed if not url.endswith("/favicon.ico")] == [], failed
    context.close()


def test_contact_us_without_the_widget_opens_the_full_page_chat(personas, help_center, live_server_url, browser):
    from playwright.sync_api import expect

    ws = help_center["workspace"]
    context = browser.new_context(locale="zh-CN", viewport={"width": 375, "height": 812})
    context.route("**/static/chat/widget/loader.js", lambda route: route.abort())  # blocked (e.g. by a content blocker)
    page = context.new_page()
    article_url = f"{live_server_url}/help/{ws}/zh-hans/articles/invoice/"
    page.goto(article_url)
    page.locator("form[data-contact] button").click()
    page.wait_for_url("**/widget/chat/**")
    expect(page.locator("[data-action=start]")).to_be_visible()
    from urllib.parse import parse_qs, urlsplit

    query = parse_qs(urlsplit(page.url).query)
    assert query["inbox"] == [personas.inbox_a.public_key] and query["page"] == [article_url]
    context.close()
