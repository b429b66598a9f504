"""Who may see and act on which conversation: the one place that decides.

Customers see only their own conversations in their token's workspace; agents
see conversations of the inboxes they serve. Finer roles (history scope,
supervision) extend these helpers, never the call sites."""

from dataclasses import dataclass

from .errors import not_found
from .models import Conversation, InboxMember, SenderKind


@dataclass(frozen=True)
class Actor:
    kind: str
    workspace_id: int
    user_id: int | None = None
    customer_id: int | None = None
    inbox_id: int | None = None  # the inbox a customer's token was issued for
    name: str = ""

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
    user = membership.user
    name = membership.display_name or user.get_full_name() or user.get_username()
    return Actor(SenderKind.AGENT, membership.workspace_id, user_id=user.pk, name=name)


def agent_inbox_ids(actor):
    return list(
        InboxMember.objects.filter(user_id=actor.user_id, inbox__workspace_id=actor.workspace_id).values_list("inbox_id", flat=True)
    )


def visible_conversations(actor):
    """One query, whatever the number of rows: list views filter with this."""
    qs = Conversation.objects.filter(workspace_id=actor.workspace_id)
    if actor.is_customer:
        return qs.filter(customer_id=actor.customer_id)
    if actor.is_agent:
        return qs.filter(inbox__members__user_id=actor.user_id)
    return qs.none()


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
