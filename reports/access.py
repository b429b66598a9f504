"""Whose history a member may read (会话记录): the one rule, one SQL filter.

- view all history (founder, senior admin, admin, a custom role or the granted permission
  `accounts.view_all_history`): every conversation of the workspace;
- otherwise their own history: the conversations they took part in (chat.Participant: assigned to
  them now or before, or answered by them, so a transferred chat stays in both agents' history),
  plus every conversation of the agent groups they supervise (`routing.supervise_group`);
- no chat capability (verifiers): refused before this (chat.access.agent_actor).

Unlike the console lists (chat.access.visible_conversations) the unassigned queue of an inbox the
agent serves is not their history.

Reports (reports.metrics) follow the same rule on their aggregate rows: view-all roles read every
row of the workspace; anyone else the rows credited to them (agent_id) plus the rows of the groups
they supervise, and the online time of themselves and the stored members of those groups."""

from django.db.models import Q

from chat.models import Conversation, Participant
from routing.models import AgentGroup, AgentGroupUserPermission

ALL, OWN_AND_GROUPS = "all", "own"


def scope_of(actor):
    return ALL if actor.view_all_history else OWN_AND_GROUPS


def supervised_group_ids(actor):
    return AgentGroupUserPermission.objects.filter(
        user_id=actor.user_id, permission__codename="supervise_group", content_object__workspace_id=actor.workspace_id
    ).values("content_object_id")


def history_conversations(actor):
    """The conversations whose history the actor may read, as a queryset (no query yet)."""
    qs = Conversation.objects.filter(workspace_id=actor.workspace_id)
    if not actor.is_agent:
        return qs.none()
    if actor.view_all_history:
        return qs
    took_part = Participant.objects.filter(user_id=actor.user_id).values("conversation_id")
    return qs.filter(Q(pk__in=took_part) | Q(group_id__in=supervised_group_ids(actor)))


def report_rows_filter(actor):
    """A Q on reports.models.ReportRollup for the rows the actor may read (callers add the
    workspace); None: every row of the workspace."""
    if not actor.is_agent:
        return Q(pk__in=[])
    if actor.view_all_history:
        return None
    return Q(agent_id=actor.user_id) | Q(group_id__in=supervised_group_ids(actor))


def report_agents_filter(actor):
    """A Q on rows with a user_id (agent status changes) the actor may read; None: all."""
    if not actor.is_agent:
        return Q(pk__in=[])
    if actor.view_all_history:
        return None
    members = AgentGroup.members.through.objects.filter(agentgroup_id__in=supervised_group_ids(actor)).values("user_id")
    return Q(user_id=actor.user_id) | Q(user_id__in=members)
