"""The routing structure cache (routing.actions.structure): who serves an inbox, the enabled
groups and their members are kept per process while the workspace's RoutingVersion is
unchanged. Each writer of that structure is exercised through its real path after a warm
snapshot; the next snapshot must show the change."""

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from guardian.shortcuts import assign_perm

from accounts import actions as account_actions
from accounts.models import CustomRole, Membership, Role, RoutingVersion
from accounts.tests.test_admin_relations import page_values
from chat import staff as chat_staff
from chat.models import InboxUserPermission
from conftest import make_agent, run_threads, verified_client
from routing import actions
from routing.models import AgentGroup

pytestmark = pytest.mark.django_db


def serving(p, inbox=None):
    groups, _agents = actions.snapshot(p.workspace.pk, (inbox or p.inbox_a).pk)
    return next(g.member_ids for g in groups if g.is_default)


def members_of(p, group, inbox=None):
    groups, _agents = actions.snapshot(p.workspace.pk, (inbox or p.inbox_a).pk)
    return next((g.member_ids for g in groups if g.id == group.pk), None)


def membership(user, p):
    return Membership.objects.get(workspace=p.workspace, user=user)


def owner(p):
    return membership(p.owner_user, p)  # accounts' actions act as a membership


def new_user(name):
    return get_user_model().objects.create_user(username=name, password="pw-for-tests-123")


@pytest.fixture
def p(personas):
    actions.snapshot(personas.workspace.pk, personas.inbox_a.pk)  # creates the default group (a change)
    actions.snapshot(personas.workspace.pk, personas.inbox_a.pk)  # warm
    return personas


@pytest.fixture
def group(p):
    g = AgentGroup.objects.create(workspace=p.workspace, name="VIP desk", priority=1, rules=[{"field": "vip_level", "values": ["1"]}])
    g.members.add(p.agent_a_user, p.owner_user)
    RoutingVersion.bump(p.workspace.pk)  # members.add() is not a writer path of the product
    return g


# --- the cache itself ---------------------------------------------------------------------------


def test_a_warm_snapshot_reads_the_version_and_the_presences_only(p, group):
    actions._STRUCTURES.clear()
    with CaptureQueriesContext(connection) as cold:
        first = actions.snapshot(p.workspace.pk, p.inbox_a.pk)
    # version, who serves, groups, group members, the version again (unchanged while loading), presences
    assert len(cold.captured_queries) == 6
    with CaptureQueriesContext(connection) as warm:
        second = actions.snapshot(p.workspace.pk, p.inbox_a.pk)
    assert len(warm.captured_queries) == 2  # version, presences
    assert first == second


def test_presences_are_read_fresh_on_every_decision(p):
    actions.set_status(p.agent_a, "online", capacity=3)
    _groups, agents = actions.snapshot(p.workspace.pk, p.inbox_a.pk)
    assert agents[p.agent_a_user.pk].status == "online"
    actions.set_status(p.agent_a, "away")
    _groups, agents = actions.snapshot(p.workspace.pk, p.inbox_a.pk)
    assert agents[p.agent_a_user.pk].status == "away"


def test_exclusion_leaves_the_cached_structure_intact(p, group):
    groups, _agents = actions.snapshot(p.workspace.pk, p.inbox_a.pk, exclude={p.agent_a_user.pk})
    assert all(p.agent_a_user.pk not in g.member_ids for g in groups)
    assert members_of(p, group) == {p.agent_a_user.pk, p.owner_user.pk}


def test_a_change_behind_the_cache_is_seen_once_the_version_moves(p):
    """What another process's writer does: rows change, then the version (one UPDATE, here raw SQL)."""
    newcomer = new_user("newcomer")
    Membership.objects.bulk_create([Membership(workspace=p.workspace, user=newcomer, role=Role.AGENT)])  # no save(): no bump
    InboxUserPermission.objects.bulk_create([InboxUserPermission(user=newcomer, permission=InboxUserPermission.objects.first().permission,
                                                                 content_object=p.inbox_a)])
    assert newcomer.pk not in serving(p)  # the cached copy: nothing told this process yet
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {RoutingVersion._meta.db_table} SET version = version + 1 WHERE workspace_id = %s", [p.workspace.pk])
    assert newcomer.pk in serving(p)


@pytest.mark.django_db(transaction=True)
def test_a_change_committed_on_another_connection_is_seen_at_the_next_decision(p):
    before = serving(p)
    assert p.agent_b_user.pk not in before

    def grant(_i):  # a thread has its own database connection, like another process
        chat_staff.set_inbox_access(owner(p), p.inbox_a.pk, membership(p.agent_b_user, p).pk, True)

    run_threads(1, grant)
    assert serving(p) == before | {p.agent_b_user.pk}


def test_a_workspace_without_a_version_is_not_cached(p):
    RoutingVersion.objects.filter(workspace_id=p.workspace.pk).delete()  # as before the first change since the upgrade
    actions._STRUCTURES.clear()
    actions.snapshot(p.workspace.pk, p.inbox_a.pk)
    assert (p.workspace.pk, p.inbox_a.pk) not in actions._STRUCTURES
    with CaptureQueriesContext(connection) as again:
        actions.snapshot(p.workspace.pk, p.inbox_a.pk)
    assert len(again.captured_queries) == 5


