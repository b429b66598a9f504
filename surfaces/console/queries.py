"""Queries behind the agent console: every list is one query (plus one for the tags of the
rows it shows), whatever the number of rows or of conversations in the workspace."""

from dataclasses import dataclass

from django.db.models import Count, F, IntegerField, OuterRef, Prefetch, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership, shown_name
from chat import access, blocks
from chat import messages as chat_messages
from chat.models import Conversation, Customer, CustomerVisit, Inbox, InboxUserPermission, Message, ReadState, SenderKind, Tag
from connectors.models import CHANNEL_KINDS
from helpdesk.errors import invalid
from helpdesk.validation import id_param
from orders.models import Voucher
from routing.models import AgentGroup, AgentPresence

from .customer_queries import customer_extras

PAGE_SIZE = 40
OPEN = list(Conversation.OPEN_STATES)

PRESENCE_LABELS = {"online": _("Online"), "busy": _("Busy"), "away": _("Away"), "offline": _("Offline")}

# (key, label); group views are "group:<id>".
VIEWS = [
    ("mine", _("Mine")),
    ("pool", _("Unassigned")),
    ("leave", _("Messages left")),
    ("all", _("All")),
    ("bot", _("Bot chats")),  # chats the bot is still answering: kept out of "all"
]


@dataclass
class ListFilter:
    view: str = "mine"
    inbox_id: int | None = None
    state: str = ""
    tag: str = ""
    before: str = ""  # keyset cursor "<last_message_at iso>|<id>"

    @classmethod
    def from_params(cls, params):
        """Validate at the edge: an unknown view, state or id is a clear error, not an empty list."""
        view = params.get("view") or "mine"
        # Ids as bounded ASCII digits: a 40-digit id was a 500 on SQLite (OverflowError), "²" a ValueError.
        if view not in {key for key, _label in VIEWS} and not (view.startswith("group:") and id_param(view[6:]) is not None):
            raise invalid("invalid_view", _("Unknown list."))
        state = params.get("state") or ""
        if state and state not in Conversation.State.values:
            raise invalid("invalid_state", _("Unknown state."))
        inbox = params.get("inbox") or ""
        if inbox and id_param(inbox) is None:
            raise invalid("invalid_inbox", _("Unknown inbox."))
        tag = (params.get("tag") or "")[:40]
        return cls(view=view, inbox_id=id_param(inbox), state=state, tag=tag, before=params.get("before") or "")

    @property
    def group_id(self):
        return int(self.view[6:]) if self.view.startswith("group:") else None

    def as_query(self, **overrides):
        values = {"view": self.view, "inbox": self.inbox_id or "", "state": self.state, "tag": self.tag, **overrides}
        return "&".join(f"{k}={v}" for k, v in values.items() if v not in ("", None))


def _apply_view(qs, actor, view):
    if view == "mine":
        return qs.filter(assignee_id=actor.user_id, state__in=OPEN)
    if view == "pool":
        # The claimable pool and the queue: what anyone serving the inbox may take.
        return qs.filter(assignee__isnull=True, state=Conversation.State.QUEUED, inbox_id__in=access.served_inboxes(actor))
    if view == "leave":
        return qs.filter(is_leave_message=True, state__in=OPEN)
    if view.startswith("group:"):
        return qs.filter(group_id=int(view[6:]), state__in=OPEN)
    if view == "bot":
        return qs.filter(state=Conversation.State.BOT)
    return qs  # "all": whatever the actor may see (access decides); bot chats are left out by filtered()


def filtered(actor, flt):
    qs = _apply_view(access.visible_conversations(actor), actor, flt.view)
    if flt.view == "all" and flt.state != Conversation.State.BOT:
        # The bot answers these itself: they would bury the chats waiting for a person.
        qs = qs.exclude(state=Conversation.State.BOT)
    if flt.inbox_id:
        qs = qs.filter(inbox_id=flt.inbox_id)
    if flt.state:
        qs = qs.filter(state=flt.state)
    if flt.tag:
        # Tags are per workspace: naming the workspace picks the one tag row (uniq_tag_name) instead of
        # every workspace's tag of that name, so the join reads this workspace's tagged customers only.
        qs = qs.filter(customer__tags__workspace_id=actor.workspace_id, customer__tags__name=flt.tag)
    return qs


