"""Login security: argon2 hashes, brute-force lockout, TOTP two-factor, sessions ended by a
password change. Every test goes through the real login views and middleware."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.http import HttpRequest
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Role
from accounts.security import is_session_verified
from conftest import make_agent, make_inbox, make_workspace

pytestmark = [pytest.mark.django_db]

PASSWORD = "pw-for-tests-123"


def browser(ip="127.0.0.1", lang="en"):
    return Client(HTTP_ACCEPT_LANGUAGE=lang, REMOTE_ADDR=ip)


def log_in(client, username, password=PASSWORD, next_url="/demo/agent/", path="/accounts/login/"):
    return client.post(path, {"username": username, "password": password, "next": next_url})


def token_for(device):
    device.refresh_from_db()
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift):0{device.digits}d}"


def wrong_token_for(device):
    right = int(token_for(device))
    return f"{(right + 500000) % 1000000:06d}"


@pytest.fixture
def workspace(db):
    ws = make_workspace()
    ws.inbox = make_inbox(ws)
    return ws


def member(workspace, role, **kwargs):
    user, _ = make_agent(workspace, [workspace.inbox], role=role, **kwargs)
    return user


def logged_in_user_id(client):
    return client.session.get("_auth_user_id")


# --- argon2 -------------------------------------------------------------------------
# The suite hashes with MD5 for speed (conftest.py); these tests switch back to the product's list.


@pytest.fixture
def product_hashers(settings):
    settings.PASSWORD_HASHERS = settings.PRODUCT_PASSWORD_HASHERS
    assert settings.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_a_deployment_hashes_with_argon2_and_never_md5(monkeypatch):
    """helpdesk/settings.py read without the suite's test-only variable, as a deployment reads it."""
    import importlib.util
    from pathlib import Path

    from django.conf import settings

    monkeypatch.delenv("PASSWORD_HASHERS_FAST_FOR_TESTS", raising=False)
    spec = importlib.util.spec_from_file_location("deployment_settings", Path(settings.BASE_DIR, "helpdesk", "settings.py"))
    deployment = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(deployment)
    assert deployment.PASSWORD_HASHERS == deployment.PRODUCT_PASSWORD_HASHERS
    assert deployment.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    assert not any("MD5" in h for h in deployment.PASSWORD_HASHERS)


def test_the_suite_itself_hashes_fast(workspace):
    """Guards the suite's speed: persona users are hashed with MD5, not Argon2 (conftest.py)."""
    assert member(workspace, Role.AGENT).password.startswith("md5$")


def test_new_passwords_are_hashed_with_argon2(workspace, product_hashers):
    user = member(workspace, Role.AGENT)
    assert user.password.startswith("argon2$argon2id$")
    assert user.check_password(PASSWORD)
    user.set_password("another-pass-456")
    user.save()
    assert user.password.startswith("argon2$argon2id$")
    assert user.check_password("another-pass-456") and not user.check_password(PASSWORD)


def test_old_pbkdf2_hash_still_logs_in_and_is_upgraded(workspace, product_hashers):
    user = member(workspace, Role.AGENT)
    user.password = make_password(PASSWORD, hasher="pbkdf2_sha256")
    user.save()
    client = browser()
    assert log_in(client, user.username).status_code == 302
    assert logged_in_user_id(client) == str(user.pk)
    user.refresh_from_db()
    assert user.password.startswith("argon2$")


# --- lockout ------------------------------------------------------------------------


