"""Domain writes of the conversation engine: validate and authorise, change
inside one short transaction, then notify (after commit) through realtime.publish.

Delivery guarantees live here:
- seq is taken from the conversation row while it is locked, in the same
  transaction as the insert, so seqs are gap-free and unique per conversation;
- a send carrying a client_msg_id already stored for that sender returns the
  stored message and stores nothing (unique constraint as the backstop);
- callers acknowledge only after these functions return, i.e. after commit.
"""

import re
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import access, push, realtime
from .errors import ChatError, forbidden, invalid
from .models import Conversation, ConversationEvent, Customer, Inbox, Message, ReadState, SenderKind
from .payloads import conversation_payload, message_payload

CUSTOMER_TOKEN_SALT = "chat.customer-token"
CLIENT_MSG_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
CUSTOMER_MESSAGE_TYPES = {Message.Type.TEXT, Message.Type.IMAGE, Message.Type.FILE}
AGENT_MESSAGE_TYPES = {Message.Type.TEXT, Message.Type.IMAGE, Message.Type.FILE, Message.Type.CARD, Message.Type.ARTICLE}
MAX_ATTACHMENTS = 10


def _limits():
    return settings.CHAT


# --- customer identity -----------------------------------------------------


def make_customer_token(customer, inbox):
    return signing.dumps({"w": customer.workspace_id, "i": inbox.pk, "c": customer.pk}, salt=CUSTOMER_TOKEN_SALT, compress=True)


