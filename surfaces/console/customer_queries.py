"""What the console shows of a customer beyond the panel's basics: notes, the VIP level (the
merchant's and the one an agent set) and the inboxes this agent may start a conversation in."""

import uuid

from accounts.models import Membership, shown_name
from chat import customers, outreach
from chat.models import Conversation


def customer_extras(actor, customer):
    notes = customers.notes_for(customer.pk)
    authors = {note.author_id for note in notes if note.author_id}
    displays = dict(Membership.objects.filter(workspace_id=actor.workspace_id, user_id__in=authors).values_list("user_id", "display_name"))
    for note in notes:
        note.author_name = shown_name(displays.get(note.author_id), note.author) if note.author_id else ""
        note.mine = note.author_id == actor.user_id
    contact_inboxes, reachable = outreach.inboxes_for(actor, customer)
    open_ids = set(Conversation.objects.filter(customer=customer, state__in=Conversation.OPEN_STATES).values_list("inbox_id", flat=True))
    return {
        "customer_notes": notes,
        "merchant_level": customers.merchant_level(customer.attributes),
        "effective_level": customer.vip_level if customer.vip_level is not None else customers.merchant_level(customer.attributes),
        "vip_levels": list(customers.VIP_LEVELS),
        "contact_inboxes": [inbox for inbox in contact_inboxes if inbox.pk not in open_ids],
        "contact_reachable": reachable,
        "contact_has_open": bool(open_ids),
        "contact_client_msg_id": f"outreach-{uuid.uuid4()}",  # a double submit stores one conversation
    }
