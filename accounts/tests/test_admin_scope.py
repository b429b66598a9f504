"""Owners' admin pages follow the roles: who gets in, what they see, what they may change."""

import pytest

from accounts.models import AuditLog, Membership, Role
from chat.models import Inbox
from conftest import make_agent, verified_client

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def shop(personas):
    personas.senior_user, _ = make_agent(personas.workspace, role=Role.SENIOR_ADMIN, username="senior")
    personas.admin_user, _ = make_agent(personas.workspace, role=Role.ADMIN, username="shop_admin")
    personas.verifier_user, _ = make_agent(personas.workspace, role=Role.VERIFIER, username="verifier")
    return personas


def test_only_admin_roles_get_into_the_admin(shop):
    assert verified_client(shop.owner_user).get("/admin/").status_code == 200
    assert verified_client(shop.senior_user).get("/admin/").status_code == 200
    assert verified_client(shop.admin_user).get("/admin/").status_code == 200
    for user in (shop.agent_a_user, shop.verifier_user):
        r = verified_client(user).get("/admin/")
        assert r.status_code == 302 and "/admin/login/" in r["Location"]


def test_lists_show_only_own_workspace(shop):
    admin = verified_client(shop.admin_user)
    page = admin.get("/admin/chat/inbox/").content.decode()
    assert "Site A" in page and "Site Z" not in page
    members = admin.get("/admin/accounts/membership/").content.decode()
    assert "agent_a" in members and "agent_z" not in members


def test_other_workspace_object_url_is_404_and_audited(shop):
    admin = verified_client(shop.admin_user)
    assert admin.get(f"/admin/chat/inbox/{shop.other_inbox.pk}/change/").status_code == 404
    other_member = Membership.objects.get(user=shop.other_agent_user)
    assert admin.post(f"/admin/accounts/membership/{other_member.pk}/delete/", {"post": "yes"}).status_code == 404
    assert Membership.objects.filter(pk=other_member.pk).exists()
    assert AuditLog.objects.filter(actor=shop.admin_user, action="admin.unknown_object", denied=True).count() == 2


def test_admin_cannot_escalate_through_the_membership_form(shop):
    admin = verified_client(shop.admin_user)
    me = Membership.objects.get(user=shop.admin_user)
    agent = Membership.objects.get(user=shop.agent_a_user)
    # own row and a founder's row are view-only for an admin
    r = admin.post(f"/admin/accounts/membership/{me.pk}/change/", {"role": "senior_admin", "display_name": "me"})
    assert r.status_code == 403
    r = admin.post(f"/admin/accounts/membership/{agent.pk}/change/", {"role": "founder", "display_name": "x"})
    assert r.status_code == 200 and "role" in r.context["adminform"].form.errors
    assert Membership.objects.get(pk=agent.pk).role == Role.AGENT
    assert Membership.objects.get(pk=me.pk).role == Role.ADMIN
    assert AuditLog.objects.filter(actor=shop.admin_user, action="admin.rejected_field", denied=True).exists()
    ok = admin.post(f"/admin/accounts/membership/{agent.pk}/change/", {"role": "verifier", "display_name": "Li"})
    assert ok.status_code == 302
    assert Membership.objects.get(pk=agent.pk).role == Role.VERIFIER
    assert AuditLog.objects.filter(actor=shop.admin_user, action="member.change_role", denied=False).count() == 1


def test_tampered_workspace_id_is_refused_and_audited(shop):
    admin = verified_client(shop.admin_user)
    r = admin.post("/admin/chat/inbox/add/", {"workspace": shop.other_workspace.pk, "name": "Trojan", "kind": "web",
                                              "user_permissions-TOTAL_FORMS": "0", "user_permissions-INITIAL_FORMS": "0"})
    assert r.status_code == 200 and "workspace" in r.context["adminform"].form.errors
    assert not Inbox.objects.filter(name="Trojan").exists()
    assert AuditLog.objects.filter(actor=shop.admin_user, action="admin.rejected_field").count() == 1


