"""Verifying vouchers and orders: the rules, the workspace boundary, the audit log,
the phone page and who may reach it."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone, translation

from accounts.models import AuditLog, Membership, Role
from chat.models import Customer
from conftest import make_agent, make_workspace, verified_client
from helpdesk.errors import DomainError
from orders import actions
from orders.models import Voucher

pytestmark = [pytest.mark.django_db]


class World:
    pass


@pytest.fixture
def world(db):
    w = World()
    w.ws = make_workspace("Shop A")
    w.verifier_user, _ = make_agent(w.ws, role=Role.VERIFIER, username="verifier_a")
    w.verifier = Membership.objects.get(user=w.verifier_user)
    w.agent_user, _ = make_agent(w.ws, username="agent_a")
    w.founder_user, _ = make_agent(w.ws, role=Role.FOUNDER, username="founder_a")
    w.customer = Customer.objects.create(workspace=w.ws, name="Li Lei")
    w.valid = Voucher.objects.create(workspace=w.ws, code="GIFT-100", title="Coffee for two", customer=w.customer,
                                     valid_until=timezone.now() + timedelta(days=3))
    w.order = Voucher.objects.create(workspace=w.ws, code="ORD-7", title="Order #7", kind=Voucher.Kind.ORDER)
    w.void = Voucher.objects.create(workspace=w.ws, code="VOID-1", title="Cancelled", status=Voucher.Status.VOID)
    w.expired = Voucher.objects.create(workspace=w.ws, code="OLD-1", title="Last year", valid_until=timezone.now() - timedelta(minutes=1))

    w.other_ws = make_workspace("Shop Z")
    w.foreign = Voucher.objects.create(workspace=w.other_ws, code="ZED-1", title="Not yours")
    w.shared_code = Voucher.objects.create(workspace=w.other_ws, code="GIFT-100", title="Same code, other shop")
    return w


def refused(membership, code):
    with pytest.raises(DomainError) as exc:
        actions.verify_voucher(membership, code)
    return exc.value


# --- the action -------------------------------------------------------------------


def test_verifier_verifies_a_valid_code_once(world):
    voucher = actions.verify_voucher(world.verifier, "  GIFT-100 ")
    assert voucher.pk == world.valid.pk
    world.valid.refresh_from_db()
    assert world.valid.status == Voucher.Status.VERIFIED
    assert world.valid.verified_by_id == world.verifier_user.pk
    assert abs((timezone.now() - world.valid.verified_at).total_seconds()) < 60

    again = refused(world.verifier, "GIFT-100")
    assert (again.status, again.code) == (409, "already_verified")
    assert "verifier_a" in str(again.message)  # says who
    world.valid.refresh_from_db()
    assert world.valid.verified_by_id == world.verifier_user.pk  # unchanged by the second try

    # the same code in another workspace is a different voucher, untouched
    world.shared_code.refresh_from_db()
    assert world.shared_code.status == Voucher.Status.VALID


def test_orders_verify_like_vouchers(world):
    assert actions.verify_voucher(world.verifier, "ORD-7").status == Voucher.Status.VERIFIED


@pytest.mark.parametrize("code,error", [("VOID-1", "void"), ("OLD-1", "expired")])
def test_void_and_expired_are_refused(world, code, error):
    exc = refused(world.verifier, code)
    assert (exc.status, exc.code) == (409, error)
    assert Voucher.objects.get(workspace=world.ws, code=code).verified_at is None
    assert Voucher.objects.get(workspace=world.ws, code=code).status != Voucher.Status.VERIFIED


def test_another_workspaces_code_is_not_found_and_nothing_changes_there(world):
    with translation.override("en"):
        foreign = refused(world.verifier, "ZED-1")
        missing = refused(world.verifier, "NO-SUCH-CODE")
        assert (foreign.status, foreign.code, str(foreign.message)) == (missing.status, missing.code, str(missing.message)) == (
            404, "not_found", "No voucher or order with this code.")
    with pytest.raises(DomainError) as lookup:
        actions.lookup_voucher(world.verifier, "ZED-1")
    assert lookup.value.status == 404
    world.foreign.refresh_from_db()
    assert (world.foreign.status, world.foreign.verified_at, world.foreign.verified_by_id) == (Voucher.Status.VALID, None, None)
    assert not AuditLog.objects.filter(workspace=world.other_ws).exists()


def test_empty_code_is_a_bad_request(world):
    exc = refused(world.verifier, "   ")
    assert (exc.status, exc.code) == (400, "code_required")


def test_agents_may_not_verify_and_the_attempt_is_audited(world):
    agent = Membership.objects.get(user=world.agent_user)
    exc = refused(agent, "GIFT-100")
    assert (exc.status, exc.code) == (403, "forbidden")
    world.valid.refresh_from_db()
    assert world.valid.status == Voucher.Status.VALID
    assert AuditLog.objects.filter(actor=world.agent_user, action="voucher.verify", denied=True).exists()
    with pytest.raises(DomainError):
        actions.lookup_voucher(agent, "GIFT-100")


def test_founders_and_admins_may_verify(world):
    founder = Membership.objects.get(user=world.founder_user)
    assert actions.verify_voucher(founder, "GIFT-100").verified_by_id == world.founder_user.pk


def test_verification_writes_an_audit_row(world):
    actions.verify_voucher(world.verifier, "GIFT-100")
    row = AuditLog.objects.get(action="voucher.verify", denied=False)
    assert row.workspace_id == world.ws.pk and row.actor_id == world.verifier_user.pk
    assert (row.target_type, row.target_id) == ("orders.voucher", str(world.valid.pk))
    assert row.before["status"] == "valid" and row.before["verified_by"] is None
    assert row.after["status"] == "verified" and row.after["verified_by"] == world.verifier_user.pk and row.after["verified_at"]


def test_refused_attempts_are_audited_in_the_actors_workspace(world):
    for code in ("VOID-1", "OLD-1", "ZED-1"):
        refused(world.verifier, code)
    rows = AuditLog.objects.filter(action="voucher.verify", denied=True).order_by("pk")
    assert [r.after["refused"] for r in rows] == ["void", "expired", "not_found"]
    assert {r.workspace_id for r in rows} == {world.ws.pk}
    assert rows[2].target_id == ""  # another workspace's voucher is never named


def test_lookup_is_read_only(world):
    voucher = actions.lookup_voucher(world.verifier, "GIFT-100")
    assert voucher.customer.display_name == "Li Lei"
    world.valid.refresh_from_db()
    assert world.valid.status == Voucher.Status.VALID
    assert not AuditLog.objects.exists()


def test_code_is_unique_per_workspace_and_indexed():
    from django.db import IntegrityError, transaction

    ws = make_workspace()
    Voucher.objects.create(workspace=ws, code="A1", title="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        Voucher.objects.create(workspace=ws, code="A1", title="y")
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, Voucher._meta.db_table)
    assert any(c["columns"] == ["workspace_id", "code"] and (c["index"] or c["unique"]) for c in constraints.values())


# --- the page ---------------------------------------------------------------------


def test_page_shows_the_form_to_a_verifier(world):
    r = verified_client(world.verifier_user).get("/verify/", HTTP_ACCEPT_LANGUAGE="en")
    html = r.content.decode()
    assert r.status_code == 200
    assert 'inputmode="text"' in html and "autofocus" in html and '<label for="verify-code">' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert "Shop A" in html


def test_lookup_then_verify_on_the_page(world):
    client = verified_client(world.verifier_user, Client(enforce_csrf_checks=True))
    page = client.get("/verify/", HTTP_ACCEPT_LANGUAGE="en")
    token = page.cookies["csrftoken"].value
    r = client.post("/verify/", {"code": "GIFT-100", "action": "lookup", "csrfmiddlewaretoken": token}, HTTP_ACCEPT_LANGUAGE="en")
    html = r.content.decode()
    assert r.status_code == 200
    for text in ("Coffee for two", "Voucher", 'data-state="valid"', "Li Lei", "Mark as verified"):
        assert text in html
    assert world.valid.valid_until.astimezone(timezone.get_default_timezone()).strftime("%Y") in html

    r = client.post("/verify/", {"code": "GIFT-100", "action": "verify", "csrfmiddlewaretoken": token}, HTTP_ACCEPT_LANGUAGE="en")
    assert r.status_code == 302 and r["Location"] == "/verify/"
    html = client.get("/verify/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Verified: Coffee for two (GIFT-100)." in html
    world.valid.refresh_from_db()
    assert world.valid.status == Voucher.Status.VERIFIED

    r = client.post("/verify/", {"code": "GIFT-100", "action": "verify", "csrfmiddlewaretoken": token}, HTTP_ACCEPT_LANGUAGE="en")
    html = r.content.decode()
    assert r.status_code == 409
    assert "Already verified by verifier_a" in html and 'data-state="verified"' in html and "Mark as verified" not in html


def test_verify_without_csrf_token_is_refused(world):
    client = verified_client(world.verifier_user, Client(enforce_csrf_checks=True))
    r = client.post("/verify/", {"code": "GIFT-100", "action": "verify"})
    assert r.status_code == 403
    world.valid.refresh_from_db()
    assert world.valid.status == Voucher.Status.VALID


@pytest.mark.parametrize("code,status,state", [("VOID-1", 409, "void"), ("OLD-1", 409, "expired"), ("ZED-1", 404, None), ("", 400, None)])
def test_page_explains_refusals(world, code, status, state):
    client = verified_client(world.verifier_user)
    r = client.post("/verify/", {"code": code, "action": "verify"}, HTTP_ACCEPT_LANGUAGE="en")
    html = r.content.decode()
    assert r.status_code == status
    assert "data-error" in html and "Mark as verified" not in html
    assert (f'data-state="{state}"' in html) if state else ("data-voucher" not in html)
    assert "Not yours" not in html


def test_page_is_translated(world):
    html = verified_client(world.verifier_user).post("/verify/", {"code": "GIFT-100"}, HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "标记为已核销" in html
    html = verified_client(world.verifier_user).post("/verify/", {"code": "GIFT-100"}, HTTP_ACCEPT_LANGUAGE="zh-TW").content.decode()
    assert "標記為已核銷" in html


# --- who reaches what ---------------------------------------------------------------


def test_agent_gets_404_on_the_page(world):
    client = verified_client(world.agent_user)
    assert client.get("/verify/").status_code == 404
    assert client.post("/verify/", {"code": "GIFT-100", "action": "verify"}).status_code == 404
    world.valid.refresh_from_db()
    assert world.valid.status == Voucher.Status.VALID


def test_anonymous_is_sent_to_log_in(world):
    r = Client().get("/verify/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")


def test_verifier_has_no_console_no_chats_no_admin(world):
    client = verified_client(world.verifier_user)
    assert client.get("/demo/agent/").status_code == 404
    admin = client.get("/admin/")
    assert admin.status_code == 302 and "/admin/login/" in admin["Location"]
    assert client.get("/admin/orders/voucher/").status_code == 302
    assert client.get("/api/v1/conversations").status_code == 403


def test_verifier_needs_no_two_factor(world):
    client = Client()
    client.force_login(world.verifier_user)  # password step only
    assert client.get("/verify/").status_code == 200


def test_founder_must_pass_two_factor_first(world):
    client = Client()
    client.force_login(world.founder_user)
    r = client.get("/verify/")
    assert r.status_code == 302 and "/accounts/2fa/" in r["Location"]


# --- admin ------------------------------------------------------------------------


def test_founder_adds_a_voucher_in_the_admin(world):
    client = verified_client(world.founder_user)
    assert client.get("/admin/orders/voucher/").status_code == 200
    r = client.post("/admin/orders/voucher/add/", {
        "workspace": world.ws.pk, "code": " NEW-1 ", "title": "New", "kind": "voucher", "status": "valid",
        "valid_until_0": "", "valid_until_1": "", "customer": world.customer.pk,
    })
    assert r.status_code == 302, r.content.decode()[:2000]
    voucher = Voucher.objects.get(workspace=world.ws, code="NEW-1")
    assert voucher.customer_id == world.customer.pk
    assert AuditLog.objects.filter(action="voucher.add", target_id=str(voucher.pk), actor=world.founder_user).exists()


def test_admin_cannot_set_verified_or_reach_another_workspace(world):
    client = verified_client(world.founder_user)
    r = client.post("/admin/orders/voucher/add/", {
        "workspace": world.ws.pk, "code": "NEW-2", "title": "New", "kind": "voucher", "status": "verified",
        "valid_until_0": "", "valid_until_1": "",
    })
    assert r.status_code == 200 and not Voucher.objects.filter(code="NEW-2").exists()
    r = client.post("/admin/orders/voucher/add/", {
        "workspace": world.other_ws.pk, "code": "NEW-3", "title": "New", "kind": "voucher", "status": "valid",
        "valid_until_0": "", "valid_until_1": "",
    })
    assert r.status_code == 200 and not Voucher.objects.filter(code="NEW-3").exists()
    assert client.get(f"/admin/orders/voucher/{world.foreign.pk}/change/").status_code == 404
    listing = client.get("/admin/orders/voucher/").content.decode()
    assert "GIFT-100" in listing and "ZED-1" not in listing


def test_admin_rejects_a_duplicate_code_on_change(world):
    client = verified_client(world.founder_user)
    r = client.post(f"/admin/orders/voucher/{world.order.pk}/change/", {
        "code": "GIFT-100", "title": "Order #7", "kind": "order", "status": "valid", "valid_until_0": "", "valid_until_1": "",
    })
    assert r.status_code == 200
    world.order.refresh_from_db()
    assert world.order.code == "ORD-7"


def test_agent_and_verifier_have_no_voucher_admin(world):
    for user in (world.agent_user, world.verifier_user):
        assert verified_client(user).get("/admin/orders/voucher/").status_code == 302


# --- as typed at the counter (issue 19) ---------------------------------------------


def test_codes_are_found_whatever_the_case_and_spacing(world):
    assert actions.lookup_voucher(world.verifier, "gift-100").pk == world.valid.pk
    assert actions.lookup_voucher(world.verifier, " gi ft-\u3000100\n").pk == world.valid.pk  # full-width space too
    assert actions.verify_voucher(world.verifier, "ord-7").pk == world.order.pk
    # Two codes differing only in case: the exact spelling finds each, any other spelling is ambiguous.
    upper = Voucher.objects.create(workspace=world.ws, code="AbC-1", title="Upper")
    lower = Voucher.objects.create(workspace=world.ws, code="abc-1", title="Lower")
    assert actions.lookup_voucher(world.verifier, "AbC-1").pk == upper.pk
    assert actions.lookup_voucher(world.verifier, "abc-1").pk == lower.pk
    assert refused(world.verifier, "ABC-1").code == "not_found"
    assert refused(world.verifier, "zed-1").code == "not_found"  # still never another workspace's


def test_the_page_lists_the_verifiers_own_recent_verifications(world):
    other_verifier, _ = make_agent(world.ws, role=Role.VERIFIER, username="verifier_b")
    actions.verify_voucher(Membership.objects.get(user=other_verifier), "ORD-7")
    client = verified_client(world.verifier_user)
    html = client.get("/verify/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "My recent verifications" in html and "You have not verified anything yet." in html
    r = client.post("/verify/", {"code": "gift-100 ", "action": "verify"}, HTTP_ACCEPT_LANGUAGE="en")
    assert r.status_code == 302
    html = client.get("/verify/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "我最近的核销" in html and 'data-recent-code="GIFT-100"' in html
    assert 'data-recent-code="ORD-7"' not in html  # another verifier's


def test_a_verifier_opening_the_console_is_sent_to_the_verification_page(world):
    client = verified_client(world.verifier_user)
    r = client.get("/console/")
    assert r.status_code == 302 and r["Location"] == "/verify/"
    assert client.get("/console/settings/").status_code == 302
    # Scripts still get a clear error, and agents keep their console.
    assert client.get("/console/list/", HTTP_ACCEPT="application/json").status_code == 403
    assert verified_client(world.agent_user).get("/console/").status_code == 200