def with_row_data(qs, actor):
    """Everything a row shows, in the same query: unread count, last message preview."""
    my_read = ReadState.objects.filter(conversation=OuterRef(OuterRef("pk")), participant_key=actor.key).values("last_read_seq")[:1]
    unread = (
        Message.objects.filter(conversation=OuterRef("pk"), sender_kind=SenderKind.CUSTOMER,
                               seq__gt=Coalesce(Subquery(my_read), Value(0)))
        .order_by().values("conversation").annotate(n=Count("pk")).values("n")
    )
    last = Message.objects.filter(conversation=OuterRef("pk"), seq=OuterRef("last_seq"))
    assignee_name = Membership.objects.filter(workspace_id=OuterRef("workspace_id"), user_id=OuterRef("assignee_id")).values("display_name")[:1]
    return (
        qs.select_related("customer", "inbox", "assignee")
        .prefetch_related(Prefetch("customer__tags", queryset=Tag.objects.order_by("name")))
        .annotate(
            unread=Coalesce(Subquery(unread, output_field=IntegerField()), Value(0)),
            last_body=Subquery(last.values("body")[:1]),
            last_type=Subquery(last.values("msg_type")[:1]),
            last_private=Subquery(last.values("is_private")[:1]),
            last_recalled=Subquery(last.values("recalled_at")[:1]),
            assignee_display_name=Subquery(assignee_name),
        )
    )


def page(actor, flt):
    """One page of rows (newest activity first) and the cursor of the next page."""
    qs = filtered(actor, flt)
    if flt.before:
        stamp, _sep, pk = flt.before.partition("|")
        when = parse_datetime(stamp)
        if when is None or id_param(pk) is None:
            raise invalid("invalid_cursor", _("Invalid page cursor."))
        # The redundant <= bound lets the index scan start at the cursor instead of filtering every newer row.
        qs = qs.filter(Q(last_message_at__lt=when) | Q(last_message_at=when, pk__lt=id_param(pk)), last_message_at__lte=when)
    rows = list(with_row_data(qs, actor).order_by(F("last_message_at").desc(nulls_last=True), "-pk")[: PAGE_SIZE + 1])
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    cursor = f"{rows[-1].last_message_at.isoformat()}|{rows[-1].pk}" if more and rows[-1].last_message_at else ""
    return rows, cursor


def row(actor, conversation_id, flt):
    """One row as the list shows it, or None when it no longer belongs to this list (live updates)."""
    return with_row_data(filtered(actor, flt).filter(pk=conversation_id), actor).first()


def view_counts(actor):
    """Badges on the list tabs: one query with conditional counts. Every badge counts open
    conversations only, so the query reads the open ones (conv_ws_state_assignee), not the history."""
    qs = access.visible_conversations(actor).filter(state__in=OPEN)
    served = access.served_inboxes(actor)
    return qs.aggregate(
        mine=Count("pk", filter=Q(assignee_id=actor.user_id, state__in=OPEN)),
        pool=Count("pk", filter=Q(assignee__isnull=True, state=Conversation.State.QUEUED, inbox_id__in=served)),
        leave=Count("pk", filter=Q(is_leave_message=True, state__in=OPEN)),
    )


def sidebar(actor):
    """Inboxes, groups and tags to filter by, and the agent's presence."""
    inboxes = Inbox.objects.filter(workspace_id=actor.workspace_id).order_by("name")
    if not actor.view_all_history:
        inboxes = inboxes.filter(pk__in=access.served_inboxes(actor))
    inboxes = list(inboxes)
    groups = list(AgentGroup.objects.filter(workspace_id=actor.workspace_id, enabled=True).order_by("priority", "name"))
    tags = list(Tag.objects.filter(workspace_id=actor.workspace_id).order_by("name").values_list("name", flat=True)[:200])
    presence = AgentPresence.objects.filter(workspace_id=actor.workspace_id, user_id=actor.user_id).first()
    return {"inboxes": inboxes, "groups": groups, "tags": tags, "presence": presence}