def test_inbox_access_inline_grants_through_the_audited_action(shop):
    admin = verified_client(shop.admin_user)
    url = f"/admin/chat/inbox/{shop.inbox_a.pk}/change/"
    form = admin.get(url).context["adminform"].form
    data = {"name": form.initial["name"], "kind": form.initial["kind"], "widget_color": "#0b5cad", "widget_position": "right",
            "user_permissions-TOTAL_FORMS": "1",
            "user_permissions-INITIAL_FORMS": "0", "user_permissions-0-user": shop.agent_b_user.pk}
    existing = list(shop.inbox_a.user_permissions.order_by("pk"))
    data["user_permissions-TOTAL_FORMS"] = str(len(existing) + 1)
    data["user_permissions-INITIAL_FORMS"] = str(len(existing))
    for i, row in enumerate(existing):
        data[f"user_permissions-{i}-id"] = row.pk
        data[f"user_permissions-{i}-user"] = row.user_id
        data[f"user_permissions-{i}-content_object"] = shop.inbox_a.pk
    data[f"user_permissions-{len(existing)}-user"] = shop.agent_b_user.pk
    data[f"user_permissions-{len(existing)}-content_object"] = shop.inbox_a.pk
    r = admin.post(url, data)
    assert r.status_code == 302, r.context["adminform"].form.errors if r.context else r
    assert shop.inbox_a.user_permissions.filter(user=shop.agent_b_user).exists()
    assert AuditLog.objects.filter(action="inbox.access", actor=shop.admin_user, after__granted=True).count() == 1


def test_audit_log_is_for_founders(shop):
    assert verified_client(shop.owner_user).get("/admin/accounts/auditlog/").status_code == 200
    assert verified_client(shop.senior_user).get("/admin/accounts/auditlog/").status_code == 403
    assert verified_client(shop.admin_user).get("/admin/accounts/auditlog/").status_code == 403


def test_view_all_history_is_granted_from_the_member_page(shop):
    from accounts import actions

    admin = verified_client(shop.admin_user)
    agent = Membership.objects.get(user=shop.agent_a_user)
    r = admin.post(f"/admin/accounts/membership/{agent.pk}/change/", {"role": "agent", "display_name": "Li", "view_all_history": "on"})
    assert r.status_code == 302
    assert actions.holds(shop.agent_a_user, actions.VIEW_ALL_HISTORY_PERM, shop.workspace)
    assert AuditLog.objects.filter(action="history.view_all", actor=shop.admin_user, after__granted=True).count() == 1


@pytest.mark.parametrize("path", ["/admin/accounts/membership/", "/admin/accounts/invite/", "/admin/chat/inbox/", "/admin/chat/conversation/",
                                  "/admin/chat/customer/", "/admin/routing/agentgroup/", "/admin/accounts/workspace/", "/admin/accounts/customrole/"])
def test_no_other_workspace_name_appears_anywhere(shop, path, sender):
    sender(shop.other_visitor, "rival conversation")
    page = verified_client(shop.owner_user).get(path).content.decode()
    assert "Shop Z" not in page and "Site Z" not in page and "agent_z" not in page


def test_a_member_of_one_workspace_never_picks_a_workspace(shop):
    """Most merchants have one shop: no workspace field, column or filter; a new object is theirs."""
    admin = verified_client(shop.admin_user)
    listing = admin.get("/admin/chat/inbox/").content.decode()
    assert "column-workspace" not in listing and "workspace__id__exact" not in listing
    add = admin.get("/admin/chat/inbox/add/")
    field = add.context["adminform"].form.fields["workspace"]
    assert field.widget.input_type == "hidden" and field.initial == shop.workspace.pk
    change = admin.get(f"/admin/chat/inbox/{shop.inbox_a.pk}/change/").content.decode()
    assert "field-workspace" not in change
    r = admin.post("/admin/chat/inbox/add/", {"workspace": shop.workspace.pk, "name": "Mini program", "kind": "wechat_mp",
                                              "widget_color": "#0b5cad", "widget_position": "right",
                                              "user_permissions-TOTAL_FORMS": "0", "user_permissions-INITIAL_FORMS": "0"})
    assert r.status_code == 302
    assert Inbox.objects.get(name="Mini program").workspace_id == shop.workspace.pk
