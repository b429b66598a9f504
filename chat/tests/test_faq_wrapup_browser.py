"""常见问题 and 咨询分类 on a phone (issue 19, items 4 and 7), in Debian's Chromium at 375×812 in
zh-Hans: the agent finds an article from the composer and sends it as a card (the customer sees it on
the H5 page), pastes an internal article's answer (never offered as a card), and resolves a chat with
a wrap-up category (none chosen: refused; chosen: stored). Screenshots at 375 and 1440 px, tap
targets of 44 px, axe-core without serious or critical violations."""

import pytest

from accounts.models import Membership
from chat.models import Conversation, ConversationEvent, Disposition, Message, WrapUpSettings
from conftest import BROWSER_WAIT_MS, outside_the_browser_loop, send
from knowledge import actions as kb_actions
from knowledge import search
from knowledge.models import Article
from routing.models import AgentPresence

from .test_console_browser import no_serious_accessibility_violations
from .test_read_receipts_browser import open_h5, wait_for_row
from .test_seen_broken_browser import PHONE, log_in

pytestmark = [pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1440, "height": 900}


def assert_tap_targets(locator):
    boxes = [b.bounding_box() for b in locator.all()]
    assert boxes
    for box in boxes:
        assert box["height"] >= 44 and box["width"] >= 44, box


def publish(owner, slug, title, body, similar=(), internal=False):
    article = kb_actions.save_article(owner, slug=slug, versions={"zh-hans": {"title": title, "body": body, "similar_questions": list(similar)}},
                                      internal_only=internal)
    kb_actions.publish(owner, article.pk)
    search.index_article(article.pk)
    return article.pk


def open_console_conversation(browser, base, conversation_id):
    from playwright.sync_api import expect

    context = browser.new_context(**PHONE)
    page = context.new_page()
    log_in(page, base, "agent_a", f"/console/c/{conversation_id}/")
    page.wait_for_url(f"{base}/console/c/{conversation_id}/")
    expect(page.locator("#connection")).to_have_attribute("data-state", "online", timeout=BROWSER_WAIT_MS)
    expect(page.locator("#composer")).to_be_visible()
    return context, page


