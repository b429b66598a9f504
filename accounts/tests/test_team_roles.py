"""团队与角色 (issue 20 item 4): the permission matrix generated from accounts.roles, custom roles as
checkboxes with field errors, and the invitation link shown to copy (and e-mailed when an address is given)."""

import re

import pytest
from django.core import mail

from accounts import roles, team
from accounts.models import AuditLog, CustomRole, Invite, Role
from conftest import make_agent, verified_client
from lifecycle.models import FollowUp

pytestmark = [pytest.mark.django_db]


def zh_client(user):
    client = verified_client(user)
    client.cookies["django_language"] = "zh-hans"
    return client


def test_the_matrix_is_generated_from_roles_py():
    reception = CustomRole(name="前台", capabilities=[roles.VIEW_ALL_HISTORY, roles.MANAGE_MEMBERS])
    columns, rows = team.permission_matrix([reception])
    assert [c.label for c in columns][-1] == "前台" and len(columns) == len(Role.values) + 1
    assert len(rows) == len(roles.CAPABILITY_LABELS)
    for row, capability in zip(rows, roles.CAPABILITY_LABELS, strict=True):
        expected = [capability in roles.ROLE_CAPABILITIES[value] for value in Role.values]
        # a custom role never grants member management, even when its stored list says so
        expected.append(capability in {roles.VIEW_ALL_HISTORY})
        assert list(row.cells) == expected, capability


def test_team_page_shows_the_matrix_in_chinese_with_accessible_marks(personas):
    CustomRole.objects.create(workspace=personas.workspace, name="夜班", capabilities=[roles.SERVE_CHATS, roles.VERIFY_ORDERS])
    CustomRole.objects.create(workspace=personas.other_workspace, name="别家的角色", capabilities=[])
    client = zh_client(personas.owner_user)
    html = client.get("/admin/accounts/membership/team/").content.decode()
    for words in ("团队与角色", "创始人", "高级管理员", "管理员", "客服", "核销员", "夜班", "查看审计日志", "谁可以管理谁"):
        assert words in html, words
    assert "别家的角色" not in html
    yes = html.count('<span class="visually-hidden">可以</span>')
    no = html.count('<span class="visually-hidden">不可以</span>')
    expected_yes = sum(len(c) for c in roles.ROLE_CAPABILITIES.values()) + 2
    assert (yes, no) == (expected_yes, len(roles.CAPABILITY_LABELS) * 6 - expected_yes)
    # reachable from the index and the members list
    assert "/admin/accounts/membership/team/" in client.get("/admin/").content.decode()
    assert "/admin/accounts/membership/team/" in client.get("/admin/accounts/membership/").content.decode()
    # another workspace's id is not found
    assert client.get(f"/admin/accounts/membership/team/?workspace={personas.other_workspace.pk}").status_code == 404


def test_team_page_needs_member_management(personas):
    agent = zh_client(personas.agent_a_user)
    assert agent.get("/admin/accounts/membership/team/").status_code == 302  # to the admin login
    admin_user, _ = make_agent(personas.workspace, role=Role.ADMIN, username="shop_admin")
    html = zh_client(admin_user).get("/admin/accounts/membership/team/").content.decode()
    assert "团队与角色" in html and "新建自定义角色" not in html  # an admin cannot define roles


def test_custom_role_is_edited_as_checkboxes_and_audited(personas):
    client = zh_client(personas.owner_user)
    page = client.get("/admin/accounts/customrole/add/").content.decode()
    assert page.count('type="checkbox" name="capabilities"') == len(roles.GRANTABLE_BY_CUSTOM_ROLE)
    assert "管理成员" not in page  # never grantable, never offered
    response = client.post("/admin/accounts/customrole/add/", {
        "workspace": personas.workspace.pk, "name": "质检", "capabilities": [roles.VIEW_ALL_HISTORY, roles.CONFIGURE]})
    assert response.status_code == 302
    role = CustomRole.objects.get(workspace=personas.workspace, name="质检")
    assert role.capabilities == sorted([roles.VIEW_ALL_HISTORY, roles.CONFIGURE])
    log = AuditLog.objects.get(action="custom_role.define", target_id=str(role.pk))
    assert log.after["capabilities"] == role.capabilities
    listing = client.get("/admin/accounts/customrole/").content.decode()
    assert "查看全部会话历史" in listing and "view_all_history" not in listing


def test_bad_custom_role_input_is_a_field_error_and_nothing_is_saved(personas):
    client = zh_client(personas.owner_user)
    role = CustomRole.objects.create(workspace=personas.workspace, name="质检", capabilities=[roles.SERVE_CHATS])
    for data, field in (({"name": "夜班", "capabilities": [roles.MANAGE_MEMBERS]}, "capabilities"),
                        ({"name": "夜班", "capabilities": ["launch_rockets"]}, "capabilities"),
                        ({"name": "   ", "capabilities": [roles.SERVE_CHATS]}, "name"),
                        ({"name": "质检", "capabilities": [roles.SERVE_CHATS]}, "name")):
        response = client.post("/admin/accounts/customrole/add/", {"workspace": personas.workspace.pk, **data})
        assert response.status_code == 200, data
        assert field in response.context["adminform"].form.errors, data
    assert list(CustomRole.objects.filter(workspace=personas.workspace).values_list("name", flat=True)) == ["质检"]
    response = client.post(f"/admin/accounts/customrole/{role.pk}/change/", {"name": "质检", "capabilities": [roles.USE_ADMIN]})
    assert response.status_code == 200 and "capabilities" in response.context["adminform"].form.errors
    role.refresh_from_db()
    assert role.capabilities == [roles.SERVE_CHATS]