def actor_from_customer_token(token):
    """The customer actor a token stands for, or a ChatError. One query (the inbox still exists and matches)."""
    if not isinstance(token, str) or not token or len(token) > 512:
        raise ChatError("invalid_token", _("The visitor token is missing or invalid."), status=401)
    try:
        data = signing.loads(token, salt=CUSTOMER_TOKEN_SALT, max_age=_limits()["CUSTOMER_TOKEN_MAX_AGE_SECONDS"])
        workspace_id, inbox_id, customer_id = int(data["w"]), int(data["i"]), int(data["c"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise ChatError("invalid_token", _("The visitor token is missing or invalid."), status=401) from None
    customer = Customer.objects.filter(pk=customer_id, workspace_id=workspace_id, workspace__inboxes__pk=inbox_id).first()
    if customer is None:
        raise ChatError("invalid_token", _("The visitor token is missing or invalid."), status=401)
    return access.customer_actor(customer, inbox_id)


def open_customer_session(inbox_key, *, token=None, name=""):
    """Issue (or renew) an anonymous visitor identity for an inbox. Returns (customer, inbox, token)."""
    inbox = Inbox.objects.filter(public_key=str(inbox_key or "")[:40]).select_related("workspace").first()
    if inbox is None:
        raise ChatError("unknown_inbox", _("This chat is not available."), status=404)
    customer = None
    if token:
        try:
            actor = actor_from_customer_token(token)
        except ChatError:
            actor = None  # a stale token just gets a fresh identity
        if actor and actor.workspace_id == inbox.workspace_id:
            customer = Customer.objects.get(pk=actor.customer_id)
    if customer is None:
        customer = Customer.objects.create(workspace_id=inbox.workspace_id, first_inbox=inbox, name=str(name or "")[:120])
    return customer, inbox, make_customer_token(customer, inbox)


# --- validation at the edge --------------------------------------------------


def _clean_client_msg_id(value):
    if value in (None, ""):
        raise invalid("invalid_client_msg_id", _("client_msg_id is required so that retries are safe."))
    if not isinstance(value, str) or not CLIENT_MSG_ID_RE.match(value):
        raise invalid("invalid_client_msg_id", _("client_msg_id must be 1-64 letters, digits or . _ : -"))
    return value


def _clean_body(body, msg_type):
    if body is None:
        body = ""
    if not isinstance(body, str):
        raise invalid("invalid_body", _("The message body must be text."))
    limit = _limits()["MAX_BODY_CHARS"]
    if len(body) > limit:
        raise ChatError("body_too_long", _("The message is too long (at most %(limit)s characters).") % {"limit": limit}, status=413)
    if "\x00" in body:
        raise invalid("invalid_body", _("The message body contains a NUL character."))
    if msg_type == Message.Type.TEXT and not body.strip():
        raise invalid("empty_body", _("The message is empty."))
    return body


def _clean_attachments(attachments, msg_type, actor):
    if attachments in (None, []):
        if msg_type in (Message.Type.IMAGE, Message.Type.FILE):
            raise invalid("invalid_attachments", _("An image or file message needs an attachment."))
        return []
    if not isinstance(attachments, list) or len(attachments) > MAX_ATTACHMENTS:
        raise invalid("invalid_attachments", _("Attachments must be a list of at most %(n)s items.") % {"n": MAX_ATTACHMENTS})
    cleaned = []
    for item in attachments:
        url = item.get("url") if isinstance(item, dict) else None
        if not isinstance(url, str) or not (url.startswith("https://") or url.startswith("http://") or url.startswith("/")) or len(url) > 2000:
            raise invalid("invalid_attachments", _("Each attachment needs an http(s) or site-relative url."))
        name = item.get("name", "")
        size = item.get("size", 0)
        if not isinstance(name, str) or not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise invalid("invalid_attachments", _("Attachment name must be text and size a non-negative integer."))
        # Customers attach only files uploaded to this workspace (POST /api/v1/uploads): never a third-party
        # or another workspace's url for the agent's console to load. Type and kind come from the stored name.
        from . import uploads

        stored_type = uploads.type_for_url(url, actor.workspace_id)
        if actor.is_customer and stored_type is None:
            raise invalid("invalid_attachments", _("Only files uploaded to this chat can be attached, not links."))
        extra = {"content_type": stored_type[0], "kind": stored_type[1]} if stored_type else {}
        for key in ("width", "height"):
            value = item.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 1_000_000:
                extra[key] = value
        cleaned.append({"url": url, "name": name[:255], "size": size, **extra})
    return cleaned


def _clean_type(msg_type, actor):
    allowed = CUSTOMER_MESSAGE_TYPES if actor.is_customer else AGENT_MESSAGE_TYPES
    if msg_type not in allowed:
        raise invalid("invalid_type", _("Unsupported message type."))
    return Message.Type(msg_type)


# --- events ---------------------------------------------------------------


def _record(conversation, kind, actor, *, from_state="", to_state="", data=None):
    return ConversationEvent.objects.create(
        conversation=conversation,
        kind=kind,
        from_state=from_state,
        to_state=to_state,
        actor_kind=actor.kind,
        actor_user_id=actor.user_id,
        actor_customer_id=actor.customer_id,
        data=data or {},
    )


def _scope(conversation):
    """Lets each agent socket apply the history rule to inbox-wide events (access.may_see_live)."""
    return {"assignee_id": conversation.assignee_id}


def notify_conversation(conversation, event_type="conversation.updated", *, everyone_serving=False):
    """Tell the inbox's agents and the customer that a conversation changed. everyone_serving:
    routing changes (pool and queue moves) reach every agent serving the inbox, whatever the
    history rule, so a chat taken by a colleague disappears from everyone's pool."""
    scope = {"assignee_id": None} if everyone_serving else _scope(conversation)
    realtime.publish(
        [(realtime.group_for_inbox(conversation.inbox_id), {"type": event_type, "conversation": conversation_payload(conversation, for_customer=False)})],
        scope=scope,
    )
    realtime.publish(
        [(realtime.group_for_customer(conversation.customer_id), {"type": event_type, "conversation": conversation_payload(conversation, for_customer=True)})]
    )


def _notify_message(message, event_type="message"):
    conversation = message.conversation
    realtime.publish(
        [(realtime.group_for_inbox(conversation.inbox_id), {"type": event_type, "message": message_payload(message, for_customer=False)})],
        scope=_scope(conversation),
    )
    if not message.is_private:
        realtime.publish(
            [(realtime.group_for_customer(conversation.customer_id), {"type": event_type, "message": message_payload(message, for_customer=True)})]
        )
    push.notify_message(message)  # Web Push to agents with no visible console (customer messages, after commit)


# --- conversations ----------------------------------------------------------


def _start_conversation(actor, inbox_id, entry_page=""):
    """Caller holds a transaction and the customer row lock (one open conversation per customer and inbox)."""
    inbox = Inbox.objects.get(pk=inbox_id)
    state = Conversation.State.BOT if inbox.bot_first else Conversation.State.QUEUED
    conversation = Conversation.objects.create(
        workspace_id=actor.workspace_id, inbox=inbox, customer_id=actor.customer_id, state=state, entry_page=entry_page[:1000]
    )
    _record(conversation, ConversationEvent.Kind.CREATED, actor, to_state=state, data={"entry_page": conversation.entry_page})
    notify_conversation(conversation, "conversation.created")
    if state == Conversation.State.QUEUED:
        from routing.actions import route  # routing builds on the engine, not the reverse

        transaction.on_commit(lambda: route(conversation.pk))
    return conversation


def _customer_target(actor, conversation_id, entry_page):
    """The conversation a customer's send goes to: the one named, else their open one in this inbox, else a new one."""
    if conversation_id is not None:
        return access.get_conversation(actor, conversation_id, lock=True)
    Customer.objects.select_for_update().filter(pk=actor.customer_id).first()
    conversation = (
        Conversation.objects.select_for_update()
        .filter(customer_id=actor.customer_id, inbox_id=actor.inbox_id, state__in=Conversation.OPEN_STATES)
        .order_by("-pk")
        .first()
    )
    return conversation or _start_conversation(actor, actor.inbox_id, entry_page)


def send_message(actor, *, client_msg_id, body="", msg_type="text", conversation_id=None, attachments=None, is_private=False, entry_page=""):
    """Store a message and fan it out after commit. Returns (message, created)."""
    client_msg_id = _clean_client_msg_id(client_msg_id)
    msg_type = _clean_type(msg_type, actor)
    body = _clean_body(body, msg_type)
    attachments = _clean_attachments(attachments, msg_type, actor)
    if not isinstance(is_private, bool):
        raise invalid("invalid_private", _("is_private must be true or false."))
    if is_private and not actor.is_agent:
        raise forbidden(_("Only agents can write private notes."))
    if not isinstance(entry_page, str):
        entry_page = ""
    if actor.is_agent and conversation_id is None:
        raise invalid("conversation_required", _("conversation_id is required."))

    try:
        with transaction.atomic():
            if actor.is_customer:
                conversation = _customer_target(actor, conversation_id, entry_page)
            else:
                conversation = access.get_conversation(actor, conversation_id, lock=True)
                access.require_reply_right(actor, conversation)
            existing = Message.objects.filter(conversation=conversation, sender_key=actor.key, client_msg_id=client_msg_id).first()
            if existing is not None:
                return existing, False
            if conversation.state == Conversation.State.CLOSED:
                raise ChatError("conversation_closed", _("This conversation is closed."), status=409)
            message = _append(conversation, actor, client_msg_id=client_msg_id, body=body, msg_type=msg_type,
                              attachments=attachments, is_private=is_private)
            return message, True
    except IntegrityError:
        # A concurrent retry of the same send won the race: return what it stored.
        existing = Message.objects.filter(conversation_id=conversation.pk, sender_key=actor.key, client_msg_id=client_msg_id).first()
        if existing is None:
            raise
        return existing, False


def _append(conversation, actor, *, body, msg_type=Message.Type.TEXT, client_msg_id="", attachments=(), is_private=False):
    """Insert one message at the next seq. Caller holds the conversation row lock inside a transaction."""
    now = timezone.now()
    seq = conversation.last_seq + 1
    message = Message.objects.create(
        conversation=conversation,
        seq=seq,
        sender_kind=actor.kind,
        sender_user_id=actor.user_id,
        sender_customer_id=actor.customer_id if actor.is_customer else None,
        sender_key=actor.key,
        sender_name=actor.name[:120],
        client_msg_id=client_msg_id,
        msg_type=msg_type,
        body=body,
        attachments=list(attachments),
        is_private=is_private,
    )
    changes = {"last_seq": seq, "last_message_at": now}
    conversation.last_seq, conversation.last_message_at = seq, now
    if actor.is_agent and not is_private and conversation.first_response_at is None:
        changes["first_response_at"] = conversation.first_response_at = now
        _record(conversation, ConversationEvent.Kind.FIRST_RESPONSE, actor, data={"seq": seq})
    if actor.is_customer and conversation.state == Conversation.State.PENDING and conversation.snoozed_until:
        changes.update(_wake(conversation, actor))  # the customer wrote: snooze over
        notify_conversation(conversation)
    if actor.is_customer and conversation.state == Conversation.State.RESOLVED:
        # A customer writing into a resolved conversation reopens it (it goes back to the queue).
        _record(conversation, ConversationEvent.Kind.STATE_CHANGED, actor, from_state=conversation.state, to_state=Conversation.State.QUEUED)
        changes["state"] = conversation.state = Conversation.State.QUEUED
        changes["resolved_at"] = conversation.resolved_at = None
        changes["assignee"] = conversation.assignee = None
        notify_conversation(conversation)
        from routing.actions import route

        transaction.on_commit(lambda: route(conversation.pk))
    Conversation.objects.filter(pk=conversation.pk).update(**changes)
    message.conversation = conversation
    _notify_message(message)
    return message


def post_system_message(conversation_id, body):
    """A system line in the conversation (transfers, state notes): same seq rules as any message."""
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
        system = access.Actor(SenderKind.SYSTEM, conversation.workspace_id)
        return _append(conversation, system, body=str(body), msg_type=Message.Type.EVENT)


def fetch_messages(actor, conversation_id, *, after_seq=0, limit=None):
    """Messages with seq > after_seq in order, at most `limit`. Returns (messages, has_more, conversation)."""
    page = _limits()["RESUME_PAGE_SIZE"]
    try:
        after_seq = int(after_seq or 0)
        limit = page if limit in (None, "") else int(limit)
    except (TypeError, ValueError):
        raise invalid("invalid_after_seq", _("after_seq and limit must be integers.")) from None
    if after_seq < 0 or not 1 <= limit <= page:
        raise invalid("invalid_after_seq", _("after_seq must be >= 0 and limit between 1 and %(n)s.") % {"n": page})
    conversation = access.get_conversation(actor, conversation_id)
    qs = Message.objects.filter(conversation=conversation, seq__gt=after_seq).order_by("seq")
    if actor.is_customer:
        # Private notes still occupy a seq: customers see a gap there, which the
        # returned `last_seq` explains (they must not re-request it forever).
        qs = qs.filter(is_private=False)
    rows = list(qs[: limit + 1])
    return rows[:limit], len(rows) > limit, conversation


def mark_read(actor, conversation_id, seq):
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise invalid("invalid_seq", _("seq must be a non-negative integer."))
    conversation = access.get_conversation(actor, conversation_id)
    seq = min(seq, conversation.last_seq)
    with transaction.atomic():
        updated = ReadState.objects.filter(conversation=conversation, participant_key=actor.key).update(
            last_read_seq=Greatest(F("last_read_seq"), seq)
        )
        if not updated:
            try:
                with transaction.atomic():
                    ReadState.objects.create(conversation=conversation, participant_key=actor.key, last_read_seq=seq)
            except IntegrityError:
                ReadState.objects.filter(conversation=conversation, participant_key=actor.key).update(
                    last_read_seq=Greatest(F("last_read_seq"), seq)
                )
        event = {"type": "read", "conversation_id": conversation.pk, "reader": {"kind": actor.kind, "name": actor.name}, "seq": seq}
        realtime.publish([(realtime.group_for_inbox(conversation.inbox_id), event)], scope=_scope(conversation))
        realtime.publish([(realtime.group_for_customer(conversation.customer_id), event)])
    return seq


AGENT_STATE_CHANGES = {
    Conversation.State.RESOLVED: set(Conversation.OPEN_STATES),
    Conversation.State.CLOSED: set(Conversation.OPEN_STATES) | {Conversation.State.RESOLVED},
    Conversation.State.PENDING: {Conversation.State.ASSIGNED, Conversation.State.QUEUED, Conversation.State.BOT},
    Conversation.State.QUEUED: {Conversation.State.RESOLVED, Conversation.State.PENDING},
}


def change_state(actor, conversation_id, to_state):
    """Agent moves a conversation (resolve, close, pend, reopen). Writes an event row."""
    if not actor.is_agent:
        raise forbidden()
    if to_state not in AGENT_STATE_CHANGES:
        raise invalid("invalid_state", _("Unknown or unsupported target state."))
    with transaction.atomic():
        conversation = access.get_conversation(actor, conversation_id, lock=True)
        if conversation.state == to_state:
            return conversation
        if conversation.state not in AGENT_STATE_CHANGES[to_state]:
            raise ChatError("invalid_transition", _("This conversation cannot move to that state now."), status=409)
        from_state = conversation.state
        conversation.state = to_state
        conversation.resolved_at = timezone.now() if to_state == Conversation.State.RESOLVED else conversation.resolved_at
        if to_state == Conversation.State.QUEUED:
            conversation.resolved_at = None
        conversation.save(update_fields=["state", "resolved_at", "updated_at"])
        was_open, is_open = from_state in Conversation.OPEN_STATES, to_state in Conversation.OPEN_STATES
        if conversation.assignee_id is not None and was_open != is_open:
            from routing.actions import adjust_load  # the agent's open-chat counter follows the state

            adjust_load(conversation.workspace_id, conversation.assignee_id, 1 if is_open else -1)
        _record(conversation, ConversationEvent.Kind.STATE_CHANGED, actor, from_state=from_state, to_state=to_state)
        notify_conversation(conversation)
        if to_state in (Conversation.State.RESOLVED, Conversation.State.CLOSED, Conversation.State.QUEUED):
            from routing.actions import drain, route  # a freed slot or a reopened chat: route again

            workspace_id, conversation_id = conversation.workspace_id, conversation.pk
            transaction.on_commit(lambda: route(conversation_id) if to_state == Conversation.State.QUEUED else drain(workspace_id))
    return conversation


def recall_message(actor, message_id):
    """The sender recalls their own message within the recall window; the seq stays, the content goes."""
    window = timedelta(seconds=_limits()["RECALL_WINDOW_SECONDS"])
    with transaction.atomic():
        valid_id = isinstance(message_id, int) and not isinstance(message_id, bool)
        message = Message.objects.select_for_update().filter(pk=message_id if valid_id else -1).first()
        if message is None or message.sender_key != actor.key:
            raise ChatError("not_found", _("Message not found."), status=404)
        access.get_conversation(actor, message.conversation_id)
        if message.recalled_at is None:
            if timezone.now() - message.created_at > window:
                raise ChatError("recall_expired", _("This message can no longer be recalled."), status=409)
            message.recalled_at = timezone.now()
            message.save(update_fields=["recalled_at"])
            _record(message.conversation, ConversationEvent.Kind.MESSAGE_RECALLED, actor, data={"seq": message.seq})
            _notify_message(message, "message.updated")
    return message


def conversations_for(actor, *, state=None, leave_message=None, limit=50):
    qs = access.visible_conversations(actor).order_by("-last_message_at", "-pk")
    if state:
        if state not in Conversation.State.values:
            raise invalid("invalid_state", _("Unknown state."))
        qs = qs.filter(state=state)
    if leave_message is not None:
        qs = qs.filter(is_leave_message=leave_message)
    return list(qs[:limit])


def require_workspace_member(user, workspace_id=None):
    """The agent actor for a logged-in user in the workspace they chose (their first
    one by default); raises if they are not a member there."""
    from accounts.access import membership_of_user

    return access.agent_actor(membership_of_user(user, workspace_id))


# --- console: history paging, snooze, customer tags ---------------------------


def fetch_history_before(actor, conversation_id, *, before_seq, limit=30):
    """The page of messages just before `before_seq` (newest last): infinite scroll back.
    Returns (messages, has_more, conversation)."""
    try:
        before_seq, limit = int(before_seq), int(limit)
    except (TypeError, ValueError):
        raise invalid("invalid_before_seq", _("before_seq must be an integer.")) from None
    if before_seq < 1 or not 1 <= limit <= _limits()["RESUME_PAGE_SIZE"]:
        raise invalid("invalid_before_seq", _("before_seq must be positive."))
    conversation = access.get_conversation(actor, conversation_id)
    qs = Message.objects.filter(conversation=conversation, seq__lt=before_seq).order_by("-seq")
    if actor.is_customer:
        qs = qs.filter(is_private=False)
    rows = list(qs[: limit + 1])
    return rows[:limit][::-1], len(rows) > limit, conversation


SNOOZABLE_STATES = {Conversation.State.ASSIGNED, Conversation.State.QUEUED, Conversation.State.BOT, Conversation.State.PENDING}


def snooze(actor, conversation_id, until):
    """Set a conversation aside until `until` (state pending): it comes back by itself then,
    or as soon as the customer writes. The assignee keeps it (and its slot)."""
    if not actor.is_agent:
        raise forbidden()
    now = timezone.now()
    if until is None or until <= now + timedelta(seconds=30) or until > now + timedelta(days=90):
        raise invalid("invalid_snooze", _("Choose a time between one minute and 90 days from now."))
    with transaction.atomic():
        conversation = access.get_conversation(actor, conversation_id, lock=True)
        access.require_reply_right(actor, conversation)
        if conversation.state not in SNOOZABLE_STATES:
            raise ChatError("invalid_transition", _("This conversation cannot move to that state now."), status=409)
        from_state = conversation.state
        conversation.state, conversation.snoozed_until = Conversation.State.PENDING, until
        conversation.save(update_fields=["state", "snoozed_until", "updated_at"])
        _record(conversation, ConversationEvent.Kind.SNOOZED, actor, from_state=from_state, to_state=conversation.state,
                data={"until": until.isoformat()})
        notify_conversation(conversation)
    return conversation


def _wake(conversation, actor):
    """Caller holds the row lock. Back to the agent who has it, or to the queue."""
    to_state = Conversation.State.ASSIGNED if conversation.assignee_id else Conversation.State.QUEUED
    _record(conversation, ConversationEvent.Kind.WOKEN, actor, from_state=conversation.state, to_state=to_state)
    conversation.state, conversation.snoozed_until = to_state, None
    if to_state == Conversation.State.QUEUED:
        from routing.actions import route

        conversation_id = conversation.pk
        transaction.on_commit(lambda: route(conversation_id))
    return {"state": to_state, "snoozed_until": None}


def wake_due_snoozes(now=None):
    """Run by the sweep: snoozed conversations whose time has come go back to work."""
    now = now or timezone.now()
    due = list(Conversation.objects.filter(state=Conversation.State.PENDING, snoozed_until__lte=now).values_list("pk", flat=True)[:500])
    woken = 0
    for conversation_id in due:
        with transaction.atomic():
            conversation = Conversation.objects.select_for_update().filter(
                pk=conversation_id, state=Conversation.State.PENDING, snoozed_until__lte=now
            ).first()
            if conversation is None:  # woken meanwhile by the customer or another sweeper
                continue
            changes = _wake(conversation, access.Actor(SenderKind.SYSTEM, conversation.workspace_id))
            Conversation.objects.filter(pk=conversation.pk).update(**changes, updated_at=now)
            notify_conversation(conversation)
            woken += 1
    return woken


def _customer_for_tagging(actor, customer_id):
    """Agents tag customers they can see a conversation of (the one access rule, no new one)."""
    if not actor.is_agent:
        raise forbidden()
    valid_id = isinstance(customer_id, int) and not isinstance(customer_id, bool)
    if not valid_id or not access.visible_conversations(actor).filter(customer_id=customer_id).exists():
        raise ChatError("not_found", _("Customer not found."), status=404)
    return Customer.objects.get(pk=customer_id)


TAG_RE = re.compile(r"^[^\x00-\x1f<>]{1,40}$")


def add_customer_tag(actor, customer_id, name):
    from .models import Tag

    name = (name or "").strip() if isinstance(name, str) else ""
    if not TAG_RE.match(name):
        raise invalid("invalid_tag", _("A tag is 1 to 40 characters, without < or >."))
    customer = _customer_for_tagging(actor, customer_id)
    with transaction.atomic():
        Customer.objects.select_for_update().filter(pk=customer.pk).first()  # two agents tagging at once: one records it
        tag, _created = Tag.objects.get_or_create(workspace_id=customer.workspace_id, name=name)
        if not customer.tags.filter(pk=tag.pk).exists():
            customer.tags.add(tag)
            _record_tag_change(customer, actor, added=name)
    return customer


def remove_customer_tag(actor, customer_id, name):
    customer = _customer_for_tagging(actor, customer_id)
    with transaction.atomic():
        tag = customer.tags.filter(name=name).first() if isinstance(name, str) else None
        if tag is not None:
            customer.tags.remove(tag)
            _record_tag_change(customer, actor, removed=name)
    return customer


def _record_tag_change(customer, actor, **change):
    """The customer's open conversations carry the change in their timelines and refresh live."""
    for conversation in Conversation.objects.filter(customer=customer, state__in=Conversation.OPEN_STATES):
        _record(conversation, ConversationEvent.Kind.TAGGED, actor, data=change)
        notify_conversation(conversation)
