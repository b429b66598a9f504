"""axe-core finds no serious or critical violation on the admin pages a founder reaches (issue 20
item 3), in zh-Hans: the index, and each model's add page and a change page (the forms; lists share
Django's one template, checked on the index's sibling, the inbox list)."""

import pytest

from chat.tests.test_console_browser import no_serious_accessibility_violations
from conftest import outside_the_browser_loop, verified_client
from helpdesk.tests.test_csp_browser import logged_in_context

from .test_admin_translated import founder_pages, shop  # noqa: F401  (the fixture)

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_founder_admin_pages_have_no_serious_accessibility_violations(shop, live_server_url, browser):  # noqa: F811
    def pages():
        client = verified_client(shop)
        return [p for p in founder_pages(client) if p == "/admin/" or p.endswith("/add/") or p.endswith("/change/")
                or p == "/admin/chat/inbox/"]

    paths = outside_the_browser_loop(pages)
    assert len(paths) > 15
    context = logged_in_context(browser, live_server_url, shop, locale="zh-CN")
    page = context.new_page()
    page.set_viewport_size({"width": 1440, "height": 900})
    failures = {}
    for path in paths:
        page.goto(f"{live_server_url}{path}")
        try:
            no_serious_accessibility_violations(page)
        except AssertionError as exc:
            failures[path] = str(exc)[:300]
    assert failures == {}, "\n".join(f"{k}: {v}" for k, v in failures.items())
    context.close()
