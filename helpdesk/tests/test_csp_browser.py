"""The default Content Security Policy blocks nothing our own pages use: Chromium reports no
violation on the login, two-factor, console and admin pages (a blocked script or style would)."""

import pytest

from conftest import outside_the_browser_loop, verified_client

pytestmark = [pytest.mark.django_db(transaction=True)]


def watch_violations(page):
    seen = []
    page.on("console", lambda msg: seen.append(msg.text) if "Content Security Policy" in msg.text else None)
    return seen


def logged_in_context(browser, live_server_url, user, locale="en-US"):
    session = outside_the_browser_loop(lambda: verified_client(user).cookies["sessionid"].value)
    context = browser.new_context(locale=locale)
    context.add_cookies([{"name": "sessionid", "value": session, "url": live_server_url}])
    return context


def test_no_policy_violation_on_login_console_and_admin_pages(personas, live_server_url, browser):
    page = browser.new_context(locale="en-US").new_page()
    seen = watch_violations(page)
    page.goto(f"{live_server_url}/accounts/login/")
    page.wait_for_load_state("networkidle")

    owner = logged_in_context(browser, live_server_url, personas.owner_user).new_page()
    seen += watch_violations(owner)
    for path in ("/admin/", "/admin/chat/customer/", "/admin/accounts/membership/", "/console/", "/console/settings/"):
        response = owner.goto(f"{live_server_url}{path}")
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        owner.wait_for_load_state("networkidle")

    # An agent's first visit to the optional two-factor setup shows the QR code (inline SVG).
    agent = logged_in_context(browser, live_server_url, personas.agent_a_user).new_page()
    seen += watch_violations(agent)
    agent.goto(f"{live_server_url}/accounts/2fa/setup/")
    assert agent.locator(".qr svg").count() == 1
    agent.wait_for_load_state("networkidle")
    assert seen == []