def test_five_bad_passwords_lock_the_username_from_that_ip(workspace, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    user = member(workspace, Role.AGENT)
    client = browser()
    for _ in range(4):
        r = log_in(client, user.username, "wrong-password")
        assert r.status_code == 200 and b"match" in r.content and b"role=\"alert\"" in r.content
    r = log_in(client, user.username, "wrong-password")
    assert r.status_code == 429
    assert b"Too many failed log-in attempts" in r.content and b"15 minutes" in r.content

    # The right password is refused while locked out, and no session is created.
    r = log_in(client, user.username, PASSWORD)
    assert r.status_code == 429
    assert logged_in_user_id(client) is None
    assert client.get("/demo/agent/").status_code == 302

    # The lock is per username + IP: the same user from another address still gets in.
    elsewhere = browser(ip="10.0.0.9")
    assert log_in(elsewhere, user.username).status_code == 302
    assert elsewhere.get("/demo/agent/").status_code == 200


def test_lockout_page_is_translated(workspace):
    user = member(workspace, Role.AGENT)
    client = browser(lang="zh-CN,zh;q=0.9")
    for _ in range(5):
        r = log_in(client, user.username, "wrong-password")
    assert r.status_code == 429
    html = r.content.decode()
    assert "登录失败次数过多" in html and "15" in html


def test_a_successful_login_resets_the_failure_count(workspace):
    user = member(workspace, Role.AGENT)
    client = browser()
    for _ in range(4):
        log_in(client, user.username, "wrong-password")
    assert log_in(client, user.username).status_code == 302
    client.post("/accounts/logout/")
    for _ in range(4):
        assert log_in(client, user.username, "wrong-password").status_code == 200
    assert log_in(client, user.username).status_code == 302


def test_admin_login_is_locked_out_too(workspace):
    founder = member(workspace, Role.FOUNDER)
    founder.is_staff = founder.is_superuser = True
    founder.save()
    client = browser()
    for _ in range(4):
        assert log_in(client, founder.username, "wrong-password", next_url="/admin/", path="/admin/login/").status_code == 200
    assert log_in(client, founder.username, "wrong-password", next_url="/admin/", path="/admin/login/").status_code == 429
    assert log_in(client, founder.username, PASSWORD, next_url="/admin/", path="/admin/login/").status_code == 429
    assert logged_in_user_id(client) is None


def test_test_client_login_works_when_given_a_request(workspace):
    user = member(workspace, Role.AGENT)
    client = browser()
    assert client.login(request=HttpRequest(), username=user.username, password=PASSWORD)
    assert client.get("/demo/agent/").status_code == 200


# --- two-factor ---------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.FOUNDER, Role.SENIOR_ADMIN, Role.ADMIN])
def test_admin_roles_pass_the_totp_step_before_anything_else(workspace, role):
    user = member(workspace, role)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = browser()

    r = log_in(client, user.username)
    assert r.status_code == 302 and r["Location"] == "/demo/agent/"
    assert logged_in_user_id(client) == str(user.pk)  # password step done...

    # ...but nothing is usable until the TOTP step.
    r = client.get("/demo/agent/")
    assert r.status_code == 302 and r["Location"] == "/accounts/2fa/verify/?next=%2Fdemo%2Fagent%2F"
    r = client.get("/api/v1/conversations")
    assert r.status_code == 403 and r.json()["error"]["code"] == "two_factor_required"
    assert client.get("/admin/").status_code == 302
    assert client.get("/accounts/password/change/").status_code == 302
    assert not is_session_verified(user, client.session)

    page = client.get("/accounts/2fa/verify/?next=/demo/agent/")
    assert page.status_code == 200 and b"Two-factor verification" in page.content

    r = client.post("/accounts/2fa/verify/", {"token": wrong_token_for(device), "next": "/demo/agent/"})
    assert r.status_code == 200 and b"not valid" in r.content
    assert client.get("/demo/agent/").status_code == 302

    device.throttle_reset()  # the wrong code started django-otp's back-off (1 s)
    r = client.post("/accounts/2fa/verify/", {"token": token_for(device), "next": "/demo/agent/"})
    assert r.status_code == 302 and r["Location"] == "/demo/agent/"
    assert client.get("/demo/agent/").status_code == 200
    assert client.get("/api/v1/conversations").status_code == 200
    assert is_session_verified(user, client.session)


def test_a_used_token_cannot_be_replayed(workspace):
    user = member(workspace, Role.FOUNDER)
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    first = browser()
    log_in(first, user.username)
    token = token_for(device)
    assert first.post("/accounts/2fa/verify/", {"token": token}).status_code == 302
    second = browser(ip="10.0.0.2")
    log_in(second, user.username)
    assert second.post("/accounts/2fa/verify/", {"token": token}).status_code == 200
    assert second.get("/demo/agent/").status_code == 302


def test_an_admin_without_a_device_is_sent_to_setup_and_confirms_only_with_a_valid_token(workspace):
    user = member(workspace, Role.ADMIN)
    client = browser()
    log_in(client, user.username)
    r = client.get("/demo/agent/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/2fa/setup/?next=")
    assert client.get("/accounts/2fa/verify/").status_code == 302  # nothing to verify yet: setup first

    page = client.get("/accounts/2fa/setup/?next=/demo/agent/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "otpauth://totp/Helpdesk%3A" in html and "secret=" in html
    assert "<svg" in html  # QR code, inline
    device = TOTPDevice.objects.get(user=user)
    assert not device.confirmed

    r = client.post("/accounts/2fa/setup/", {"token": wrong_token_for(device), "next": "/demo/agent/"})
    assert r.status_code == 200 and b"not valid" in r.content
    device.refresh_from_db()
    assert not device.confirmed
    assert client.get("/demo/agent/").status_code == 302
    r = client.post("/accounts/2fa/setup/", {"token": "abcdef", "next": "/demo/agent/"})
    assert r.status_code == 200
    device.refresh_from_db()
    assert not device.confirmed

    device.throttle_reset()
    r = client.post("/accounts/2fa/setup/", {"token": token_for(device), "next": "/demo/agent/"})
    assert r.status_code == 302 and r["Location"] == "/demo/agent/"
    device.refresh_from_db()
    assert device.confirmed
    assert client.get("/demo/agent/").status_code == 200
    assert client.get("/api/v1/conversations").status_code == 200
    assert TOTPDevice.objects.filter(user=user).count() == 1


def test_the_password_alone_cannot_replace_an_enrolled_device(workspace):
    user = member(workspace, Role.FOUNDER)
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    client = browser()
    log_in(client, user.username)
    r = client.get("/accounts/2fa/setup/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/2fa/verify/")
    client.post("/accounts/2fa/setup/", {"token": "123456"})
    assert TOTPDevice.objects.filter(user=user).count() == 1


def test_an_agent_without_a_device_logs_in_without_two_factor(workspace):
    user = member(workspace, Role.AGENT)
    client = browser()
    r = log_in(client, user.username)
    assert r.status_code == 302 and r["Location"] == "/demo/agent/"
    assert client.get("/demo/agent/").status_code == 200
    assert client.get("/api/v1/conversations").status_code == 200
    assert is_session_verified(user, client.session)


def test_an_agent_may_enrol_and_then_must_verify(workspace):
    user = member(workspace, Role.AGENT)
    client = browser()
    log_in(client, user.username)
    page = client.get("/accounts/2fa/setup/")
    assert page.status_code == 200 and b"requires two-factor" not in page.content
    device = TOTPDevice.objects.get(user=user)
    assert client.post("/accounts/2fa/setup/", {"token": token_for(device)}).status_code == 302
    assert client.get("/accounts/2fa/setup/").content.count(b"data-two-factor-enabled") == 1

    later = browser(ip="10.0.0.3")
    log_in(later, user.username)
    assert later.get("/demo/agent/")["Location"].startswith("/accounts/2fa/verify/")
    assert later.get("/api/v1/conversations").status_code == 403


def test_is_session_verified_reads_only_the_session(workspace):
    founder = member(workspace, Role.FOUNDER)
    other = member(workspace, Role.FOUNDER)
    device = TOTPDevice.objects.create(user=founder, name="phone", confirmed=True)
    assert not is_session_verified(founder, {})
    assert is_session_verified(founder, {DEVICE_ID_SESSION_KEY: device.persistent_id})
    assert not is_session_verified(other, {DEVICE_ID_SESSION_KEY: device.persistent_id})  # someone else's device
    assert not is_session_verified(founder, {DEVICE_ID_SESSION_KEY: "otp_totp.totpdevice/999999"})
    assert not is_session_verified(founder, {DEVICE_ID_SESSION_KEY: "garbage"})
    device.confirmed = False
    device.save()
    assert not is_session_verified(founder, {DEVICE_ID_SESSION_KEY: device.persistent_id})
    from django.contrib.auth.models import AnonymousUser

    assert not is_session_verified(AnonymousUser(), {})


# --- sessions and password changes ---------------------------------------------------


def test_changing_the_password_ends_other_sessions_but_not_ones_own(workspace):
    user = member(workspace, Role.AGENT)
    phone, laptop = browser(ip="10.0.0.4"), browser(ip="10.0.0.5")
    log_in(phone, user.username)
    log_in(laptop, user.username)
    assert phone.get("/demo/agent/").status_code == 200
    assert laptop.get("/demo/agent/").status_code == 200

    assert laptop.get("/accounts/password/change/").status_code == 200
    r = laptop.post("/accounts/password/change/", {"old_password": PASSWORD, "new_password1": "fresh-pass-789x", "new_password2": "fresh-pass-789x"})
    assert r.status_code == 302 and r["Location"] == "/accounts/password/change/done/"
    assert laptop.get("/accounts/password/change/done/").status_code == 200

    assert laptop.get("/demo/agent/").status_code == 200  # update_session_auth_hash kept this one
    r = phone.get("/demo/agent/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")
    assert phone.get("/api/v1/conversations").status_code in (401, 403)
    assert get_user_model().objects.get(pk=user.pk).check_password("fresh-pass-789x")


def test_a_password_set_elsewhere_ends_every_session(workspace):
    user = member(workspace, Role.AGENT)
    client = browser()
    log_in(client, user.username)
    assert client.get("/demo/agent/").status_code == 200
    user.set_password("reset-by-admin-321")
    user.save()
    assert client.get("/demo/agent/").status_code == 302
    assert logged_in_user_id(client) is None
