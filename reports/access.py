"""Whose history a member may read (会话记录): the one rule, one SQL filter.

- view all history (founder, senior admin, admin, a custom role or the granted permission
  `accounts.view_all_history`): every conversation of the workspace;
- otherwise their own history: the conversations they took part in (chat.Participant: assigned to
  them now or before, or answered by them, so a transferred chat stays in both agents' history),
  plus every conversation of the agent groups they supervise (`routing.supervise_group`);
- no chat capability (verifiers): refused before this (chat.access.agent_actor).

Unlike the console lists (chat.access.visible_conversations) the unassigned queue of an inbox the
agent serves is not their history."""

from django.db.models import Q

from chat.models import Conversation, Participant
from routing.models import AgentGroupUserPermission

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