def test_drain_uses_the_cache(p):
    actions.set_status(p.agent_a, "online", capacity=3)
    actions.serving_user_ids(p.workspace.pk, p.inbox_a.pk)
    assert actions.serving_user_ids(p.workspace.pk, p.inbox_a.pk) is actions._STRUCTURES[(p.workspace.pk, p.inbox_a.pk)][1].serving


# --- accounts.actions: members, roles, custom roles, object permissions --------------------------


def test_add_member(p):
    user = new_user("joining")
    assign_perm("chat.reply_in_inbox", user, p.inbox_a)  # access first, membership later
    assert user.pk not in serving(p)
    account_actions.add_member(owner(p), user=user, role=Role.AGENT)
    assert user.pk in serving(p)


def test_change_role(p):
    assert p.agent_a_user.pk in serving(p)
    account_actions.change_role(owner(p), membership(p.agent_a_user, p).pk, Role.VERIFIER)  # verifiers do not serve chats
    assert p.agent_a_user.pk not in serving(p)


def test_remove_member(p, group):
    assert p.agent_a_user.pk in members_of(p, group)
    account_actions.remove_member(owner(p), membership(p.agent_a_user, p).pk)
    assert p.agent_a_user.pk not in serving(p) and p.agent_a_user.pk not in members_of(p, group)


def test_custom_role_given_then_redefined(p):
    user, _actor = make_agent(p.workspace, [p.inbox_a], role=Role.VERIFIER, username="verifier")
    assert user.pk not in serving(p)
    role = account_actions.define_custom_role(owner(p), "Weekend help", ["serve_chats"])
    account_actions.set_custom_role(owner(p), membership(user, p).pk, role.pk)
    assert user.pk in serving(p)
    account_actions.define_custom_role(owner(p), "Weekend help", [], role_id=role.pk)
    assert user.pk not in serving(p)
    account_actions.define_custom_role(owner(p), "Weekend help", ["serve_chats"], role_id=role.pk)
    assert user.pk in serving(p)
    account_actions.set_custom_role(owner(p), membership(user, p).pk, None)
    assert user.pk not in serving(p)


def test_inbox_access_granted_and_revoked(p):
    target = membership(p.agent_b_user, p).pk
    assert p.agent_b_user.pk not in serving(p)
    chat_staff.set_inbox_access(owner(p), p.inbox_a.pk, target, True)
    assert p.agent_b_user.pk in serving(p)
    chat_staff.set_inbox_access(owner(p), p.inbox_a.pk, target, False)
    assert p.agent_b_user.pk not in serving(p)


def test_agents_created_in_bulk(p):
    before = serving(p)
    created = chat_staff.bulk_create_agents(owner(p), "username,email,inboxes\nbulk1,bulk1@example.com,Site A\n")
    assert serving(p) == before | {created[0][0].user_id}


def test_invitation_accepted(p):
    invite, secret = account_actions.invite_member(owner(p), role=Role.AGENT, email="new@example.com")
    user = new_user("invited")
    assign_perm("chat.reply_in_inbox", user, p.inbox_a)
    assert user.pk not in serving(p)
    account_actions.accept_invite(secret, user=user)
    assert user.pk in serving(p)


# --- routing: groups --------------------------------------------------------------------------


def test_group_created_changed_disabled_and_deleted(p):
    assert [g.id for g in actions.snapshot(p.workspace.pk, p.inbox_a.pk)[0] if not g.is_default] == []
    g = AgentGroup.objects.create(workspace=p.workspace, name="Night", priority=5)
    assert members_of(p, g) == frozenset()
    g.priority = 7
    g.save()
    groups, _ = actions.snapshot(p.workspace.pk, p.inbox_a.pk)
    assert next(x for x in groups if x.id == g.pk).priority == 7
    g.enabled = False
    g.save()
    assert members_of(p, g) is None
    g.enabled = True
    g.save()
    assert members_of(p, g) == frozenset()
    g.delete()
    assert members_of(p, g) is None


def test_default_group_recreated_after_deletion(p):
    default = AgentGroup.objects.get(workspace=p.workspace, is_default=True)
    default.delete()
    groups, _ = actions.snapshot(p.workspace.pk, p.inbox_a.pk)
    recreated = next(g for g in groups if g.is_default)
    assert recreated.id != default.pk and AgentGroup.objects.filter(pk=recreated.id).exists()


# --- admin pages ----------------------------------------------------------------------------------


def test_group_members_edited_in_the_admin(p, group):
    client = verified_client(p.owner_user)
    url = f"/admin/routing/agentgroup/{group.pk}/change/"
    data = page_values(client.get(url).context, p.workspace)
    assert members_of(p, group) == {p.agent_a_user.pk, p.owner_user.pk}
    data["members"] = [str(p.agent_a_user.pk)]
    assert client.post(url, data).status_code == 302
    assert members_of(p, group) == {p.agent_a_user.pk}


