"""Tags agents put on customers (routing rules match on them); each change is an event in the
customer's open conversations."""

import re

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from helpdesk.errors import DomainError, forbidden, invalid
from helpdesk.validation import is_int

from . import access
from .models import Conversation, ConversationEvent, Customer, Tag
from .notify import notify_conversation

TAG_RE = re.compile(r"^[^\x00-\x1f<>]{1,40}$")


def _customer_for_tagging(actor, customer_id):
    """Agents tag customers they can see a conversation of (the one access rule, no new one)."""
    if not actor.is_agent:
        raise forbidden()
    if not is_int(customer_id) or not access.visible_conversations(actor).filter(customer_id=customer_id).exists():
        raise DomainError("not_found", _("Customer not found."), status=404)
    return Customer.objects.get(pk=customer_id)


def add_customer_tag(actor, customer_id, name):
    name = (name or "").strip() if isinstance(name, str) else ""
    if not TAG_RE.match(name):
        raise invalid("invalid_tag", _("A tag is 1 to 40 characters, without < or >."))
    customer = _customer_for_tagging(actor, customer_id)
    with transaction.atomic():
        Customer.objects.select_for_update().filter(pk=customer.pk).first()  # two agents tagging at once: one records it
        tag, _created = Tag.objects.get_or_create(workspace_id=customer.workspace_id, name=name)
        if not customer.tags.filter(pk=tag.pk).exists():
            customer.tags.add(tag)
            record_tag_change(customer, actor, added=name)
    return customer


def remove_customer_tag(actor, customer_id, name):
    customer = _customer_for_tagging(actor, customer_id)
    with transaction.atomic():
        tag = customer.tags.filter(name=name).first() if isinstance(name, str) else None
        if tag is not None:
            customer.tags.remove(tag)
            record_tag_change(customer, actor, removed=name)
    return customer


def record_tag_change(customer, actor, **change):
    """The customer's open conversations carry the change in their timelines and refresh live."""
    for conversation in Conversation.objects.filter(customer=customer, state__in=Conversation.OPEN_STATES):
        ConversationEvent.record(conversation, ConversationEvent.Kind.TAGGED, actor, data=change)
        notify_conversation(conversation)
