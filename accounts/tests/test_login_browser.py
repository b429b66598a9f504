"""A person logs in with a password and a TOTP code, and a guesser gets locked out, in
Debian's Chromium driven by Playwright against a real uvicorn process."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from conftest import outside_the_browser_loop

pytestmark = [pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(settings.BASE_DIR, "test-artifacts")


def current_token(device):
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift):0{device.digits}d}"


def test_founder_logs_in_with_password_then_totp_code(personas, live_server_url, browser):
    from playwright.sync_api import expect

    device = outside_the_browser_loop(lambda: TOTPDevice.objects.create(user=personas.owner_user, name="phone", confirmed=True))
    page = browser.new_context(locale="en-US").new_page()
    page.goto(f"{live_server_url}/accounts/login/?next=/demo/agent/")
    page.fill("#id_username", "owner")
    page.fill("#id_password", "pw-for-tests-123")
    page.click("button[type=submit]")

    # The password alone does not open the agent page: the TOTP step comes first.
    expect(page).to_have_url(re.compile(r"/accounts/2fa/verify/\?next=%2Fdemo%2Fagent%2F$"))
    expect(page.locator("h1")).to_have_text("Two-factor verification")
    page.goto(f"{live_server_url}/demo/agent/")
    expect(page).to_have_url(re.compile(r"/accounts/2fa/verify/"))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "login-2fa-verify.png")

    page.fill("#id_token", "000000" if current_token(device) != "000000" else "111111")
    page.click("form[data-two-factor-verify] button[type=submit]")
    expect(page.locator("[role=alert]")).to_contain_text("not valid")

    outside_the_browser_loop(lambda: TOTPDevice.objects.get(pk=device.pk).throttle_reset())  # django-otp's 1 s back-off
    page.fill("#id_token", current_token(device))
    page.click("form[data-two-factor-verify] button[type=submit]")
    expect(page).to_have_url(f"{live_server_url}/demo/agent/")
    expect(page.locator("h1")).to_have_text("Signed in as owner")
    expect(page.locator("[data-status]")).to_have_text("Online")
    page.screenshot(path=ARTIFACTS / "login-2fa-agent-page.png")


def test_repeated_bad_passwords_show_the_lockout_page(personas, live_server_url, browser):
    from playwright.sync_api import expect

    page = browser.new_context(locale="en-US").new_page()
    page.goto(f"{live_server_url}/accounts/login/?next=/demo/agent/")
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        page.fill("#id_username", "agent_a")
        page.fill("#id_password", f"guess-{attempt}")
        page.click("button[type=submit]")
        if attempt < settings.AXES_FAILURE_LIMIT - 1:
            expect(page.locator("[role=alert]")).to_have_text("Your username and password didn't match. Please try again.")
    expect(page.locator("h1")).to_have_text("Too many failed log-in attempts")
    expect(page.locator("[data-lockout]")).to_contain_text("locked for 15 minutes")

    # Even the right password is refused now.
    page.goto(f"{live_server_url}/accounts/login/?next=/demo/agent/")
    page.fill("#id_username", "agent_a")
    page.fill("#id_password", "pw-for-tests-123")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Too many failed log-in attempts")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "login-lockout.png")
    page.goto(f"{live_server_url}/demo/agent/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
