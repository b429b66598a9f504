"""A founder sets an inbox's business hours and pre-chat form in the admin without typing JSON
(issue 20 item 1), in zh-Hans on a desktop (1440 px) and a tablet (820 px): weekday hours with a lunch
break, mainland China's holidays, an own closed day, a required phone question."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from chat import hours
from chat.models import Inbox
from conftest import outside_the_browser_loop
from helpdesk.tests.test_csp_browser import logged_in_context, watch_violations

from .test_console_browser import no_serious_accessibility_violations

pytestmark = [pytest.mark.django_db(transaction=True)]

TABLET = {"width": 820, "height": 1180}


def test_founder_sets_business_hours_with_the_national_day_holiday(personas, live_server_url, browser, artifacts):
    from playwright.sync_api import expect

    context = logged_in_context(browser, live_server_url, personas.owner_user, locale="zh-CN")
    page = context.new_page()
    violations = watch_violations(page)
    page.set_viewport_size(TABLET)
    page.goto(f"{live_server_url}/admin/chat/inbox/{personas.inbox_a.pk}/change/")
    page.get_by_label("设置营业时间").check()
    page.get_by_label("时区").select_option("Asia/Shanghai")
    for day in ("周一", "周二", "周三", "周四", "周五"):
        page.get_by_label(f"{day} 第 1 段开始").fill("09:00")
        page.get_by_label(f"{day} 第 1 段结束").fill("12:00")
        page.get_by_label(f"{day} 第 2 段开始").fill("13:30")
        page.get_by_label(f"{day} 第 2 段结束").fill("18:00")
    page.get_by_label("跟随中国大陆法定节假日").check()
    expect(page.locator(".field-hours_cn_official .help")).to_contain_text("尚未包含 2027 年的官方放假安排")
    page.get_by_label("自定休息日").fill("2026-12-24")
    # the pre-chat form: a phone number, required, then the customer's name
    page.get_by_label("第 1 个问题：询问内容").select_option("phone")
    page.get_by_label("第 1 个问题：客户看到的标题").fill("您的手机号")
    page.get_by_label("第 1 个问题：回答类型").select_option("tel")
    page.get_by_label("第 1 个问题：必填").check()
    expect(page.get_by_label("第 3 个问题：询问内容")).to_be_hidden()  # the questions asked and one spare row
    page.get_by_role("button", name="添加问题").click()
    page.get_by_label("第 2 个问题：询问内容").select_option("name")
    assert page.evaluate("document.documentElement.scrollWidth") <= TABLET["width"]
    page.screenshot(path=artifacts / "admin-business-hours-tablet.png", full_page=True)
    page.locator(".prechat-rows").screenshot(path=artifacts / "admin-prechat-builder-tablet.png")
    assert violations == []
    no_serious_accessibility_violations(page)
    violations.clear()  # axe-core's own injected styles are refused by the policy, as they should be

    # an overlap is a field error in Chinese, and nothing is stored
    page.get_by_label("周一 第 2 段开始").fill("11:00")
    page.locator("input[name=_continue]").click()
    expect(page.locator(".field-hours_mon .errorlist")).to_contain_text("重叠")
    assert outside_the_browser_loop(lambda: Inbox.objects.get(pk=personas.inbox_a.pk).business_hours) == {}

    page.set_viewport_size({"width": 1440, "height": 900})
    page.get_by_label("周一 第 2 段开始").fill("13:30")
    page.locator("input[name=_continue]").click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    page.screenshot(path=artifacts / "admin-business-hours-desktop.png", full_page=True)
    stored = outside_the_browser_loop(lambda: Inbox.objects.get(pk=personas.inbox_a.pk).business_hours)
    assert stored["weekly"]["fri"] == [["09:00", "12:00"], ["13:30", "18:00"]] and stored["cn_official"] is True
    assert stored["holidays"] == ["2026-12-24"] and "sat" not in stored["weekly"]
    assert outside_the_browser_loop(lambda: Inbox.objects.get(pk=personas.inbox_a.pk).prechat_fields) == [
        {"key": "phone", "label": "您的手机号", "type": "tel", "required": True},
        {"key": "name", "label": "您的姓名", "type": "text", "required": False}]
    national_day = datetime(2026, 10, 5, 10, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday
    assert not hours.is_open(stored, national_day)
    assert hours.is_open(stored, national_day.replace(day=12))
    # the saved page shows what was stored
    expect(page.get_by_label("周五 第 2 段结束")).to_have_value("18:00")
    expect(page.get_by_label("跟随中国大陆法定节假日")).to_be_checked()
    assert violations == []
    context.close()
