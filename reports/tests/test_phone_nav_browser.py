"""On a phone the console's top bar fits 375 px: the supervisor's pages (看板, 报表) sit behind 更多."""

import pytest

from chat.tests.test_console_browser import no_serious_accessibility_violations
from chat.tests.test_faq_wrapup_browser import DESKTOP, assert_tap_targets
from conftest import BROWSER_WAIT_MS
from helpdesk.tests.test_csp_browser import logged_in_context

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_more_menu_on_a_phone_inline_links_on_a_desktop(personas, live_server_url, browser, artifacts):
    from playwright.sync_api import expect

    context = logged_in_context(browser, live_server_url, personas.owner_user, locale="zh-CN")
    page = context.new_page()
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto(f"{live_server_url}/console/")
    expect(page.get_by_role("link", name="客户")).to_be_visible(timeout=BROWSER_WAIT_MS)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    expect(page.locator(".topbar__wide").first).to_be_hidden()
    page.get_by_text("更多", exact=True).click()
    assert_tap_targets(page.locator(".topbar__more summary, .topbar__menu a"))
    page.screenshot(path=artifacts / "console-more-menu-phone.png")
    no_serious_accessibility_violations(page)
    page.locator(".topbar__menu").get_by_role("link", name="报表").click()
    expect(page).to_have_url(f"{live_server_url}/console/reports/")
    page.set_viewport_size(DESKTOP)
    expect(page.locator(".topbar__more")).to_be_hidden()
    expect(page.locator(".topbar__wide", has_text="看板")).to_be_visible()
    context.close()
