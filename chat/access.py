"""Who may see and act on which conversation: the one place that decides.

Customers see only their own conversations. Agents see, in the inboxes they
serve (guardian `chat.reply_in_inbox`), the unassigned ones and their own;
with "view all history" (founder, senior admin, admin, or granted) every
conversation of the workspace; and every conversation of the groups they
supervise (`routing.supervise_group`). Replying needs the inbox permission.
Each rule is one SQL filter: lists cost one query whatever their length."""

from dataclasses import dataclass

from django.db.models import Q

from .errors import forbidden, not_found
from .models import Conversation, InboxUserPermission, SenderKind


@dataclass(frozen=True)
class Actor:
    kind: str
    workspace_id: int
    user_id: int | None = None
    customer_id: int | None = None
    inbox_id: int | None = None  # the inbox a customer's token was issued for
    name: str = ""
    view_all_history: bool = False

    @property
    def key(self):
        if self.kind == SenderKind.CUSTOMER:
            return f"c:{self.customer_id}"
        if self.kind == SenderKind.AGENT:
            return f"u:{self.user_id}"
        return self.kind

    @property
    def is_customer(self):
        return self.kind == SenderKind.CUSTOMER

    @property
    def is_agent(self):
        return self.kind == SenderKind.AGENT


def customer_actor(customer, inbox_id):
    return Actor(SenderKind.CUSTOMER, customer.workspace_id, customer_id=customer.pk, inbox_id=inbox_id, name=customer.name)


def agent_actor(membership):
    """The agent actor of a membership; verifiers (no chat capability) get none."""
    from accounts import roles
    from accounts.models import WorkspaceUserPermission

    if not roles.can(membership, roles.SERVE_CHATS):
        raise forbidden()
    user = membership.user
    name = membership.display_name or user.get_full_name() or user.get_username()
    view_all = roles.can(membership, roles.VIEW_ALL_HISTORY) or WorkspaceUserPermission.objects.filter(
        user_id=user.pk, content_object_id=membership.workspace_id, permission__codename="view_all_history"
    ).exists()
    return Actor(SenderKind.AGENT, membership.workspace_id, user_id=user.pk, name=name, view_all_history=view_all)


def served_inboxes(actor):
    """Ids of the inboxes the agent serves, as a subquery."""
    return InboxUserPermission.objects.filter(
        user_id=actor.user_id, permission__codename="reply_in_inbox", content_object__workspace_id=actor.workspace_id
    ).values("content_object_id")


def agent_inbox_ids(actor):
    return sorted(row["content_object_id"] for row in served_inboxes(actor))


def visible_conversations(actor):
    """One query, whatever the number of rows: list views filter with this."""
    from routing.models import AgentGroupUserPermission

    qs = Conversation.objects.filter(workspace_id=actor.workspace_id)
    if actor.is_customer:
        return qs.filter(customer_id=actor.customer_id)
    if not actor.is_agent:
        return qs.none()
    if actor.view_all_history:
        return qs
    supervised = AgentGroupUserPermission.objects.filter(
        user_id=actor.user_id, permission__codename="supervise_group", content_object__workspace_id=actor.workspace_id
    ).values("content_object_id")
    served = Q(inbox_id__in=served_inboxes(actor)) & (Q(assignee_id=actor.user_id) | Q(assignee__isnull=True))
    return qs.filter(served | Q(group_id__in=supervised))


def require_reply_right(actor, conversation):
    """Agents reply only in inboxes they serve (seeing history is not enough)."""
    if actor.is_agent and not served_inboxes(actor).filter(content_object_id=conversation.inbox_id).exists():
        raise forbidden()


def may_see_live(actor, assignee_id):
    """Fan-out filter for inbox-wide events: the same rule as visible_conversations, without a query."""
    return actor.view_all_history or assignee_id in (None, actor.user_id)


def get_conversation(actor, conversation_id, *, lock=False):
    """The conversation if the actor may see it; 404 otherwise (never 403: no existence leak)."""
    try:
        conversation_id = int(conversation_id)
    except (TypeError, ValueError):
        raise not_found() from None
    qs = visible_conversations(actor).filter(pk=conversation_id)
    if lock:
        # OF self: lock the conversation row only, not the joined membership rows.
        qs = qs.select_for_update(of=("self",))
    conversation = qs.first()
    if conversation is None:
        raise not_found()
    return conversation