def test_agent_sends_an_faq_card_and_pastes_an_internal_answer(personas, search_index, live_server_url, browser, artifacts):
    from playwright.sync_api import expect

    p = personas

    def setup():
        owner = Membership.objects.get(user=p.owner_user)
        publish(owner, "returns", "如何退货", "收到商品 7 天内可以申请退货：在订单页点击**申请售后**。", ["怎么退货"])
        publish(owner, "returns-check", "退货审核内部流程", "先查物流签收记录，再在后台点击“同意退货”。", ["退货审核怎么操作"], internal=True)
        AgentPresence.objects.create(workspace=p.workspace, user=p.agent_a_user, status="online", capacity=5)

    outside_the_browser_loop(setup)
    customer_context = browser.new_context(**PHONE)
    customer = open_h5(customer_context, live_server_url, p.inbox_a.public_key)
    customer.click("[data-action=start]")
    expect(customer.locator("#w-input")).to_be_editable(timeout=BROWSER_WAIT_MS)
    customer.fill("#w-input", "请问怎么退货？")
    customer.click("#w-composer button[type=submit]")
    expect(customer.locator(".w-msg--mine", has_text="请问怎么退货？")).to_be_visible(timeout=BROWSER_WAIT_MS)
    wait_for_row(customer, lambda: outside_the_browser_loop(lambda: Message.objects.filter(body="请问怎么退货？").exists()))
    question = outside_the_browser_loop(lambda: Message.objects.get(body="请问怎么退货？"))
    wait_for_row(customer, lambda: outside_the_browser_loop(lambda: Conversation.objects.get(pk=question.conversation_id).assignee_id)
                 == p.agent_a_user.pk)

    agent_context, agent = open_console_conversation(browser, live_server_url, question.conversation_id)
    expect(agent.locator("#messages .msg__body", has_text="请问怎么退货？")).to_be_visible()

    # 📖 opens the FAQ: both articles, the internal one marked 内部 and without a card button.
    faq_button = agent.locator('#composer [data-action="faq"]')
    expect(faq_button).to_have_attribute("aria-label", "常见问题")
    faq_button.click()
    expect(agent.locator("#faq-picker")).to_be_visible()
    agent.fill("#faq-search", "退货")
    expect(agent.locator("#faq-options")).to_have_attribute("data-query", "退货", timeout=BROWSER_WAIT_MS)
    public = agent.locator(".faq-item", has_text="如何退货")
    internal = agent.locator(".faq-item", has_text="退货审核内部流程")
    expect(public).to_be_visible(timeout=BROWSER_WAIT_MS)
    expect(internal).to_be_visible()
    expect(internal.locator(".badge--internal")).to_have_text("内部")
    expect(internal.locator('[data-faq="send"]')).to_have_count(0)
    expect(public.locator('[data-faq="send"]')).to_have_text("发送卡片")
    expect(public.locator('[data-faq="paste"]')).to_have_text("插入答案")
    assert_tap_targets(agent.locator('.faq-item__actions button, #composer [data-action="faq"]'))
    assert agent.evaluate("document.documentElement.scrollWidth") <= 375
    agent.screenshot(path=artifacts / "faq-picker-phone.png")
    no_serious_accessibility_violations(agent)

    # Sent as a card: the agent's conversation and the customer's H5 page show the article link.
    public.locator('[data-faq="send"]').click()
    expect(agent.locator("#faq-picker")).to_be_hidden()
    card = agent.locator("#messages .msg--agent a.file", has_text="如何退货")
    expect(card).to_be_visible(timeout=BROWSER_WAIT_MS)
    seen = customer.locator(".w-msg--agent .w-body a", has_text="如何退货")
    expect(seen).to_be_visible(timeout=BROWSER_WAIT_MS)
    assert seen.get_attribute("href").endswith(f"/help/{p.workspace.slug}/zh-hans/articles/returns/")
    sent = outside_the_browser_loop(lambda: Message.objects.filter(conversation_id=question.conversation_id, sender_kind="agent").get())
    assert sent.msg_type == "article" and sent.attachments[0]["name"] == "如何退货" and not sent.is_private
    customer.screenshot(path=artifacts / "faq-card-customer-phone.png")

    # The internal article's answer is pasted into the reply box, then sent as the agent's text.
    faq_button.click()
    agent.fill("#faq-search", "退货审核")
    expect(agent.locator("#faq-options")).to_have_attribute("data-query", "退货审核", timeout=BROWSER_WAIT_MS)
    expect(internal).to_be_visible()
    internal.locator('[data-faq="paste"]').click()
    expect(agent.locator("#composer-input")).to_have_value("先查物流签收记录，再在后台点击“同意退货”。")
    agent.fill("#composer-input", agent.input_value("#composer-input") + "我们会尽快处理。")
    agent.click("#composer button[type=submit]")
    expect(customer.locator(".w-msg--agent .w-body", has_text="我们会尽快处理。")).to_be_visible(timeout=BROWSER_WAIT_MS)
    internal_id = outside_the_browser_loop(lambda: Article.objects.get(slug="returns-check").pk)
    assert not outside_the_browser_loop(lambda: Message.objects.filter(conversation_id=question.conversation_id, msg_type="article",
                                                                       attachments__icontains="returns-check").exists())
    assert internal_id
    assert customer.evaluate("document.documentElement.scrollWidth") <= 375
    agent.screenshot(path=artifacts / "faq-sent-agent-phone.png")
    customer.screenshot(path=artifacts / "faq-answer-customer-phone.png")
    no_serious_accessibility_violations(customer)

    # And on a desktop.
    agent.set_viewport_size(DESKTOP)
    faq_button.click()
    agent.fill("#faq-search", "退货")
    expect(agent.locator("#faq-options")).to_have_attribute("data-query", "退货", timeout=BROWSER_WAIT_MS)
    expect(agent.locator(".faq-item")).to_have_count(2)
    agent.screenshot(path=artifacts / "faq-picker-desktop.png")
    customer.set_viewport_size(DESKTOP)
    customer.screenshot(path=artifacts / "faq-card-customer-desktop.png")
    customer_context.close()
    agent_context.close()


def required_categories_and_a_chat(p, names, body):
    """The workspace requires one of `names`; the visitor's chat, assigned to agent A. Its id."""
    settings = WrapUpSettings.objects.create(workspace=p.workspace, required=True)
    for i, name in enumerate(names):
        Disposition.objects.create(wrap_up=settings, name=name, position=i)
    message, _ = send(p.visitor, body)
    Conversation.objects.filter(pk=message.conversation_id).update(assignee=p.agent_a_user, state="assigned")
    return message.conversation_id


