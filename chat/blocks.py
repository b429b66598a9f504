"""黑名单: customers whose messages a workspace refuses, for a day, a week, a month or until lifted.

An agent blocks a customer they can see a conversation of (the rule tags use), with a reason; a
block may also cover the address the customer last opened a chat from, so that clearing cookies
does not help: every visitor opening a chat from that address gets a block of their own, derived
from it. A blocked customer may still read their history; each message is refused with a polite
line and nothing is stored or routed (chat.messages checks the general path; chat.fast_send's
statement will not store for a blocked customer). Lifting is for supervisors (view-all roles or a
group's supervisor). Every block and lift is audited and shown in the customer's open conversations."""

import re
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.actions import audit
from helpdesk.errors import DomainError, forbidden, invalid
from helpdesk.validation import int_or_none, is_int

from . import access
from .models import Conversation, ConversationEvent, Customer, CustomerBlock
from .notify import notify_conversation

DURATION_DAYS = (1, 7, 30, 0)  # 0: until lifted
REASON_RE = re.compile(r"^[^\x00-\x1f<>]{1,200}$")


def refused():
    return DomainError("blocked", _("Sorry, you cannot send messages in this chat at the moment."), status=403)


def not_found():
    return DomainError("not_found", _("Customer not found."), status=404)


def in_force(now=None):
    """Blocks that refuse messages now."""
    now = now or timezone.now()
    return Q(lifted_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


def is_blocked(customer_id):
    return CustomerBlock.objects.filter(in_force(), customer_id=customer_id).exists()


def block_for(customer_id):
    """The block in force for a customer, or None (the console's customer panel)."""
    return CustomerBlock.objects.filter(in_force(), customer_id=customer_id).select_related("created_by").first()


def may_lift(actor):
    return actor.is_agent and (actor.view_all_history or access.supervised_group_ids(actor).exists())


def block_customer(actor, customer_id, *, reason, days, with_address=False):
    """Block a customer of a conversation the agent can see. Returns the block."""
    if not actor.is_agent:
        raise forbidden()
    reason = reason.strip() if isinstance(reason, str) else ""
    if not REASON_RE.match(reason):
        raise invalid("invalid_reason", _("Give a reason of 1 to 200 characters, without < or >."))
    days = int_or_none(days)
    if days not in DURATION_DAYS:
        raise invalid("invalid_duration", _("Choose how long the block lasts: 1, 7 or 30 days, or until lifted."))
    if not isinstance(with_address, bool):
        raise invalid("invalid_with_address", _("with_address must be true or false."))
    if not is_int(customer_id) or not access.visible_conversations(actor).filter(customer_id=customer_id).exists():
        raise not_found()
    now = timezone.now()
    try:
        with transaction.atomic():
            customer = Customer.objects.select_for_update().get(pk=customer_id)
            _close_expired(customer.pk, now)
            if CustomerBlock.objects.filter(customer=customer, lifted_at__isnull=True).exists():
                raise DomainError("already_blocked", _("This customer is already blocked."), status=409)
            block = CustomerBlock.objects.create(
                workspace_id=customer.workspace_id, customer=customer, ip=customer.last_ip if with_address else "", reason=reason,
                created_by_id=actor.user_id, expires_at=now + timedelta(days=days) if days else None,
            )
            _tell_open_conversations(customer, actor, ConversationEvent.Kind.BLOCKED, {"reason": reason, "until": _iso(block.expires_at)})
            audit(actor, "customer.block", target=block, after={"customer": customer.pk, "reason": reason, "days": days,
                                                                "with_address": bool(block.ip)})
    except IntegrityError:  # another agent's block of the same customer won the race
        raise DomainError("already_blocked", _("This customer is already blocked.")) from None
    return block


def lift(actor, block_id):
    """Lift a block (and the blocks it gave visitors from its address). Returns the block."""
    if not may_lift(actor):
        audit(actor, "customer.unblock", after={"refused": "not a supervisor", "block": str(block_id)[:20]}, denied=True)
        raise forbidden()
    block = CustomerBlock.objects.filter(pk=int_or_none(block_id), workspace_id=actor.workspace_id, source__isnull=True,
                                         lifted_at__isnull=True).select_related("customer").first()
    if block is None:
        raise DomainError("not_found", _("This block was not found or is already lifted."), status=404)
    now = timezone.now()
    with transaction.atomic():
        lifted = CustomerBlock.objects.filter(Q(pk=block.pk) | Q(source=block), lifted_at__isnull=True).update(lifted_at=now, lifted_by_id=actor.user_id)
        if not lifted:
            raise DomainError("not_found", _("This block was not found or is already lifted."), status=404)
        block.lifted_at, block.lifted_by_id = now, actor.user_id
        _tell_open_conversations(block.customer, actor, ConversationEvent.Kind.UNBLOCKED, {})
        audit(actor, "customer.unblock", target=block, after={"customer": block.customer_id})
    return block


def cover_by_address(customer, ip_key):
    """At session open: remember the address, and if a block in force covers it, block this visitor
    too (same reason and end). No address (a channel's server called): nothing. Caller holds a transaction."""
    if not ip_key:
        return
    if customer.last_ip != ip_key:
        Customer.objects.filter(pk=customer.pk).update(last_ip=ip_key)
        customer.last_ip = ip_key
    source = (CustomerBlock.objects.filter(in_force(), workspace_id=customer.workspace_id, ip=ip_key, source__isnull=True)
              .exclude(customer=customer).order_by("-pk").first())
    if source is None or is_blocked(customer.pk):
        return
    _close_expired(customer.pk, timezone.now())
    try:
        with transaction.atomic():  # a savepoint: a concurrent session of the same visitor may have made it
            CustomerBlock.objects.create(workspace_id=customer.workspace_id, customer=customer, source=source, reason=source.reason,
                                         expires_at=source.expires_at)
    except IntegrityError:
        pass


def listed(actor):
    """The workspace's blocks in force that an agent set (not the ones derived from an address), newest first."""
    if not actor.is_agent:
        return CustomerBlock.objects.none()
    return (CustomerBlock.objects.filter(in_force(), workspace_id=actor.workspace_id, source__isnull=True)
            .select_related("customer", "created_by").order_by("-created_at"))


def _close_expired(customer_id, now):
    """An expired block is closed (lifted at its end) before a new one: one open block per customer."""
    CustomerBlock.objects.filter(customer_id=customer_id, lifted_at__isnull=True, expires_at__lte=now).update(lifted_at=now)


def _tell_open_conversations(customer, actor, kind, data):
    for conversation in Conversation.objects.filter(customer=customer, state__in=Conversation.OPEN_STATES):
        ConversationEvent.record(conversation, kind, actor, data=data)
        notify_conversation(conversation)


def _iso(value):
    return value.isoformat() if value else None
