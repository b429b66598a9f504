"""Who may see and act on which conversation: the one place that decides.

Customers see only their own conversations. Agents see, in the inboxes they
serve (guardian `chat.reply_in_inbox`), the unassigned ones and those they took part in
(assigned to them now or before, or answered by them: Participant rows);
with "view all history" (founder, senior admin, admin, or granted) every
conversation of the workspace; and every conversation of the groups they
supervise (`routing.supervise_group`). Replying needs the inbox permission.
Each rule is one SQL filter: lists cost one query whatever their length."""

from dataclasses import dataclass

from django.contrib.auth.models import Permission
from django.db.models import Q

from accounts import roles
from accounts.access import acting_membership, membership_of_user
from accounts.models import WorkspaceUserPermission
from helpdesk.errors import forbidden, not_found

from .models import Conversation, InboxUserPermission, Participant, SenderKind


def _group_permissions():
    """Guardian's rows on agent groups. The group a conversation waits in is routing's model; the
    engine reaches it through Conversation.group alone, so supervision needs no import of routing."""
    return Conversation._meta.get_field("group").related_model.user_permissions.rel.related_model.objects


@dataclass(frozen=True)
class Actor:
    kind: str
    workspace_id: int
    user_id: int | None = None
    customer_id: int | None = None
    inbox_id: int | None = None  # the inbox a customer's token was issued for
    name: str = ""
    view_all_history: bool = False
    customer_public_id: str = ""  # what the customer is called in what they are shown (never the pk)

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
    return Actor(SenderKind.CUSTOMER, customer.workspace_id, customer_id=customer.pk, inbox_id=inbox_id, name=customer.name,
                 customer_public_id=customer.public_id)


def agent_actor(membership):
    """The agent actor of a membership; verifiers (no chat capability) get none."""
    if not roles.can(membership, roles.SERVE_CHATS):
        raise forbidden()
    user = membership.user
    name = membership.shown_name
    view_all = roles.can(membership, roles.VIEW_ALL_HISTORY) or WorkspaceUserPermission.objects.filter(
        user_id=user.pk, content_object_id=membership.workspace_id, permission__codename="view_all_history"
    ).exists()
    return Actor(SenderKind.AGENT, membership.workspace_id, user_id=user.pk, name=name, view_all_history=view_all)


SERVE_INBOX = "reply_in_inbox"  # the guardian codename of serving an inbox


def served_inboxes(actor):
    """Ids of the inboxes the agent serves, as a subquery."""
    return InboxUserPermission.objects.filter(
        user_id=actor.user_id, permission__codename=SERVE_INBOX, content_object__workspace_id=actor.workspace_id
    ).values("content_object_id")


def serves_inbox_sql(inbox_column):
    """served_inboxes as a SQL condition, for chat.fast_send's one statement: the user named by the
    %(user_id)s parameter serves the inbox in `inbox_column` (an inbox of the conversation's workspace)."""
    return (f'EXISTS (SELECT 1 FROM "{InboxUserPermission._meta.db_table}" p WHERE p."user_id" = %(user_id)s '
            f'AND p."content_object_id" = {inbox_column} AND p."permission_id" IN '
            f'(SELECT "id" FROM "{Permission._meta.db_table}" WHERE "codename" = \'{SERVE_INBOX}\'))')


def agent_inbox_ids(actor):
    return sorted(row["content_object_id"] for row in served_inboxes(actor))


def agent_actor_for(user, workspace_id=None):
    """The agent actor of a logged-in user in the workspace they chose (their first one by
    default); refused if they are not a member there or may not serve chats."""
    return agent_actor(membership_of_user(user, workspace_id))


def acting_agent(request, workspace_id=None):
    """The agent actor a request acts as (accounts.access.acting_membership's rule)."""
    return agent_actor(acting_membership(request, workspace_id))


def visible_conversations(actor):
    """One query, whatever the number of rows: list views filter with this."""
    qs = Conversation.objects.filter(workspace_id=actor.workspace_id)
    if actor.is_customer:
        return qs.filter(customer_id=actor.customer_id)
    if not actor.is_agent:
        return qs.none()
    if actor.view_all_history:
        return qs
    supervised = supervised_group_ids(actor)
    took_part = Participant.objects.filter(user_id=actor.user_id).values("conversation_id")
    served = Q(inbox_id__in=served_inboxes(actor)) & (Q(assignee_id=actor.user_id) | Q(assignee__isnull=True) | Q(pk__in=took_part))
    return qs.filter(served | Q(group_id__in=supervised))


def supervised_group_ids(actor):
    """The ids of the agent groups this member supervises here (a subquery)."""
    return _group_permissions().filter(
        user_id=actor.user_id, permission__codename="supervise_group", content_object__workspace_id=actor.workspace_id
    ).values("content_object_id")


def may_reply(actor, conversation):
    """Agents reply in inboxes they serve, in conversations that are theirs to answer: unassigned,
    assigned to them, or any they oversee (view all history, a group they supervise). Having
    taken part before (a chat they transferred) gives its history, not the word."""
    if not actor.is_agent:
        return actor.is_customer and conversation.customer_id == actor.customer_id
    if not served_inboxes(actor).filter(content_object_id=conversation.inbox_id).exists():
        return False
    if actor.view_all_history or conversation.assignee_id in (None, actor.user_id):
        return True
    return conversation.group_id is not None and _group_permissions().filter(
        user_id=actor.user_id, permission__codename="supervise_group", content_object_id=conversation.group_id).exists()


def require_reply_right(actor, conversation):
    if actor.is_agent and not may_reply(actor, conversation):
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
