"""Member management over REST, API tokens, and refused mass-assignment / IDOR attempts."""

import pytest
from django.test import Client

from accounts.models import ApiToken, AuditLog, Membership, Role
from conftest import make_agent, make_workspace, verified_client

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def shop(personas):
    personas.admin_user, _ = make_agent(personas.workspace, role=Role.ADMIN, username="shop_admin")
    return personas


def membership(user):
    return Membership.objects.get(user=user)


def test_token_acts_as_its_member_and_can_be_revoked(shop):
    owner = verified_client(shop.owner_user)
    created = owner.post("/api/v1/tokens", {"name": "CRM sync"}, content_type="application/json").json()
    assert created["key"].startswith("hd_")
    assert ApiToken.objects.get(pk=created["id"]).key_hash != created["key"]  # only a digest is stored
    api = Client(HTTP_AUTHORIZATION=f"Bearer {created['key']}")
    members = api.get("/api/v1/members").json()["members"]
    assert {m["username"] for m in members} == {"owner", "agent_a", "agent_b", "shop_admin"}
    assert api.post("/api/v1/tokens", {"name": "again"}, content_type="application/json").status_code == 403
    assert owner.delete(f"/api/v1/tokens/{created['id']}").status_code == 204
    assert api.get("/api/v1/members").status_code == 401
    assert Client(HTTP_AUTHORIZATION="Bearer hd_nope_nope").get("/api/v1/members").status_code == 401
    assert list(AuditLog.objects.filter(action__startswith="api_token").values_list("action", flat=True).order_by("id")) == [
        "api_token.create", "api_token.revoke"
    ]


def test_agent_token_is_scoped_to_the_agents_permissions(shop, sender):
    first, _ = sender(shop.visitor, "hello")
    agent = verified_client(shop.agent_b_user)
    key = agent.post("/api/v1/tokens", {"name": "bot"}, content_type="application/json").json()["key"]
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/v1/members").status_code == 403
    assert api.get(f"/api/v1/conversations/{first.conversation_id}/messages").status_code == 404  # agent_b does not serve inbox A
    assert api.get("/api/v1/conversations").json()["conversations"] == []


def test_mass_assignment_is_refused_and_audited(shop):
    admin = verified_client(shop.admin_user)
    target = membership(shop.agent_a_user)
    for payload in ({"role": "verifier", "workspace": shop.other_workspace.pk}, {"role": "agent", "user_id": shop.owner_user.pk}, {"id": 1}):
        r = admin.patch(f"/api/v1/members/{target.pk}", payload, content_type="application/json")
        assert r.status_code == 400 and r.json()["error"]["code"] == "unknown_fields"
    target.refresh_from_db()
    assert (target.role, target.workspace_id, target.user_id) == (Role.AGENT, shop.workspace.pk, shop.agent_a_user.pk)
    assert AuditLog.objects.filter(actor=shop.admin_user, denied=True, action="member.change_role").count() == 3


def test_escalation_and_idor_over_rest_are_refused_and_audited(shop):
    admin = verified_client(shop.admin_user)
    me = membership(shop.admin_user)
    assert admin.patch(f"/api/v1/members/{me.pk}", {"role": "senior_admin"}, content_type="application/json").status_code == 403
    founder = membership(shop.owner_user)
    assert admin.delete(f"/api/v1/members/{founder.pk}").status_code == 403
    rival = membership(shop.other_agent_user)
    assert admin.patch(f"/api/v1/members/{rival.pk}", {"role": "verifier"}, content_type="application/json").status_code == 404
    assert admin.delete(f"/api/v1/members/{rival.pk}").status_code == 404
    assert admin.put(f"/api/v1/inboxes/{shop.other_inbox.pk}/members/{membership(shop.agent_a_user).pk}", {"granted": True},
                     content_type="application/json").status_code == 404
    assert Membership.objects.get(pk=rival.pk).role == Role.AGENT
    assert Membership.objects.get(pk=me.pk).role == Role.ADMIN
    assert AuditLog.objects.filter(actor=shop.admin_user, denied=True).count() == 5
    assert not AuditLog.objects.filter(workspace=shop.other_workspace).exists()  # nothing leaks into the rival's log


def test_admin_grants_and_revokes_inbox_access(shop):
    admin = verified_client(shop.admin_user)
    target = membership(shop.agent_b_user)
    url = f"/api/v1/inboxes/{shop.inbox_a.pk}/members/{target.pk}"
    assert admin.put(url, {"granted": True}, content_type="application/json").json() == {"granted": True}
    assert shop.agent_b_user.has_perm("chat.reply_in_inbox", shop.inbox_a)
    assert admin.put(url, {"granted": False}, content_type="application/json").status_code == 200
    from django.contrib.auth import get_user_model

    assert not get_user_model().objects.get(pk=shop.agent_b_user.pk).has_perm("chat.reply_in_inbox", shop.inbox_a)
    entries = AuditLog.objects.filter(action="inbox.access", denied=False).order_by("id")
    assert [(e.before["granted"], e.after["granted"]) for e in entries] == [(False, True), (True, False)]


def test_new_workspace_has_no_cross_talk(db):
    ws = make_workspace()
    user, _ = make_agent(ws, role=Role.FOUNDER, username="solo")
    client = verified_client(user)
    assert [m["username"] for m in client.get("/api/v1/members").json()["members"]] == ["solo"]


def test_every_issued_key_authenticates(shop):
    """Keys are random URL-safe text (which may contain "_"): each one must work."""
    from accounts import tokens

    member = membership(shop.agent_a_user)
    keys = [tokens.issue(member, f"k{n}")[1] for n in range(40)]
    assert all(tokens.authenticate_key(key).membership_id == member.pk for key in keys)
    assert tokens.authenticate_key(keys[0] + "x") is None
