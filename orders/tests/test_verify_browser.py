"""A verifier at the counter checks and verifies a voucher on a 375 px phone screen,
in Debian's Chromium driven by Playwright."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from accounts.models import Role
from chat.models import Customer
from conftest import make_agent, make_workspace, outside_the_browser_loop
from orders.models import Voucher

pytestmark = [pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(settings.BASE_DIR, "test-artifacts")


@pytest.fixture
def counter(db):
    ws = make_workspace("Tea House")
    make_agent(ws, role=Role.VERIFIER, username="counter")
    customer = Customer.objects.create(workspace=ws, name="Han Meimei")
    return Voucher.objects.create(workspace=ws, code="TEA-2024-0001", title="Afternoon tea set for two (weekends included)",
                                  customer=customer, valid_until=timezone.now() + timedelta(days=30))


def test_verifier_checks_and_verifies_a_voucher_on_a_phone(counter, live_server_url, browser):
    from playwright.sync_api import expect

    ctx = browser.new_context(locale="en-US", viewport={"width": 375, "height": 812}, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    page.goto(f"{live_server_url}/accounts/login/?next=/verify/")
    page.fill("#id_username", "counter")
    page.fill("#id_password", "pw-for-tests-123")
    page.click("button[type=submit]")

    code = page.get_by_label("Voucher or order code")
    expect(code).to_be_focused()
    assert code.get_attribute("inputmode") == "text"
    code.fill("TEA-2024-0001")
    page.get_by_role("button", name="Look up").click()

    card = page.locator("[data-voucher]")
    expect(card.locator("h2")).to_have_text("Afternoon tea set for two (weekends included)")
    expect(card.locator("[data-state]")).to_have_text("Valid")
    expect(card).to_contain_text("Han Meimei")
    expect(card).to_contain_text("Voucher")
    button = page.get_by_role("button", name="Mark as verified")
    expect(button).to_be_visible()
    box = button.bounding_box()
    assert box["height"] >= 56 and box["width"] >= 300  # a big target for a thumb
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing wider than the phone
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "verify-phone.png", full_page=True)

    button.click()
    expect(page.locator(".notice-success")).to_have_text("Verified: Afternoon tea set for two (weekends included) (TEA-2024-0001).")
    expect(page.get_by_label("Voucher or order code")).to_have_value("")
    voucher = outside_the_browser_loop(lambda: Voucher.objects.select_related("verified_by").get(pk=counter.pk))
    assert voucher.status == Voucher.Status.VERIFIED and voucher.verified_by.username == "counter"

    # the same code again: refused, and the page says who verified it
    page.get_by_label("Voucher or order code").fill("TEA-2024-0001")
    page.get_by_role("button", name="Look up").click()
    expect(page.locator("[data-state]")).to_have_text("Verified")
    expect(page.locator("[data-voucher]")).to_contain_text("by counter on")
    expect(page.get_by_role("button", name="Mark as verified")).to_have_count(0)
    page.screenshot(path=ARTIFACTS / "verify-phone-verified.png", full_page=True)
    ctx.close()
