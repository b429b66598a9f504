"""团队与角色 in Chromium, zh-Hans, at 1440 px (desktop) and 820 px (tablet): the founder reads the
permission matrix, opens a custom role from it, ticks a capability and saves; the matrix then shows it.
Screenshots at both widths, axe-core without serious or critical violations, 44 px tap targets."""

import pytest

from accounts import roles
from accounts.models import CustomRole
from chat.tests.test_console_browser import no_serious_accessibility_violations
from chat.tests.test_faq_wrapup_browser import assert_tap_targets
from conftest import BROWSER_WAIT_MS, outside_the_browser_loop
from helpdesk.tests.test_csp_browser import logged_in_context, watch_violations

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1440, 820])
def test_founder_reads_the_matrix_and_edits_a_custom_role(personas, live_server_url, browser, artifacts, width):
    from playwright.sync_api import expect

    role = outside_the_browser_loop(lambda: CustomRole.objects.create(workspace=personas.workspace, name="夜班",
                                                                      capabilities=[roles.SERVE_CHATS]))
    context = logged_in_context(browser, live_server_url, personas.owner_user, locale="zh-CN")
    page = context.new_page()
    violations = watch_violations(page)
    page.set_viewport_size({"width": width, "height": 1000})
    page.goto(f"{live_server_url}/admin/")
    page.get_by_role("link", name="团队与角色").first.click()
    expect(page.locator("h1")).to_have_text("团队与角色", timeout=BROWSER_WAIT_MS)
    matrix = page.locator("table.team-matrix")
    headers = matrix.locator("thead th")
    expect(headers).to_have_text(["权限", "创始人", "高级管理员", "管理员", "客服", "核销员", "夜班自定义角色"])
    audit_row = matrix.locator("tbody tr", has_text="查看审计日志")
    expect(audit_row.locator("td .visually-hidden")).to_have_text(["可以", "不可以", "不可以", "不可以", "不可以", "不可以"])
    assert_tap_targets(page.locator(".team-page__links .button"))
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # the table scrolls inside its region
    page.screenshot(path=artifacts / f"team-roles-{width}.png", full_page=True)
    assert violations == []  # the page's own (axe-core's injected styles are not the page's)
    no_serious_accessibility_violations(page)
    violations.clear()

    matrix.get_by_role("link", name="夜班").click()
    expect(page.get_by_label("名称")).to_have_value("夜班", timeout=BROWSER_WAIT_MS)
    ticks = page.locator("#id_capabilities label")
    expect(ticks).to_have_count(len(roles.GRANTABLE_BY_CUSTOM_ROLE))
    assert_tap_targets(ticks)
    page.get_by_label("核销券码和订单").check()
    page.screenshot(path=artifacts / f"custom-role-{width}.png", full_page=True)
    assert violations == []  # the page's own (axe-core's injected styles are not the page's)
    no_serious_accessibility_violations(page)
    violations.clear()
    page.locator("input[name=_save]").click()
    expect(page.locator(".messagelist")).to_be_visible(timeout=BROWSER_WAIT_MS)
    stored = outside_the_browser_loop(lambda: CustomRole.objects.get(pk=role.pk).capabilities)
    assert stored == sorted([roles.SERVE_CHATS, roles.VERIFY_ORDERS])

    page.goto(f"{live_server_url}/admin/accounts/membership/team/")
    verify_row = page.locator("table.team-matrix tbody tr", has_text="核销券码和订单")
    expect(verify_row.locator("td").last.locator(".visually-hidden")).to_have_text("可以")
    assert violations == []
    context.close()