def transfer_targets(conversation):
    """Colleagues serving the conversation's inbox (with status and load) and the enabled groups."""
    serving = InboxUserPermission.objects.filter(content_object_id=conversation.inbox_id, permission__codename="reply_in_inbox").values("user_id")
    agents = (
        Membership.objects.filter(workspace_id=conversation.workspace_id, user_id__in=serving)
        .exclude(user_id=conversation.assignee_id)
        .select_related("user")
        .annotate(
            status=Subquery(AgentPresence.objects.filter(workspace_id=conversation.workspace_id, user_id=OuterRef("user_id")).values("status")[:1]),
            load=Subquery(AgentPresence.objects.filter(workspace_id=conversation.workspace_id, user_id=OuterRef("user_id")).values("open_chats")[:1]),
        )
        .order_by("display_name")
    )
    groups = AgentGroup.objects.filter(workspace_id=conversation.workspace_id, enabled=True).order_by("priority", "name")
    agents = list(agents)
    for m in agents:
        m.name = m.shown_name
        m.status_label = PRESENCE_LABELS.get(m.status or "offline", m.status)
    return agents, list(groups)


def member_name(workspace_id, user):
    """How the workspace names a member (accounts.models.shown_name); "" for nobody."""
    if user is None:
        return ""
    display = Membership.objects.filter(workspace_id=workspace_id, user_id=user.pk).values_list("display_name", flat=True).first()
    return shown_name(display, user)


def customer_panel(actor, customer_id):
    customer = Customer.objects.prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name"))).get(pk=customer_id)
    previous = list(
        access.visible_conversations(actor).filter(customer_id=customer_id).select_related("inbox", "assignee").order_by("-pk")[:10]
    )
    visits = list(CustomerVisit.objects.filter(customer_id=customer_id).order_by("-created_at")[:20])
    orders = list(Voucher.objects.filter(workspace_id=actor.workspace_id, customer_id=customer_id).order_by("-created_at")[:10])
    attributes = {k: v for k, v in (customer.attributes or {}).items() if k not in {"tags"} and isinstance(v, (str, int, float, bool))}
    return {"customer": customer, "previous": previous, "visits": visits, "orders": orders, "attributes": attributes,
            **block_context(actor, customer), **customer_extras(actor, customer)}


def block_context(actor, customer):
    """What the customer panel's 黑名单 section shows: the block in force, and whether this member may lift it."""
    block = blocks.block_for(customer.pk)
    return {"customer": customer, "customer_block": block, "may_lift": blocks.may_lift(actor),
            "blocked_by_name": member_name(actor.workspace_id, block.created_by) if block else ""}


def blocklist_rows(actor, limit=500):
    """The blocklist page's rows, each with `blocked_by_name` (one query for the names)."""
    rows = list(blocks.listed(actor)[:limit])
    users = {row.created_by_id: row.created_by for row in rows if row.created_by_id}
    displays = dict(Membership.objects.filter(workspace_id=actor.workspace_id, user_id__in=users).values_list("user_id", "display_name"))
    for row in rows:
        row.blocked_by_name = shown_name(displays.get(row.created_by_id), row.created_by) if row.created_by_id else ""
    return rows


def history(actor, conversation, limit=30):
    """The newest page of a conversation (oldest first) and whether older messages exist."""
    rows = list(Message.objects.filter(conversation=conversation).order_by("-seq")[: limit + 1])
    return rows[:limit][::-1], len(rows) > limit


def customer_read_seq(actor, conversation):
    """How far the customer has read: the 已读/未读 mark on the agents' replies. None in WeChat
    inboxes, which report no reads (their delivery line stands instead)."""
    if conversation.inbox.kind in CHANNEL_KINDS:
        return None
    return chat_messages.peer_read_seq(actor, conversation)
