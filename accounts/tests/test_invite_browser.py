"""A founder logs in with two-factor, invites an agent from the admin, and the agent
accepts the link and logs in: Debian's Chromium driven by Playwright, real uvicorn."""

import re

import pytest
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Membership
from conftest import outside_the_browser_loop

pytestmark = [pytest.mark.django_db(transaction=True)]
PASSWORD = "pw-for-tests-123"
AGENT_PASSWORD = "Jasmine-tea-2026"


def current_token(device):
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift):0{device.digits}d}"


def test_founder_invites_an_agent_who_accepts_and_logs_in(personas, live_server_url, browser, artifacts):
    from playwright.sync_api import expect

    device = outside_the_browser_loop(lambda: TOTPDevice.objects.create(user=personas.owner_user, name="phone", confirmed=True))
    founder = browser.new_context(locale="en-US").new_page()
    founder.goto(f"{live_server_url}/admin/login/?next=/admin/")
    founder.fill("#id_username", "owner")
    founder.fill("#id_password", PASSWORD)
    founder.click("input[type=submit], button[type=submit]")
    expect(founder).to_have_url(re.compile(r"/accounts/2fa/verify/"))
    founder.fill("input[name=token]", current_token(device))
    founder.click("button[type=submit]")
    expect(founder).to_have_url(re.compile(r"/admin/$"))

    founder.goto(f"{live_server_url}/admin/accounts/invite/add/")
    # a founder of one shop is never asked which workspace: it is set for them
    assert founder.locator("#id_workspace").get_attribute("type") == "hidden"
    assert founder.locator("#id_workspace").input_value() == str(personas.workspace.pk)
    founder.fill("#id_email", "new.agent@example.com")
    founder.select_option("#id_role", "agent")
    founder.click("input[name=_save]")
    shown = founder.locator("#invite-link").inner_text()
    link = re.search(r"(http://\S+/accounts/invite/\S+/)", shown).group(1)
    founder.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server_url)
    founder.get_by_role("button", name="Copy").click()
    expect(founder.locator("[data-copied]")).to_be_visible()
    assert founder.evaluate("navigator.clipboard.readText()") == link
    founder.screenshot(path=artifacts / "invite-admin.png")

    agent = browser.new_context(locale="en-US", viewport={"width": 375, "height": 812}).new_page()
    agent.goto(link)
    expect(agent.locator("h1")).to_have_text("Join Shop A")
    agent.fill("#id_username", "xiaoli")
    agent.fill("#id_password1", AGENT_PASSWORD)
    agent.fill("#id_password2", AGENT_PASSWORD)
    agent.screenshot(path=artifacts / "invite-accept-phone.png")
    agent.click("button[type=submit]")
    expect(agent).to_have_url(re.compile(r"/console/$"))  # straight into the agent console
    expect(agent.locator("#connection")).to_have_attribute("data-state", "online")

    # A fresh browser: the new agent logs in with the password they chose (no 2FA for agents).
    again = browser.new_context(locale="en-US").new_page()
    again.goto(f"{live_server_url}/accounts/login/?next=/console/")
    again.fill("#id_username", "xiaoli")
    again.fill("#id_password", AGENT_PASSWORD)
    again.click("button[type=submit]")
    expect(again).to_have_url(re.compile(r"/console/$"))
    role = outside_the_browser_loop(lambda: Membership.objects.get(user__username="xiaoli").role)
    assert role == "agent"
    # The link is single use.
    used = browser.new_context(locale="en-US").new_page()
    response = used.goto(link)
    assert response.status == 410
