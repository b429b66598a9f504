"""Issue 14, low findings: bad input is a clear 400 (never a 500) on any database, pages carry a
Content Security Policy, and the TLS-related settings follow the environment."""

import runpy

import pytest
from django.conf import settings
from django.test import Client

from chat.models import Customer
from conftest import verified_client
from helpdesk import validation
from helpdesk.errors import DomainError
from knowledge.models import SearchLog
from knowledge.widget import widget_search
from routing.models import AgentPresence

HUGE = "9" * 40  # beyond SQLite's (and PostgreSQL's) 64-bit integers
DEEP = "[" * 100_000 + "]" * 100_000  # json.loads gives up with RecursionError


def error_code(response):
    assert response.status_code == 400, (response.status_code, response.content[:300])
    return response.json()["error"]["code"]


def quiet(user=None):
    client = Client(raise_request_exception=False)
    return verified_client(user, client) if user is not None else client


# --- deeply nested JSON ---------------------------------------------------------------------

def test_loads_json_turns_deep_nesting_and_garbage_into_a_clear_error():
    assert validation.loads_json('{"a": [1]}') == {"a": [1]}
    for raw in (DEEP, "{not json", b"\xff\xfe"):
        with pytest.raises(DomainError) as caught:
            validation.loads_json(raw)
        assert caught.value.code == "malformed_json" and caught.value.status == 400


@pytest.mark.django_db
def test_deep_json_on_the_session_endpoint_is_a_400_and_creates_nothing(personas):
    before = Customer.objects.count()
    response = quiet().post("/api/v1/customer/session", DEEP, content_type="application/json")
    assert error_code(response) == "malformed_json"
    assert Customer.objects.count() == before


@pytest.mark.django_db
def test_deep_json_on_the_widget_endpoints_is_a_400(personas):
    response = quiet().post("/api/v1/customer/visits", DEEP, content_type="application/json",
                            HTTP_AUTHORIZATION=f"Customer {personas.visitor_token}")
    assert error_code(response) == "malformed_json"


@pytest.mark.django_db
def test_deep_json_on_the_console_status_endpoint_is_a_400_and_changes_nothing(personas):
    response = quiet(personas.agent_a_user).post("/console/status/", DEEP, content_type="application/json")
    assert error_code(response) == "malformed_json"
    assert not AgentPresence.objects.filter(user=personas.agent_a_user).exists()


@pytest.mark.django_db
def test_deep_json_on_push_subscriptions_is_a_400(personas):
    response = quiet(personas.agent_a_user).post("/console/push/subscriptions", DEEP, content_type="application/json")
    assert error_code(response) == "malformed_json"


# --- NUL bytes (PostgreSQL refuses them in text: a 500 there before) -----------------------------

@pytest.mark.engine_db  # PostgreSQL refuses NUL in text: these were 500s there (pass 2 runs them on it)
@pytest.mark.django_db
@pytest.mark.parametrize("url", [
    "/help/shop-a/zh-hans/search/?q=a%00b",
    "/help/shop-a/zh-hans/search.json?q=%00",
    "/console/list/?tag=vip%00",
    "/console/?state=%00",
    "/admin/chat/customer/?q=x%00y",
    "/admin/orders/voucher/?q=%00",
    "/api/v1/customer/help/search?q=%00",
    "/console/c/1%00/",
])
def test_a_nul_byte_in_the_url_is_a_400(personas, url):
    personas.workspace.slug = "shop-a"  # the help center's URL
    personas.workspace.save()
    response = quiet(personas.owner_user).get(url)
    assert error_code(response) == "nul_character"
    assert not SearchLog.objects.exists()
    assert response.json()["error"]["message"]


@pytest.mark.engine_db
@pytest.mark.django_db
@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data"])
def test_a_nul_byte_in_a_form_field_is_a_400_and_changes_nothing(personas, content_type):
    client = quiet(personas.agent_a_user)
    if content_type == "multipart/form-data":
        response = client.post("/console/status/", {"status": "online", "capacity\x00": "3"})
    else:
        response = client.post("/console/status/", "status=online&capacity=3%00", content_type=content_type)
    assert error_code(response) == "nul_character"
    assert not AgentPresence.objects.filter(user=personas.agent_a_user).exists()
    assert client.post("/console/status/", {"status": "online"}).status_code == 200


@pytest.mark.django_db
def test_a_nul_byte_in_a_cookie_is_a_400(personas):
    client = quiet()
    client.cookies["sessionid"] = "abcdefgh\x00"
    assert error_code(client.get("/accounts/login/")) == "nul_character"


@pytest.mark.django_db
def test_widget_search_drops_nul_bytes_before_searching_and_logging(personas):
    widget_search(personas.visitor, "退\x00货")
    assert list(SearchLog.objects.values_list("query", flat=True)) == ["退货"]


# --- ids beyond 64 bits ------------------------------------------------------------------------

