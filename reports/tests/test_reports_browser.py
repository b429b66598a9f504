"""报表 in Debian's Chromium, in zh-Hans: an agent opens the reports page on a phone (375×812) and on a
desktop (1440×900); the four charts are drawn by ECharts on canvases, the tables and export links
are there, no console error, axe-core finds nothing serious, tap targets are at least 44 px.
Screenshots in test-artifacts/."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from chat.tests.test_console_browser import no_serious_accessibility_violations
from chat.tests.test_faq_wrapup_browser import assert_tap_targets
from chat.tests.test_seen_broken_browser import PHONE, log_in
from conftest import BROWSER_WAIT_MS, outside_the_browser_loop
from reports import rollups
from reports.tests.test_reports import SHANGHAI, History, local

pytestmark = [pytest.mark.django_db(transaction=True)]
DESKTOP = {"viewport": {"width": 1440, "height": 900}, "locale": "zh-CN"}


def test_reports_page_draws_its_charts_on_a_phone_and_a_desktop(personas, live_server_url, browser, artifacts):
    from playwright.sync_api import expect

    p = personas
    today = timezone.localdate(timezone.now(), SHANGHAI)

    def setup():
        h = History(p.workspace)
        for day_back, hour, score in ((1, 9, 5), (1, 14, 4), (2, 10, 2), (3, 20, 5)):
            at = local(today - timedelta(days=day_back), hour)
            c = h.conversation(p.inbox_a, at, agent=p.agent_a_user)
            h.first_response(c, 30 * day_back)
            h.state(c, 900, "resolved")
            h.rate(c, 960, score)
        with time_machine.travel(local(today - timedelta(days=1), 8), tick=False):
            rollups.record_status(p.workspace.pk, p.agent_a_user.pk, "online")
        return rollups.rebuild_range(p.workspace.pk, today - timedelta(days=4), today)

    assert outside_the_browser_loop(setup) >= 3
    base = live_server_url
    for name, options in (("375", PHONE), ("1440", DESKTOP)):
        context = browser.new_context(**options)
        page = context.new_page()
        log_in(page, base, "agent_a", "/console/reports/")
        page.wait_for_url(f"{base}/console/reports/")
        errors = []  # from here on: the login page's browser asks for a /favicon.ico nobody serves
        page.on("console", lambda message: errors.append(f"{message.text} {message.location}") if message.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.reload()
        expect(page.locator("h1")).to_have_text("报表")
        for chart in ("chart-volume", "chart-frt", "chart-csat", "chart-hours"):
            expect(page.locator(f"#{chart}")).to_have_attribute("data-drawn", "1", timeout=BROWSER_WAIT_MS)
            box = page.locator(f"#{chart} canvas").first.bounding_box()
            assert box["width"] > 200 and box["height"] > 150, (chart, box)
        expect(page.locator(".reports-card__value").first).to_have_text("4")
        expect(page.locator(".reports-table")).to_have_count(5)
        expect(page.locator("section[aria-labelledby=t-online] tbody")).to_contain_text("agent_a")
        assert_tap_targets(page.locator(".reports-quick button, .reports-exports a, .reports-actions button"))
        no_serious_accessibility_violations(page)
        page.screenshot(path=artifacts / f"reports-{name}.png", full_page=True)
        page.click(".reports-quick button[data-days='7']")  # the date-range picker's quick range
        page.wait_for_url(f"{base}/console/reports/?*")
        expect(page.locator("#chart-volume")).to_have_attribute("data-drawn", "1", timeout=BROWSER_WAIT_MS)
        assert "from=" in page.url and "to=" in page.url
        assert errors == [], errors
        context.close()