def test_another_workspaces_custom_role_is_not_found(personas):
    theirs = CustomRole.objects.create(workspace=personas.other_workspace, name="别家", capabilities=[roles.SERVE_CHATS])
    client = zh_client(personas.owner_user)
    assert client.get(f"/admin/accounts/customrole/{theirs.pk}/change/").status_code == 404
    response = client.post(f"/admin/accounts/customrole/{theirs.pk}/change/", {"name": "抢来的", "capabilities": []})
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "别家"


def test_only_those_who_define_roles_reach_custom_roles(personas):
    admin_user, _ = make_agent(personas.workspace, role=Role.ADMIN, username="shop_admin")
    client = zh_client(admin_user)
    assert client.get("/admin/accounts/customrole/add/").status_code == 403
    assert client.post("/admin/accounts/customrole/add/", {"workspace": personas.workspace.pk, "name": "x", "capabilities": []}).status_code == 403
    assert not CustomRole.objects.exists()


def test_invitation_page_shows_the_link_to_copy_and_e_mails_it(personas, django_capture_on_commit_callbacks):
    client = zh_client(personas.owner_user)
    with django_capture_on_commit_callbacks(execute=False) as after_commit:
        response = client.post("/admin/accounts/invite/add/", {"workspace": personas.workspace.pk, "email": "xiaomei@example.com",
                                                             "role": Role.AGENT, "display_name": "小美"})
    assert mail.outbox == []  # nothing leaves before the commit
    job = FollowUp.objects.get(kind=FollowUp.Kind.INVITE_EMAIL)
    for callback in after_commit:
        callback()
    assert response.status_code == 200
    html = response.content.decode()
    link = re.search(r'<code id="invite-link">([^<]+)</code>', html).group(1)
    assert "/accounts/invite/" in link and "data-copy-target=\"invite-link\"" in html and "复制" in html
    assert "xiaomei@example.com" in html
    assert len(mail.outbox) == 1 and link in mail.outbox[0].body and mail.outbox[0].to == ["xiaomei@example.com"]
    assert "72 小时内" in mail.outbox[0].body  # in the inviter's language
    job.refresh_from_db()
    assert job.state == FollowUp.State.DONE and "link" not in job.data  # the link leaves the database once sent
    secret = link.rstrip("/").rsplit("/", 1)[1]
    assert Invite.objects.get().token_hash != secret  # only the digest is kept
    assert client.get(f"/accounts/invite/{secret}/").status_code == 200


def test_invitation_by_phone_shows_the_link_and_sends_nothing(personas):
    client = zh_client(personas.owner_user)
    response = client.post("/admin/accounts/invite/add/", {"workspace": personas.workspace.pk, "phone": "+86 138 0000 0000",
                                                         "role": Role.VERIFIER, "display_name": ""})
    assert response.status_code == 200 and '<code id="invite-link">' in response.content.decode()
    assert mail.outbox == [] and not FollowUp.objects.exists()


def test_an_invitation_with_a_role_one_may_not_give_is_a_field_error_without_a_link(personas):
    admin_user, _ = make_agent(personas.workspace, role=Role.ADMIN, username="shop_admin")
    response = zh_client(admin_user).post("/admin/accounts/invite/add/", {
        "workspace": personas.workspace.pk, "email": "boss@example.com", "role": Role.ADMIN, "display_name": ""})
    assert response.status_code == 200 and "role" in response.context["adminform"].form.errors
    assert 'id="invite-link"' not in response.content.decode()
    assert not Invite.objects.exists() and mail.outbox == [] and not FollowUp.objects.exists()


def test_a_failed_invitation_e_mail_is_retried_with_its_link(personas, django_capture_on_commit_callbacks, monkeypatch, settings):
    from lifecycle import followups, invite_email

    settings.FOLLOWUPS = {**settings.FOLLOWUPS, "SYNC": False, "EAGER": False}  # the worker loop runs it, as after a crash

    def smtp_down(*args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    client = zh_client(personas.owner_user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/admin/accounts/invite/add/", {"workspace": personas.workspace.pk, "email": "xiaomei@example.com",
                                                   "role": Role.AGENT, "display_name": ""})
    job = FollowUp.objects.get(kind=FollowUp.Kind.INVITE_EMAIL)
    monkeypatch.setattr(invite_email, "send_mail", smtp_down)
    assert followups.run(job.pk) is False
    job.refresh_from_db()
    assert job.state == FollowUp.State.PENDING and job.attempts == 1 and "link" in job.data and mail.outbox == []
    monkeypatch.undo()
    assert followups.run(job.pk) is True
    job.refresh_from_db()
    assert job.state == FollowUp.State.DONE and len(mail.outbox) == 1 and "link" not in job.data