def test_int_or_none_and_is_int_stay_within_signed_64_bits():
    top, bottom = 2**63 - 1, -(2**63)
    assert validation.int_or_none(str(top)) == top and validation.int_or_none(bottom) == bottom
    assert validation.int_or_none(top + 1) is None and validation.int_or_none(HUGE) is None
    assert validation.int_or_none(bottom - 1) is None and validation.int_or_none(True) is None
    assert validation.is_int(top) and validation.is_int(bottom)
    assert not validation.is_int(top + 1) and not validation.is_int(bottom - 1)
    assert validation.id_param("42") == 42 and validation.id_param(str(top)) == top
    for bad in (HUGE, str(top + 1), "²", "٤٢", "1_0", " 1", "-1", "", None, 7):
        assert validation.id_param(bad) is None, bad


@pytest.mark.django_db
@pytest.mark.parametrize("query,code", [
    (f"inbox={HUGE}", "invalid_inbox"),
    ("inbox=²", "invalid_inbox"),
    (f"view=group:{HUGE}", "invalid_view"),
    (f"before=2026-01-01T00:00:00%2B00:00|{HUGE}", "invalid_cursor"),
])
def test_a_huge_or_odd_id_in_the_console_filters_is_a_400(personas, query, code):
    response = quiet(personas.agent_a_user).get(f"/console/list/?{query}", HTTP_ACCEPT="application/json")
    assert error_code(response) == code


@pytest.mark.django_db
def test_a_huge_id_elsewhere_is_not_a_500(personas):
    client = quiet(personas.agent_a_user)
    assert client.get(f"/console/?inbox={HUGE}").status_code == 200  # the page falls back to the default list
    assert client.get(f"/console/list/?workspace={HUGE}").status_code == 404  # no such workspace (for this member)
    assert client.post(f"/console/customers/{HUGE}/tags/", {"name": "vip"}).status_code == 404
    for capacity in ("²", HUGE):
        assert error_code(client.post("/console/status/", {"status": "online", "capacity": capacity})) == "invalid_capacity"
    assert not AgentPresence.objects.filter(user=personas.agent_a_user).exists()


# --- Content Security Policy -------------------------------------------------------------------

def csp(response):
    return dict(part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";") if part.strip())


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/", "/admin/", "/console/", "/console/settings/"])
def test_console_admin_and_login_pages_have_a_strict_policy(personas, url):
    response = quiet(None if "login" in url else personas.owner_user).get(url)
    assert response.status_code == 200
    policy = csp(response)
    assert policy["default-src"] == "'self'" and policy["script-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert "unsafe-inline" not in policy.get("script-src", "") and "unsafe-eval" not in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_the_widget_frame_keeps_its_own_policy_so_merchants_can_embed_it(personas):
    response = quiet().get(f"/widget/frame/?inbox={personas.inbox_a.public_key}")
    assert response.status_code == 200
    assert csp(response)["frame-ancestors"] == "*"


# --- TLS switches ------------------------------------------------------------------------------

def load_settings(monkeypatch, **env):
    for name in ("SECURE_COOKIES", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD",
                 "SECURE_SSL_REDIRECT", "USE_X_FORWARDED_PROTO", "USE_X_FORWARDED_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", "a-test-key-that-is-long-enough-for-any-check-0123456789")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(settings.BASE_DIR / "helpdesk" / "settings.py"))


def test_tls_switches_default_to_plain_http_for_make_run(monkeypatch):
    loaded = load_settings(monkeypatch)
    assert loaded["SESSION_COOKIE_SECURE"] is False and loaded["CSRF_COOKIE_SECURE"] is False
    assert loaded["SECURE_HSTS_SECONDS"] == 0 and loaded["SECURE_SSL_REDIRECT"] is False
    assert loaded["SECURE_PROXY_SSL_HEADER"] is None and loaded["USE_X_FORWARDED_HOST"] is False


def test_tls_switches_follow_the_environment(monkeypatch):
    loaded = load_settings(monkeypatch, SECURE_COOKIES="true", SECURE_HSTS_SECONDS="31536000", SECURE_HSTS_INCLUDE_SUBDOMAINS="1",
                           SECURE_HSTS_PRELOAD="1", SECURE_SSL_REDIRECT="1", USE_X_FORWARDED_PROTO="1", USE_X_FORWARDED_HOST="1")
    assert loaded["SESSION_COOKIE_SECURE"] and loaded["CSRF_COOKIE_SECURE"] and loaded["LANGUAGE_COOKIE_SECURE"]
    assert loaded["SECURE_HSTS_SECONDS"] == 31536000
    assert loaded["SECURE_HSTS_INCLUDE_SUBDOMAINS"] and loaded["SECURE_HSTS_PRELOAD"] and loaded["SECURE_SSL_REDIRECT"]
    assert loaded["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https") and loaded["USE_X_FORWARDED_HOST"]


@pytest.mark.django_db
def test_hsts_is_sent_on_https_when_switched_on(settings):
    settings.SECURE_HSTS_SECONDS = 3600
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    response = Client().get("/accounts/login/", secure=True)
    assert response["Strict-Transport-Security"] == "max-age=3600; includeSubDomains"
