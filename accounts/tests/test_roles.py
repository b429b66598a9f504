"""Role rules: who may add, remove or move whom; the last founder; custom roles; audit."""

import pytest
from django.contrib.auth import get_user_model

from accounts import actions
from accounts.models import AuditLog, Membership, Role
from conftest import make_agent, make_workspace
from helpdesk.errors import DomainError

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def staff(db):
    ws = make_workspace("Shop")
    members = {}
    for role in (Role.FOUNDER, Role.SENIOR_ADMIN, Role.ADMIN, Role.AGENT, Role.VERIFIER):
        user, _ = make_agent(ws, role=role, username=f"{role}-user")
        members[role] = Membership.objects.get(user=user)
    return ws, members


def new_user(name):
    return get_user_model().objects.create_user(username=name, password="x-pass-12345")


def refused(fn, *args, code="forbidden"):
    with pytest.raises(DomainError) as exc:
        fn(*args)
    assert exc.value.code == code, exc.value.code
    return exc.value


@pytest.mark.parametrize(
    "actor_role,allowed",
    [
        (Role.FOUNDER, {Role.FOUNDER, Role.SENIOR_ADMIN, Role.ADMIN, Role.AGENT, Role.VERIFIER}),
        (Role.SENIOR_ADMIN, {Role.ADMIN, Role.AGENT, Role.VERIFIER}),
        (Role.ADMIN, {Role.AGENT, Role.VERIFIER}),
        (Role.AGENT, set()),
        (Role.VERIFIER, set()),
    ],
)
def test_who_may_add_which_role(staff, actor_role, allowed):
    _, members = staff
    actor = members[actor_role]
    for role in Role.values:
        user = new_user(f"new-{actor_role}-{role}")
        if role in allowed:
            assert actions.add_member(actor, user=user, role=role).role == role
        else:
            refused(lambda: actions.add_member(actor, user=user, role=role))
            assert not Membership.objects.filter(user=user).exists()
    denied = AuditLog.objects.filter(actor=actor.user, action="member.add", denied=True).count()
    assert denied == len(Role.values) - len(allowed)


def test_admin_cannot_remove_or_promote_admins_or_escalate_itself(staff):
    _, m = staff
    admin = m[Role.ADMIN]
    refused(actions.remove_member, admin, m[Role.SENIOR_ADMIN].pk)
    refused(actions.change_role, admin, m[Role.AGENT].pk, Role.ADMIN)
    refused(actions.change_role, admin, admin.pk, Role.SENIOR_ADMIN)
    refused(actions.change_role, admin, m[Role.FOUNDER].pk, Role.AGENT)
    assert actions.change_role(admin, m[Role.AGENT].pk, Role.VERIFIER).role == Role.VERIFIER
    admin.refresh_from_db()
    assert admin.role == Role.ADMIN
    assert AuditLog.objects.filter(actor=admin.user, denied=True).count() == 4


def test_senior_admin_manages_admins_but_not_founders_or_peers(staff):
    _, m = staff
    senior = m[Role.SENIOR_ADMIN]
    assert actions.change_role(senior, m[Role.ADMIN].pk, Role.AGENT).role == Role.AGENT
    refused(actions.remove_member, senior, m[Role.FOUNDER].pk)
    refused(actions.change_role, senior, senior.pk, Role.FOUNDER)


def test_last_founder_cannot_be_removed_or_demoted(staff):
    ws, m = staff
    founder = m[Role.FOUNDER]
    refused(actions.change_role, founder, founder.pk, Role.AGENT, code="last_founder")
    refused(actions.remove_member, founder, founder.pk, code="last_founder")
    assert Membership.objects.get(pk=founder.pk).role == Role.FOUNDER
    assert AuditLog.objects.filter(action="member.change_role", denied=True, after__refused="last_founder").count() == 1
    second = actions.add_member(founder, user=new_user("cofounder"), role=Role.FOUNDER)
    actions.change_role(second, founder.pk, Role.AGENT)  # now allowed: another founder remains
    assert Membership.objects.filter(workspace=ws, role=Role.FOUNDER).count() == 1
    refused(actions.remove_member, second, second.pk, code="last_founder")


def test_other_workspace_ids_are_not_found_and_audited(staff):
    _, m = staff
    other_ws = make_workspace("Rival")
    other_user, _ = make_agent(other_ws, role=Role.AGENT, username="rival-agent")
    other_membership = Membership.objects.get(user=other_user)
    founder = m[Role.FOUNDER]
    refused(actions.remove_member, founder, other_membership.pk, code="not_found")
    refused(actions.change_role, founder, other_membership.pk, Role.ADMIN, code="not_found")
    refused(actions.change_role, founder, "1 OR 1=1", Role.ADMIN, code="not_found")
    assert Membership.objects.get(pk=other_membership.pk).role == Role.AGENT
    entries = AuditLog.objects.filter(actor=founder.user, denied=True)
    assert entries.count() == 3 and all(e.workspace_id == founder.workspace_id for e in entries)


def test_custom_roles_add_capabilities_but_never_member_management(staff):
    _, m = staff
    founder, agent = m[Role.FOUNDER], m[Role.AGENT]
    refused(lambda: actions.define_custom_role(founder, "Team lead", ["manage_members"]), code="invalid_capability")
    lead = actions.define_custom_role(founder, "Team lead", ["view_all_history", "configure"])
    actions.set_custom_role(founder, agent.pk, lead.pk)
    agent.refresh_from_db()
    from accounts import roles

    assert roles.can(agent, roles.VIEW_ALL_HISTORY) and roles.can(agent, roles.CONFIGURE)
    assert not roles.can(agent, roles.MANAGE_MEMBERS)
    refused(actions.define_custom_role, m[Role.ADMIN], "Sneaky", ["configure"])  # admins cannot define roles
    assert AuditLog.objects.filter(action="custom_role.define", denied=False).count() == 1


def test_senior_admin_cannot_touch_a_founders_custom_role(staff):
    _, m = staff
    role = actions.define_custom_role(m[Role.FOUNDER], "Reviewer", ["view_all_history"])
    refused(actions.set_custom_role, m[Role.SENIOR_ADMIN], m[Role.FOUNDER].pk, role.pk)
    assert actions.set_custom_role(m[Role.SENIOR_ADMIN], m[Role.AGENT].pk, role.pk).custom_role_id == role.pk
