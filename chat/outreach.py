"""主动联系 (proactive outreach): an agent starts a conversation with a known customer.

The conversation opens assigned to the agent, in an inbox the customer can be reached through
(chat.customers.reachable_inboxes) and the agent serves; the agent's text is its first message.
In a widget / H5 / app inbox the customer sees it when they come back (their socket's `hello`
lists their conversations); in a WeChat inbox the channel's reply rules apply when the message is
stored (connectors.rules via the lifecycle: outside the 48-hour window the whole start is refused
and rolled back). Everything is checked first; a refusal stores nothing."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.actions import audit
from helpdesk.errors import DomainError, forbidden, invalid
from helpdesk.validation import int_or_none

from . import access, customers, hooks
from . import messages as chat_messages
from .models import Conversation, ConversationEvent, Customer, Participant
from .notify import notify_conversation

MAX_BODY_CHARS = 2000


def no_channel():
    return DomainError("no_channel", _("This customer cannot be reached: they have no chat window, app or WeChat inbox to "
                                       "receive a message. Nothing was sent."), status=409)


def not_serving():
    return DomainError("not_serving", _("You do not serve any inbox this customer can be reached through. Nothing was sent."),
                       status=403)


def open_conversation(conversation_id):
    return DomainError("open_conversation", _("This customer already has an open conversation in this inbox (#%(id)s): "
                                              "reply there.") % {"id": conversation_id}, status=409)


def inboxes_for(actor, customer):
    """(the inboxes this agent may start a conversation with the customer in, whether any exists at all)."""
    reachable = customers.reachable_inboxes(customer)
    served = set(access.agent_inbox_ids(actor)) if reachable else set()
    return [inbox for inbox in reachable if inbox.pk in served], bool(reachable)


def start(actor, customer_id, *, body, client_msg_id, inbox_id=None):
    """Open an assigned conversation with the agent's first message. Returns (conversation, message).
    Caller may hold a transaction (lifecycle.outreach does, to count the agent's load with it)."""
    if not actor.is_agent:
        raise forbidden()
    if not isinstance(body, str) or not body.strip():
        raise invalid("empty_message", _("Write the first message."))
    if len(body) > MAX_BODY_CHARS:
        raise invalid("message_too_long", _("A message is at most %(n)s characters.") % {"n": MAX_BODY_CHARS})
    customer = customers.get_customer(actor, customer_id)
    usable, any_channel = inboxes_for(actor, customer)
    if not any_channel:
        raise no_channel()
    if not usable:
        raise not_serving()
    if inbox_id in (None, ""):
        inbox = usable[0]
    else:
        inbox = next((i for i in usable if i.pk == int_or_none(inbox_id)), None)
        if inbox is None:
            raise invalid("invalid_inbox", _("Choose one of the inboxes this customer can be reached through."))
    with transaction.atomic():
        Customer.objects.select_for_update().filter(pk=customer.pk).first()  # one open conversation per customer and inbox
        earlier = chat_messages.sent_before(actor, client_msg_id) if isinstance(client_msg_id, str) else None
        if earlier is not None:  # a retry of a start whose answer was lost
            return earlier.conversation, earlier
        current = Conversation.objects.filter(customer=customer, inbox=inbox, state__in=Conversation.OPEN_STATES).order_by("-pk").first()
        if current is not None:
            raise open_conversation(current.pk)
        now = timezone.now()
        conversation = Conversation.objects.create(
            workspace_id=customer.workspace_id, inbox=inbox, customer=customer, state=Conversation.State.ASSIGNED,
            assignee_id=actor.user_id, assigned_at=now, vip_level=customers.queue_level(customer.pk),
        )
        Participant.add(conversation.pk, actor.user_id)
        ConversationEvent.record(conversation, ConversationEvent.Kind.CREATED, actor, to_state=conversation.state,
                                 data={"outreach": True})
        ConversationEvent.record(conversation, ConversationEvent.Kind.ASSIGNED, actor, to_state=conversation.state,
                                 data={"agent": actor.user_id, "group": None, "reason": "outreach"})
        notify_conversation(conversation, "conversation.created")
        # Started (timers, the channel's session state); not "assigned": nobody is pushed about their own
        # chat, and the customer's first line is the agent's own greeting, not a "now serving you" line.
        hooks.listener().conversation_started(conversation)
        # The general send path: screening, the channel's reply rules (a refusal rolls all of this back).
        message, _created = chat_messages.send_message(actor, client_msg_id=client_msg_id, body=body, conversation_id=conversation.pk)
        audit(actor, "customer.outreach", target=conversation, after={"customer": customer.pk, "inbox": inbox.pk})
    return conversation, message
