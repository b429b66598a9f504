"""数据看板 and 预警 on a phone (issue 18 items 1 and 4), in Debian's Chromium at 375×812 in zh-Hans:
a supervisor watches the board while a customer waits; the board updates live (the server's
worker tells the board socket, the page fetches its board again), the 预警 banner appears once
the wait passes the group's threshold, and both clear when an agent claims the chat. The live
server runs the worker embedded with short intervals (SCHEDULER_*_INTERVAL_SECONDS): nothing here
sleeps, every step waits on what the page shows. Screenshots at 375 and 1440 px, tap targets of
44 px, axe-core without serious or critical violations."""

import pytest
from django.utils import timezone
from guardian.shortcuts import assign_perm

from chat.models import Conversation
from chat.tests.test_console_browser import no_serious_accessibility_violations
from chat.tests.test_faq_wrapup_browser import DESKTOP, assert_tap_targets
from chat.tests.test_seen_broken_browser import log_in
from conftest import BROWSER_WAIT_MS, make_agent, outside_the_browser_loop, send
from helpdesk.errors import DomainError
from routing import actions as routing
from routing.models import AgentGroup, AgentPresence, ServiceAlertBreach, ServiceAlertRule

pytestmark = [pytest.mark.django_db(transaction=True)]
WAIT_THRESHOLD_SECONDS = 4


@pytest.fixture
def board_server(personas, agents_on_duty_but_full, monkeypatch, request):
    """The live server with its worker evaluating alerts every second and telling boards every half second."""
    monkeypatch.setenv("SCHEDULER_ALERT_INTERVAL_SECONDS", "1")
    monkeypatch.setenv("SCHEDULER_BOARD_INTERVAL_SECONDS", "0.5")
    p = personas
    p.group = AgentGroup.objects.create(workspace=p.workspace, name="售前组", priority=1)
    p.group.members.add(p.agent_a_user)
    ServiceAlertRule.objects.create(group=p.group, max_wait_seconds=WAIT_THRESHOLD_SECONDS)
    p.sup_user, p.sup = make_agent(p.workspace, [], username="zhuguan")
    assign_perm("routing.supervise_group", p.sup_user, p.group)
    return request.getfixturevalue("live_server_url")


def test_a_supervisor_on_a_phone_sees_the_board_and_the_banner_live(personas, board_server, browser, artifacts):
    from playwright.sync_api import expect

    p = personas
    context = browser.new_context(viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True, locale="zh-CN")
    page = context.new_page()
    log_in(page, board_server, "zhuguan", "/console/board/")
    page.wait_for_url(f"{board_server}/console/board/")
    expect(page.locator("h1")).to_have_text("数据看板")
    expect(page.locator(".board__scope")).to_contain_text("您主管的客服组")
    waiting = page.locator('[data-figure="waiting"] .board-card__value')
    expect(waiting).to_have_text("0")
    expect(page.locator("#service-alerts")).to_be_hidden()
    expect(page.locator("#connection")).to_have_attribute("data-state", "online", timeout=BROWSER_WAIT_MS)

    # A customer writes; routing queues the chat in 售前组 (its agent is on duty but full).
    def customer_writes():
        message, _created = send(p.visitor, "请问发货了吗？")
        Conversation.objects.filter(pk=message.conversation_id).update(group=p.group)
        return Conversation.objects.get(pk=message.conversation_id)

    conversation = outside_the_browser_loop(customer_writes)
    assert conversation.state == Conversation.State.QUEUED
    expect(waiting).to_have_text("1", timeout=BROWSER_WAIT_MS)
    expect(page.locator('[data-table="groups"] tr[data-group]')).to_contain_text("售前组")
    expect(page.locator('[data-figure="unanswered"] .board-card__value')).to_have_text("1")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=artifacts / "board-waiting-phone.png", full_page=True)

    # The wait passes the threshold: the worker opens the breach and the banner is pinned.
    banner = page.locator('#service-alerts [data-metric="longest_wait"]')
    expect(banner).to_be_visible(timeout=BROWSER_WAIT_MS)
    expect(banner).to_contain_text("售前组")
    expect(banner).to_contain_text(f"有客户等待已超过 {WAIT_THRESHOLD_SECONDS} 秒")
    breach = outside_the_browser_loop(lambda: ServiceAlertBreach.objects.get())
    assert breach.cleared_at is None and breach.threshold == WAIT_THRESHOLD_SECONDS
    assert_tap_targets(page.locator(".service-alerts__link, .board-back"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.screenshot(path=artifacts / "board-alert-phone.png", full_page=True)
    no_serious_accessibility_violations(page)
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=artifacts / "board-alert-desktop.png")
    page.set_viewport_size({"width": 375, "height": 812})

    # An agent claims the chat: nobody waits, the breach clears, the banner goes.
    def agent_claims():
        AgentPresence.objects.filter(user=p.agent_a_user).update(capacity=5)
        try:
            routing.claim(p.agent_a, conversation.pk)
        except DomainError as exc:  # the worker's routing sweep may have given it to agent_a first
            assert exc.code == "already_taken"
        return Conversation.objects.get(pk=conversation.pk).assignee_id

    assert outside_the_browser_loop(agent_claims) == p.agent_a_user.pk
    expect(waiting).to_have_text("0", timeout=BROWSER_WAIT_MS)
    expect(page.locator("#service-alerts")).to_be_hidden(timeout=BROWSER_WAIT_MS)
    breach = outside_the_browser_loop(lambda: ServiceAlertBreach.objects.get())
    assert breach.cleared_at is not None and breach.cleared_at <= timezone.now()
    expect(page.locator('[data-table="agents"] tr[data-agent]')).to_contain_text("agent_a")
    page.screenshot(path=artifacts / "board-cleared-phone.png", full_page=True)

    page.set_viewport_size(DESKTOP)
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    page.screenshot(path=artifacts / "board-desktop.png", full_page=True)
    no_serious_accessibility_violations(page)
    context.close()
