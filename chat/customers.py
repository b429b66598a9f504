"""Customers as agents work with them: the customer list (search, scoped by the one access rule),
notes on the customer, the VIP level an agent sets, the inboxes a customer can be reached through,
and merging an anonymous visitor into the identified customer they log in as.

Who sees which customer: an agent sees the customers of the conversations they can see
(access.visible_conversations); view-all roles see every customer of the workspace. Each list is
one query. Every write is validated, authorised, audited (accounts.actions.audit)."""

import re

from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from accounts.actions import audit
from helpdesk.errors import DomainError, forbidden, invalid
from helpdesk.validation import id_param, int_or_none, is_int

from . import access, hooks
from .models import Conversation, ConversationEvent, Customer, CustomerBlock, CustomerNote, CustomerVisit, Inbox, ReadState
from .notify import notify_conversation

PAGE_SIZE = 30
MAX_QUERY_CHARS = 64
MAX_NOTE_CHARS = 1000
VIP_LEVELS = range(0, 10)
NOTE_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Inboxes where a customer who comes back sees a conversation an agent started (widget / H5 / app)
# and the WeChat kinds, where the channel's reply rules decide (connectors.rules).
WIDGET_KINDS = (Inbox.Kind.WEB, Inbox.Kind.APP)
WECHAT_KINDS = (Inbox.Kind.WECHAT_OA, Inbox.Kind.WECHAT_MP, Inbox.Kind.WECOM_KF)


def not_found():
    return DomainError("not_found", _("Customer not found."), status=404)


# --- who sees whom ---------------------------------------------------------------------------


def visible_customers(actor):
    """The customers an agent may see, as one filterable queryset (merged-away visitors left out)."""
    if not actor.is_agent:
        return Customer.objects.none()
    qs = Customer.objects.filter(workspace_id=actor.workspace_id, merged_into__isnull=True)
    if actor.view_all_history:
        return qs
    return qs.filter(pk__in=access.visible_conversations(actor).values("customer_id"))


def get_customer(actor, customer_id):
    """A customer the agent may see; 404 for anything else (another workspace's, unseen, not an id)."""
    if not actor.is_agent:
        raise forbidden()
    pk = customer_id if is_int(customer_id) else id_param(customer_id) if isinstance(customer_id, str) else None
    customer = visible_customers(actor).filter(pk=pk).first() if pk else None
    if customer is None:
        raise not_found()
    return customer