def test_agent_resolves_with_a_wrap_up_category(personas, live_server_url, browser, artifacts):
    from playwright.sync_api import expect

    p = personas

    cid = outside_the_browser_loop(lambda: required_categories_and_a_chat(p, ["退货退款", "物流查询", "发票", "商品咨询"], "快递三天没动了"))
    context, page = open_console_conversation(browser, live_server_url, cid)
    page.click('[data-action="open-wrapup"]')
    dialog = page.locator("#wrapup-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("legend")).to_have_text("解决会话：选择咨询分类", use_inner_text=True)  # the close title is hidden
    expect(dialog.locator(".wrapup-choice")).to_have_text(["退货退款", "物流查询", "发票", "商品咨询"])  # required: no "未分类"
    assert_tap_targets(dialog.locator(".wrapup-choice, .dialog-actions button"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=artifacts / "wrapup-dialog-phone.png")
    no_serious_accessibility_violations(page)

    # Resolving without a category: the server's clear error in the dialog, nothing stored.
    dialog.locator("button[type=submit]").click()
    expect(dialog.locator(".form-error")).to_have_text("请先选择咨询分类，再解决会话。", timeout=BROWSER_WAIT_MS)
    assert outside_the_browser_loop(lambda: Conversation.objects.get(pk=cid).state) == "assigned"
    page.screenshot(path=artifacts / "wrapup-required-error-phone.png")
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=artifacts / "wrapup-dialog-desktop.png")
    page.set_viewport_size(PHONE["viewport"])

    # Chosen: resolved, stored with its event, the header follows.
    dialog.locator(".wrapup-choice", has_text="物流查询").click()
    dialog.locator("button[type=submit]").click()
    expect(dialog).to_be_hidden(timeout=BROWSER_WAIT_MS)
    expect(page.locator(".conv-header")).to_have_attribute("data-state", "resolved", timeout=BROWSER_WAIT_MS)
    stored = outside_the_browser_loop(lambda: Conversation.objects.select_related("disposition").get(pk=cid))
    assert stored.state == "resolved" and stored.disposition.name == "物流查询"
    event = outside_the_browser_loop(lambda: ConversationEvent.objects.get(conversation_id=cid, kind="wrapped_up"))
    assert event.data["name"] == "物流查询" and event.actor_user_id == p.agent_a_user.pk
    expect(page.locator(".conv-header")).to_contain_text("咨询分类：物流查询")
    page.screenshot(path=artifacts / "wrapup-resolved-phone.png")
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=artifacts / "wrapup-resolved-desktop.png")
    context.close()


def test_agent_closes_an_open_conversation_through_the_wrap_up_dialog(personas, live_server_url, browser, artifacts):
    """Close is no way around a required category: on an open conversation it opens the same dialog,
    titled for closing, and the server's rule holds."""
    from playwright.sync_api import expect

    p = personas

    cid = outside_the_browser_loop(lambda: required_categories_and_a_chat(p, ["退货退款", "物流查询"], "不用了，谢谢"))
    context, page = open_console_conversation(browser, live_server_url, cid)
    page.click('[data-action="open-wrapup"][data-state="closed"]')
    dialog = page.locator("#wrapup-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("legend")).to_have_text("关闭会话：选择咨询分类", use_inner_text=True)
    expect(dialog.locator("button[type=submit]")).to_have_text("关闭", use_inner_text=True)
    dialog.locator("button[type=submit]").click()
    expect(dialog.locator(".form-error")).to_have_text("请先选择咨询分类，再关闭会话。", timeout=BROWSER_WAIT_MS)
    assert outside_the_browser_loop(lambda: Conversation.objects.get(pk=cid).state) == "assigned"
    page.screenshot(path=artifacts / "wrapup-close-required-phone.png")
    dialog.locator(".wrapup-choice", has_text="退货退款").click()
    dialog.locator("button[type=submit]").click()
    expect(dialog).to_be_hidden(timeout=BROWSER_WAIT_MS)
    stored = outside_the_browser_loop(lambda: Conversation.objects.select_related("disposition").get(pk=cid))
    assert stored.state == "closed" and stored.disposition.name == "退货退款"
    # The header follows even though the composer goes (the pane is mounted afresh, header included).
    expect(page.locator(".conv-header")).to_have_attribute("data-state", "closed", timeout=BROWSER_WAIT_MS)
    expect(page.locator(".conv-header")).to_contain_text("咨询分类：退货退款")
    page.screenshot(path=artifacts / "wrapup-closed-phone.png")
    context.close()
