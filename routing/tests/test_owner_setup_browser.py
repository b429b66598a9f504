"""A founder sets up 分流 without a developer (issue 20), in zh-Hans on a desktop (1440 px) and a tablet
(820 px): a group for customers from 上海 built from conditions, never JSON; 试一试 says where such a
customer goes; business hours follow the official holidays; night hosting on weekdays is ticked. Then
a customer from 上海 reaches that group, and on 国庆 a chat becomes a message (留言)."""

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine

from chat.models import Conversation, Customer, Inbox
from conftest import make_visitor, outside_the_browser_loop, send
from helpdesk.tests.test_csp_browser import logged_in_context, watch_violations
from replies.models import ReplySettings
from routing import actions
from routing.models import AgentGroup

from chat.tests.test_console_browser import no_serious_accessibility_violations
from chat.tests.test_faq_wrapup_browser import DESKTOP

pytestmark = [pytest.mark.django_db(transaction=True)]

TABLET = {"width": 820, "height": 1180}


def chat_from_shanghai(inbox):
    visitor, _ = make_visitor(inbox)
    Customer.objects.filter(pk=visitor.customer_id).update(attributes={"region": "上海/浦东"})
    message, _ = send(visitor, "请问发货了吗")
    return Conversation.objects.get(pk=message.conversation_id)


def test_founder_sets_up_routing_hours_and_hosting_then_customers_follow_it(personas, live_server_url, browser, artifacts):
    from playwright.sync_api import expect

    context = logged_in_context(browser, live_server_url, personas.owner_user, locale="zh-CN")
    page = context.new_page()
    violations = watch_violations(page)
    page.set_viewport_size(DESKTOP)

    # 1. a group for customers from 上海
    page.goto(f"{live_server_url}/admin/routing/agentgroup/add/")
    expect(page.locator("#id_workspace")).to_have_attribute("type", "hidden")  # one shop: never asked
    page.get_by_label("名称").fill("华东组")
    page.get_by_label("优先级").fill("1")
    page.get_by_label("第 1 个条件：条件").select_option("region")
    page.get_by_label("第 1 个条件：满足其一即可的值").fill("上海、浙江/杭州")
    page.get_by_label("第 2 个条件：条件").select_option("time_of_day")  # left without values: a field error
    page.screenshot(path=artifacts / "admin-routing-rules-desktop.png", full_page=True)
    page.locator("input[name=_continue]").click()
    expect(page.locator(".field-rules .errorlist")).to_contain_text("第 2 个条件：请至少填写一个值")
    assert not outside_the_browser_loop(lambda: AgentGroup.objects.filter(name="华东组").exists())
    page.get_by_label("第 2 个条件：条件").select_option("")
    page.locator(".field-members").get_by_label("agent_a").check()
    page.locator("input[name=_continue]").click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    east = outside_the_browser_loop(lambda: AgentGroup.objects.get(name="华东组"))
    assert east.rules == [{"field": "region", "values": ["上海", "浙江/杭州"]}] and east.workspace_id == personas.workspace.pk

    # 2. 试一试
    page.goto(f"{live_server_url}/admin/routing/agentgroup/")
    page.get_by_role("link", name="分流试一试").click()
    page.get_by_label("地区").fill("上海")
    page.get_by_label("来源页面").fill("https://shop.example/shop/123")
    page.get_by_label("时间段").fill("21:00")
    page.get_by_role("button", name="试一试").click()
    expect(page.locator("[data-outcome]")).to_have_text("来自上海、从 https://shop.example/shop/123 进入、在 21:00的客户会进入「华东组」。")
    no_serious_accessibility_violations(page)
    violations.clear()  # axe-core's injected styles are refused by the policy, as they should be
    page.screenshot(path=artifacts / "admin-routing-try-desktop.png", full_page=True)

    # 3. business hours on a tablet: every day 09:00-21:00, closed on official holidays
    page.set_viewport_size(TABLET)
    page.goto(f"{live_server_url}/admin/chat/inbox/{personas.inbox_a.pk}/change/")
    page.get_by_label("设置营业时间").check()
    for day in ("周一", "周二", "周三", "周四", "周五", "周六", "周日"):
        page.get_by_label(f"{day} 第 1 段开始").fill("09:00")
        page.get_by_label(f"{day} 第 1 段结束").fill("21:00")
    page.get_by_label("跟随中国大陆法定节假日").check()
    page.locator("input[name=_continue]").click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= TABLET["width"]

    # 4. night hosting on weekdays, ticked not typed
    page.goto(f"{live_server_url}/admin/replies/replysettings/add/")
    page.get_by_label("开启托管").check()
    page.get_by_label("托管回复").fill("夜间客服已下班，您的问题我们明早第一时间回复。")
    page.locator("#id_hosting_start").fill("22:00")
    page.locator("#id_hosting_end").fill("08:00")
    for day in ("周一", "周二", "周三", "周四", "周五"):
        page.get_by_label(day, exact=True).check()
    page.screenshot(path=artifacts / "admin-hosting-tablet.png", full_page=True)
    page.locator("input[name=_save]").click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    hosting = outside_the_browser_loop(lambda: ReplySettings.objects.get(workspace=personas.workspace))
    assert hosting.hosting_weekdays == [0, 1, 2, 3, 4] and (hosting.hosting_start, hosting.hosting_end) == (time(22), time(8))
    assert violations == []
    context.close()

    # 5. customers follow it: a Shanghai customer reaches 华东组; on 国庆 the chat becomes a message
    def customers_arrive():
        actions.set_status(personas.agent_a, "online", capacity=3)
        shanghai = ZoneInfo("Asia/Shanghai")
        with time_machine.travel(datetime(2026, 12, 7, 10, 0, tzinfo=shanghai)):  # a Monday
            routed = chat_from_shanghai(Inbox.objects.get(pk=personas.inbox_a.pk))
        with time_machine.travel(datetime(2026, 10, 2, 10, 0, tzinfo=shanghai)):  # 国庆, a Friday
            holiday = chat_from_shanghai(Inbox.objects.get(pk=personas.inbox_a.pk))
        return routed, holiday

    routed, holiday = outside_the_browser_loop(customers_arrive)
    assert (routed.group_id, routed.assignee_id) == (east.pk, personas.agent_a_user.pk)
    assert (holiday.state, holiday.is_leave_message, holiday.assignee_id) == ("pending", True, None)