def search(actor, q="", before=""):
    """One page of the agent's customers, most recently active first, and the next page's cursor.
    `q` matches the name, phone, merchant user id (contains), the public id or a tag (exactly)."""
    qs = visible_customers(actor).annotate(active=Coalesce("last_seen_at", "created_at"))
    q = (q or "").strip()[:MAX_QUERY_CHARS] if isinstance(q, str) else ""
    if q:
        tagged = Customer.tags.through.objects.filter(customer_id=OuterRef("pk"), tag__name=q, tag__workspace_id=actor.workspace_id)
        qs = qs.filter(Q(name__icontains=q) | Q(external_id__icontains=q) | Q(attributes__phone__icontains=q) | Q(public_id=q)
                       | Exists(tagged))
    if before:
        stamp, _sep, pk = str(before).partition("|")
        when = parse_datetime(stamp)
        if when is None or id_param(pk) is None:
            raise invalid("invalid_cursor", _("Invalid page cursor."))
        qs = qs.filter(Q(active__lt=when) | Q(active=when, pk__lt=id_param(pk)))
    rows = list(qs.prefetch_related("tags").order_by(F("active").desc(), "-pk")[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    for row in rows:
        row.effective_level = row.vip_level if row.vip_level is not None else merchant_level(row.attributes)
    cursor = f"{rows[-1].active.isoformat()}|{rows[-1].pk}" if more else ""
    return rows, cursor


# --- VIP level ---------------------------------------------------------------------------------


def merchant_level(attributes):
    level = (attributes or {}).get("vip_level", 0)
    return min(max(level, 0), 9) if is_int(level) else 0


def queue_level(customer_id):
    """The queue priority of a new conversation: the level an agent set wins while it is set; else
    the merchant's signed identity attribute `vip_level` (0-9). One query."""
    row = Customer.objects.filter(pk=customer_id).values_list("vip_level", "attributes").first()
    if row is None:
        return 0
    agent_level, attributes = row
    return agent_level if agent_level is not None else merchant_level(attributes)


def set_level(actor, customer_id, level):
    """Set (0-9) or clear (None or "": the merchant's level applies again) the agent-set VIP level."""
    if level in (None, ""):
        level = None
    else:
        level = int_or_none(level)
        if level not in VIP_LEVELS:
            raise invalid("invalid_level", _("The VIP level is a whole number from 0 to 9."))
    customer = get_customer(actor, customer_id)
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        before = customer.vip_level
        if before == level:
            return customer
        customer.vip_level = level
        customer.save(update_fields=["vip_level"])
        audit(actor, "customer.level", target=customer, before={"vip_level": before}, after={"vip_level": level})
    return customer


# --- notes -------------------------------------------------------------------------------------


def add_note(actor, customer_id, text):
    text = NOTE_CONTROL_RE.sub("", text).strip() if isinstance(text, str) else ""
    if not text or len(text) > MAX_NOTE_CHARS:
        raise invalid("invalid_note", _("A note is 1 to %(n)s characters.") % {"n": MAX_NOTE_CHARS})
    customer = get_customer(actor, customer_id)
    with transaction.atomic():
        note = CustomerNote.objects.create(workspace_id=customer.workspace_id, customer=customer, author_id=actor.user_id, text=text)
        audit(actor, "customer.note.add", target=note, after={"customer": customer.pk})
    return note


def delete_note(actor, note_id):
    """Agents delete their own notes; anyone else's, another workspace's or an unseen customer's is a 404."""
    if not actor.is_agent:
        raise forbidden()
    note = CustomerNote.objects.filter(pk=int_or_none(note_id), workspace_id=actor.workspace_id,
                                       customer__in=visible_customers(actor)).first()
    if note is None:
        raise DomainError("not_found", _("Note not found."), status=404)
    if note.author_id != actor.user_id:
        audit(actor, "customer.note.delete", target=note, after={"refused": "not the author"}, denied=True)
        raise forbidden(_("You can delete only your own notes."))
    with transaction.atomic():
        audit(actor, "customer.note.delete", target=note, before={"customer": note.customer_id, "text": note.text})
        note.delete()
    return note


def notes_for(customer_id, limit=50):
    return list(CustomerNote.objects.filter(customer_id=customer_id).select_related("author").order_by("-created_at", "-pk")[:limit])


# --- reaching a customer -----------------------------------------------------------------------


def reachable_inboxes(customer):
    """The inboxes an agent can start a conversation with this customer in, best first: the widget
    / H5 / app inboxes they used (they see it when they come back), the WeChat inboxes they wrote to
    (the channel's rules still decide at send time). E-mail and API inboxes deliver nothing here."""
    used = (Q(pk=customer.first_inbox_id) | Q(pk__in=Conversation.objects.filter(customer=customer).values("inbox_id"))
            | Q(pk__in=CustomerVisit.objects.filter(customer=customer).values("inbox_id")))
    widget = Q(kind__in=WIDGET_KINDS) & used
    # ChannelUser lives in connectors (a layer above): reached through its reverse relation only.
    wechat = Q(kind__in=WECHAT_KINDS, channel_users__customer=customer)
    return list(Inbox.objects.filter(widget | wechat, workspace_id=customer.workspace_id).distinct().order_by("name", "pk"))


# --- merging a visitor who logs in --------------------------------------------------------------


def merge_visitor(visitor, customer):
    """Move an anonymous visitor's history to the identified customer they logged in as: their
    conversations (with every message and event), visits, tags, notes and blocks. Caller holds a
    transaction. Open conversations: one per customer and inbox stays open (the most recently
    active; the other is closed with a `merged` event naming the one that continues). The visitor's
    row stays, empty, with merged_into set: its token keeps opening a session, but as an anonymous
    visitor with nothing in it (the identified history needs the merchant's signature). Audited."""
    if visitor.pk == customer.pk or visitor.external_id or visitor.workspace_id != customer.workspace_id:
        return None
    list(Customer.objects.select_for_update().filter(pk__in=[visitor.pk, customer.pk]).order_by("pk"))  # both rows, in pk order
    moved = list(Conversation.objects.select_for_update().filter(customer=visitor).order_by("pk"))
    if not moved and not (visitor.tags.exists() or CustomerNote.objects.filter(customer=visitor).exists()
                          or CustomerVisit.objects.filter(customer=visitor).exists()):
        if visitor.merged_into_id != customer.pk:
            Customer.objects.filter(pk=visitor.pk).update(merged_into=customer)
        return []
    actor = access.customer_actor(customer, customer.first_inbox_id)
    open_kept = {c.inbox_id: c for c in Conversation.objects.select_for_update().filter(customer=customer, state__in=Conversation.OPEN_STATES)}
    Conversation.objects.filter(customer=visitor).update(customer=customer)
    # Their read positions follow them (the 已读 marks); messages keep who sent them.
    ReadState.objects.filter(conversation_id__in=[c.pk for c in moved], participant_key=f"c:{visitor.pk}").update(
        participant_key=f"c:{customer.pk}")
    CustomerVisit.objects.filter(customer=visitor).update(customer=customer)
    CustomerNote.objects.filter(customer=visitor).update(customer=customer)
    customer.tags.add(*visitor.tags.all())
    visitor.tags.clear()
    _move_blocks(visitor, customer)
    closed = []
    for conversation in moved:
        conversation.customer_id = customer.pk
        if conversation.state not in Conversation.OPEN_STATES:
            ConversationEvent.record(conversation, ConversationEvent.Kind.MERGED, actor, data={"from_visitor": visitor.public_id})
            continue
        other = open_kept.get(conversation.inbox_id)
        if other is None:
            open_kept[conversation.inbox_id] = conversation
            ConversationEvent.record(conversation, ConversationEvent.Kind.MERGED, actor, data={"from_visitor": visitor.public_id})
            notify_conversation(conversation)
            continue
        keep, drop = (conversation, other) if _activity(conversation) >= _activity(other) else (other, conversation)
        open_kept[conversation.inbox_id] = keep
        _close_for_merge(drop, keep, actor, visitor)
        closed.append(drop.pk)
        ConversationEvent.record(keep, ConversationEvent.Kind.MERGED, actor, data={"from_visitor": visitor.public_id, "closed": drop.pk})
        notify_conversation(keep)
    Customer.objects.filter(pk=visitor.pk).update(merged_into=customer, vip_level=None)
    if customer.vip_level is None and visitor.vip_level is not None:
        Customer.objects.filter(pk=customer.pk).update(vip_level=visitor.vip_level)
    audit(actor, "customer.merge", target=customer, workspace_id=customer.workspace_id,
          after={"visitor": visitor.pk, "conversations": [c.pk for c in moved], "closed": closed})
    return moved


def _activity(conversation):
    return conversation.last_message_at or conversation.created_at or timezone.now()


def _close_for_merge(drop, keep, actor, visitor):
    from_state = drop.state
    drop.state = Conversation.State.CLOSED
    drop.save(update_fields=["state", "updated_at"])
    ConversationEvent.record(drop, ConversationEvent.Kind.MERGED, actor, from_state=from_state, to_state=drop.state,
                             data={"from_visitor": visitor.public_id, "continued_in": keep.pk})
    hooks.listener().state_changed(drop, from_state, drop.state, actor)  # the assignee's load, timers
    notify_conversation(drop)


def _move_blocks(visitor, customer):
    """A visitor's block follows them (logging in must not lift it); the customer keeps one open block."""
    now = timezone.now()
    target_open = CustomerBlock.objects.filter(customer=customer, lifted_at__isnull=True).exists()
    if target_open:
        CustomerBlock.objects.filter(customer=visitor, lifted_at__isnull=True).update(lifted_at=now)
    CustomerBlock.objects.filter(customer=visitor).update(customer=customer, workspace_id=customer.workspace_id)



def visible_conversations_of(actor, customer_id, limit=20):
    """The customer's conversations this agent may see, newest first (the customer page)."""
    return access.visible_conversations(actor).filter(customer_id=customer_id).select_related("inbox").order_by("-pk")[:limit]
