"""Invitations (expiring, single use) and bulk creation from CSV."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone, translation

from accounts import actions
from accounts.models import AuditLog, Invite, Membership, Role
from chat import staff as chat_staff
from conftest import make_agent, verified_client
from helpdesk.errors import DomainError

pytestmark = [pytest.mark.django_db]
NEW_PASSWORD = "Tea-and-2-biscuits"


@pytest.fixture
def shop(personas):
    personas.admin_user, _ = make_agent(personas.workspace, role=Role.ADMIN, username="shop_admin")
    personas.owner_m = Membership.objects.get(user=personas.owner_user)
    personas.admin_m = Membership.objects.get(user=personas.admin_user)
    return personas


def test_invite_link_creates_an_account_once(shop):
    invite, secret = actions.invite_member(shop.admin_m, role=Role.AGENT, email="New.Agent@Example.com")
    assert invite.email == "new.agent@example.com" and invite.token_hash != secret
    page = Client().get(f"/accounts/invite/{secret}/")
    assert page.status_code == 200 and "Shop A" in page.content.decode()
    client = Client()
    r = client.post(f"/accounts/invite/{secret}/", {"username": "xiaoli", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert r.status_code == 302
    member = Membership.objects.get(user__username="xiaoli")
    assert (member.workspace_id, member.role) == (shop.workspace.pk, Role.AGENT)
    assert client.get("/demo/agent/").status_code == 200  # logged in, no 2FA needed for an agent
    again = Client().post(f"/accounts/invite/{secret}/", {"username": "second", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert again.status_code == 410 and not Membership.objects.filter(user__username="second").exists()
    assert AuditLog.objects.filter(action="member.join", actor=member.user).count() == 1


def test_expired_and_forged_links_are_refused(shop):
    invite, secret = actions.invite_member(shop.admin_m, role=Role.AGENT, phone="+86 138 0000 0000")
    Invite.objects.filter(pk=invite.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Client().get(f"/accounts/invite/{secret}/").status_code == 410
    assert Client().get("/accounts/invite/forged-secret/").status_code == 404


def test_admin_cannot_invite_admins_and_bad_contacts_are_refused(shop):
    with pytest.raises(DomainError) as exc:
        actions.invite_member(shop.admin_m, role=Role.ADMIN, email="boss@example.com")
    assert exc.value.code == "forbidden"
    assert AuditLog.objects.filter(action="member.invite", denied=True).count() == 1
    for kwargs, code in (({}, "contact_required"), ({"email": "not-an-email"}, "invalid_email"), ({"phone": "call me"}, "invalid_phone")):
        with pytest.raises(DomainError) as exc:
            actions.invite_member(shop.owner_m, role=Role.AGENT, **kwargs)
        assert exc.value.code == code
    assert not Invite.objects.exists()


def test_invite_from_the_admin_sends_the_link_by_email(shop, django_capture_on_commit_callbacks):
    admin = verified_client(shop.admin_user)
    with django_capture_on_commit_callbacks(execute=True):  # the e-mail is a follow-up job run after the commit
        r = admin.post("/admin/accounts/invite/add/", {"workspace": shop.workspace.pk, "email": "li@example.com", "role": "agent"}, follow=True)
    assert r.status_code == 200
    assert len(mail.outbox) == 1 and "/accounts/invite/" in mail.outbox[0].body
    shown = r.content.decode()  # the page after the save shows the link once, to copy
    link = re.search(r"http://\S+/accounts/invite/\S+/", mail.outbox[0].body).group(0)
    assert f'<code id="invite-link">{link}</code>' in shown
    tampered = admin.post("/admin/accounts/invite/add/", {"workspace": shop.workspace.pk, "email": "x@example.com", "role": "founder"})
    assert tampered.status_code == 200 and Invite.objects.count() == 1


CSV_OK = "username,email,display_name,role,inboxes\nwang,wang@example.com,王,agent,Site A;App B\nzhao,zhao@example.com,赵,verifier,\n"


def test_bulk_create_from_csv_is_all_or_nothing(shop):
    with pytest.raises(DomainError) as exc, translation.override("en"):
        chat_staff.bulk_create_agents(shop.admin_m, CSV_OK + "boss,boss@example.com,Boss,founder,\nbad,not-mail,,agent,Nowhere\n")
    assert exc.value.code == "invalid_csv" and "line 4" in str(exc.value.message) and "line 5" in str(exc.value.message)
    assert not Membership.objects.filter(user__username__in=["wang", "zhao", "boss"]).exists()

    created = chat_staff.bulk_create_agents(shop.admin_m, "\ufeff" + CSV_OK)
    assert [(m.user.username, m.role) for m, _ in created] == [("wang", Role.AGENT), ("zhao", Role.VERIFIER)]
    wang = created[0][0].user
    assert wang.has_perm("chat.reply_in_inbox", shop.inbox_a) and wang.has_perm("chat.reply_in_inbox", shop.inbox_b)
    assert not wang.has_usable_password()
    # the link lets the new member choose a password, once
    secret = created[0][1]
    client = Client()
    assert client.post(f"/accounts/invite/{secret}/", {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}).status_code == 302
    wang.refresh_from_db()
    assert wang.check_password(NEW_PASSWORD)
    assert Client().post(f"/accounts/invite/{secret}/", {"password1": "x" * 12, "password2": "x" * 12}).status_code == 410


def test_csv_import_page_in_the_admin(shop):
    from django.core.files.uploadedfile import SimpleUploadedFile

    admin = verified_client(shop.admin_user)
    assert admin.get("/admin/accounts/membership/import/").status_code == 200
    upload = SimpleUploadedFile("agents.csv", CSV_OK.encode(), content_type="text/csv")
    r = admin.post("/admin/accounts/membership/import/", {"workspace": shop.workspace.pk, "file": upload})
    assert r.status_code == 200 and len(r.context["created"]) == 2
    assert "/accounts/invite/" in r.content.decode()
    assert verified_client(shop.agent_a_user).get("/admin/accounts/membership/import/").status_code == 302
