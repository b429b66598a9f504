"""Users, groups, lockouts (axes) and TOTP devices read as one translated section, 安全, on the admin
index and in its side navigation, and only for superusers, who alone may open those pages (issue 20 item 3)."""

import re

import pytest
from django.contrib.auth import get_user_model

from accounts.models import Role
from accounts.tests.test_admin_translated import english_words
from conftest import make_agent, make_inbox, make_workspace, verified_client

pytestmark = [pytest.mark.django_db]

ENGLISH_SECTIONS = ("Axes", "AXES", "Otp_Totp", "OTP_TOTP", "认证和授权")


def sections(client, path="/admin/"):
    response = client.get(path, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 200
    return {str(app["name"]): app for app in response.context["app_list" if path == "/admin/" else "available_apps"]}


def test_superusers_see_one_security_section_in_chinese():
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-123")
    client = verified_client(root)
    client.cookies["django_language"] = "zh-hans"
    shown = sections(client)
    assert "安全" in shown and not any(name in shown for name in ENGLISH_SECTIONS)
    models = {m["object_name"] for m in shown["安全"]["models"]}
    assert {"User", "Group", "TOTPDevice", "AccessAttempt", "AccessLog", "AccessFailureLog"} <= models
    assert all(m["admin_url"] for m in shown["安全"]["models"])
    # the workspace sections keep their own models
    assert "安全" not in {str(a["name"]) for a in shown.values() if any(m["object_name"] == "Inbox" for m in a["models"])}
    html = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    captions = re.findall(r'class="section"[^>]*>([^<]+)</a>', html)
    assert "安全" in captions and not set(captions) & set(ENGLISH_SECTIONS)
    assert english_words(html, {"root"}) == set()  # axes' and django-otp's model names too
    # the side navigation of a list page groups them the same way
    assert "安全" in sections(client, "/admin/auth/user/")


@pytest.mark.parametrize("role", [Role.FOUNDER, Role.SENIOR_ADMIN, Role.ADMIN])
def test_workspace_owners_see_no_security_section(role):
    workspace = make_workspace("茶馆")
    user, _ = make_agent(workspace, [make_inbox(workspace)], role=role)
    client = verified_client(user)
    shown = sections(client)
    assert "安全" not in shown and not any(name in shown for name in ENGLISH_SECTIONS)
    assert client.get("/admin/auth/user/").status_code == 403