def test_group_added_disabled_and_bulk_deleted_in_the_admin(p):
    client = verified_client(p.owner_user)
    data = page_values(client.get("/admin/routing/agentgroup/add/").context, p.workspace)
    data.update({"name": "Added", "priority": "3", "strategy": "least_loaded", "rules": "[]", "enabled": "on", "members": [str(p.agent_a_user.pk)]})
    assert client.post("/admin/routing/agentgroup/add/", data).status_code == 302
    added = AgentGroup.objects.get(workspace=p.workspace, name="Added")
    assert members_of(p, added) == {p.agent_a_user.pk}
    url = f"/admin/routing/agentgroup/{added.pk}/change/"
    data = page_values(client.get(url).context, p.workspace)
    data.pop("enabled")
    assert client.post(url, data).status_code == 302
    assert members_of(p, added) is None
    added.enabled = True
    added.save()
    assert members_of(p, added) == {p.agent_a_user.pk}
    response = client.post("/admin/routing/agentgroup/", {"action": "delete_selected", "_selected_action": [added.pk], "post": "yes"})
    assert response.status_code == 302 and not AgentGroup.objects.filter(pk=added.pk).exists()
    assert members_of(p, added) is None


def test_inbox_access_inline_in_the_admin(p):
    client = verified_client(p.owner_user)
    url = f"/admin/chat/inbox/{p.inbox_a.pk}/change/"
    data = page_values(client.get(url).context, p.workspace)
    prefix = next(k[: -len("-TOTAL_FORMS")] for k in data if k.endswith("-TOTAL_FORMS"))
    index = int(data[f"{prefix}-TOTAL_FORMS"])
    data.update({f"{prefix}-TOTAL_FORMS": str(index + 1), f"{prefix}-{index}-user": str(p.agent_b_user.pk)})
    assert p.agent_b_user.pk not in serving(p)
    assert client.post(url, data).status_code == 302
    assert p.agent_b_user.pk in serving(p)


def test_member_role_changed_in_the_admin(p):
    client = verified_client(p.owner_user)
    url = f"/admin/accounts/membership/{membership(p.agent_a_user, p).pk}/change/"
    data = page_values(client.get(url).context, p.workspace)
    data["role"] = Role.VERIFIER
    assert client.post(url, data).status_code == 302
    assert p.agent_a_user.pk not in serving(p)


def test_custom_role_bulk_deleted_in_the_admin(p):
    user, _actor = make_agent(p.workspace, [p.inbox_a], role=Role.VERIFIER, username="verifier")
    role = account_actions.define_custom_role(owner(p), "Helpers", ["serve_chats"])
    account_actions.set_custom_role(owner(p), membership(user, p).pk, role.pk)
    assert user.pk in serving(p)
    client = verified_client(p.owner_user)
    response = client.post("/admin/accounts/customrole/", {"action": "delete_selected", "_selected_action": [role.pk], "post": "yes"})
    assert response.status_code == 302 and not CustomRole.objects.filter(pk=role.pk).exists()
    assert user.pk not in serving(p)


@pytest.fixture
def superuser_client(db):
    return verified_client(get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-tests-123"))


def test_user_deleted_in_the_admin(p, superuser_client):
    assert p.agent_a_user.pk in serving(p)
    response = superuser_client.post(f"/admin/auth/user/{p.agent_a_user.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert p.agent_a_user.pk not in serving(p)


def test_user_deactivated_in_the_admin_moves_the_version(p, superuser_client):
    before = RoutingVersion.current(p.workspace.pk)
    url = f"/admin/auth/user/{p.agent_a_user.pk}/change/"
    data = page_values(superuser_client.get(url).context, p.workspace)
    data.pop("workspace", None)
    data.pop("is_active", None)
    assert superuser_client.post(url, data).status_code == 302
    assert RoutingVersion.current(p.workspace.pk) != before
    assert p.agent_a_user.pk not in serving(p)  # a deactivated user is handed no chats


def test_a_structure_read_in_a_rolled_back_transaction_that_created_the_default_group_is_not_kept(p):
    """route() loads the structure inside its transaction and may create the default group there; if
    that transaction rolls back (a lost race, re-decided), the group never existed: no copy may name it."""
    from django.db import transaction

    AgentGroup.objects.filter(workspace=p.workspace, is_default=True).delete()
    RoutingVersion.bump(p.workspace.pk)
    actions._STRUCTURES.clear()

    class RolledBack(Exception):
        pass

    with pytest.raises(RolledBack), transaction.atomic():
        vanished = {g.id for g in actions.structure(p.workspace.pk, p.inbox_a.pk).groups if g.is_default}
        assert vanished
        raise RolledBack

    assert not AgentGroup.objects.filter(pk__in=vanished).exists()
    defaults = [g.id for g in actions.structure(p.workspace.pk, p.inbox_a.pk).groups if g.is_default]
    assert defaults  # (SQLite may give the new group the rolled-back id again: compare with the table)
    assert set(defaults) == set(AgentGroup.objects.filter(workspace=p.workspace, is_default=True).values_list("pk", flat=True))
