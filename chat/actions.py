"""Domain writes of the conversation engine: validate and authorise, change
inside one short transaction, then notify (after commit) through realtime.publish.

Delivery guarantees live here:
- seq is taken from the conversation row while it is locked, in the same
  transaction as the insert, so seqs are gap-free and unique per conversation;
- a send carrying a client_msg_id already stored for that sender returns the
  stored message and stores nothing (unique constraint as the backstop);
- callers acknowledge only after these functions return, i.e. after commit.
"""

import hashlib
import hmac
import math
import re
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import IntegrityError, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import access, push, realtime, scheduler, timers
from .errors import ChatError, forbidden, invalid
from .models import (
    Conversation,
    ConversationEvent,
    Customer,
    CustomerVisit,
    Deadline,
    Inbox,
    Message,
    ReadState,
    SatisfactionRating,
    SenderKind,
    validate_prechat_fields,
)
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


def open_customer_session(inbox_key, *, token=None, name="", user_id=None, user_hash=None, attributes=None, page=None):
    """Issue (or renew) a visitor identity for an inbox. Returns (customer, inbox, token).

    Anonymous: the customer of a valid token for this workspace, else a new one. Identified:
    `user_id` with `user_hash` = hex HMAC-SHA256(inbox.secret, user_id) from the merchant's server
    gives the workspace's customer with that external id (the same on every device); any token
    sent along is ignored (no merge). Only a verified identity may set attributes beyond `name`.
    Everything is checked before anything is stored."""
    inbox = Inbox.objects.filter(public_key=str(inbox_key or "")[:40]).select_related("workspace").first()
    if inbox is None:
        raise ChatError("unknown_inbox", _("This chat is not available."), status=404)
    identified = user_id not in (None, "")
    if identified:
        user_id = _verified_user_id(inbox, user_id, user_hash)
    changes = _clean_attributes(attributes, verified=identified)
    if name not in (None, "") and "name" not in changes:
        changes["name"] = _clean_name(name)
    page = _clean_page(page, strict=False)  # a page we cannot record never costs the visitor their chat
    with transaction.atomic():
        customer = None
        if identified:
            customer = _identified_customer(inbox, user_id, changes.get("name", ""))
        elif token:
            try:
                actor = actor_from_customer_token(token)
            except ChatError:
                actor = None  # a stale token just gets a fresh identity
            if actor and actor.workspace_id == inbox.workspace_id:
                customer = Customer.objects.get(pk=actor.customer_id)
        if customer is None:
            customer = Customer.objects.create(workspace_id=inbox.workspace_id, first_inbox=inbox, name=changes.get("name", ""))
        customer = _apply_customer_changes(customer, changes)
        if page:
            _record_visit(customer.pk, inbox.pk, *page)
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


def _vip_level(customer_id):
    """The queue priority the merchant gave this customer (signed identity attribute `vip_level`, 0-9)."""
    attributes = Customer.objects.filter(pk=customer_id).values_list("attributes", flat=True).first() or {}
    level = attributes.get("vip_level", 0)
    return min(max(level, 0), 9) if isinstance(level, int) and not isinstance(level, bool) else 0


def _start_conversation(actor, inbox_id, entry_page=""):
    """Caller holds a transaction and the customer row lock (one open conversation per customer and inbox)."""
    inbox = Inbox.objects.get(pk=inbox_id)
    state = Conversation.State.BOT if inbox.bot_first else Conversation.State.QUEUED
    conversation = Conversation.objects.create(
        workspace_id=actor.workspace_id, inbox=inbox, customer_id=actor.customer_id, state=state, entry_page=entry_page[:1000],
        vip_level=_vip_level(actor.customer_id),
    )
    ConversationEvent.record(conversation, ConversationEvent.Kind.CREATED, actor, to_state=state, data={"entry_page": conversation.entry_page})
    notify_conversation(conversation, "conversation.created")
    timers.conversation_started(conversation)
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
            from replies import auto, config, sensitive  # replies build on the engine

            # Sensitive words: masked or refused before anything is stored (a refusal rolls back even a new conversation).
            verdict = sensitive.check(conversation.workspace_id, actor.is_customer, body) if not is_private else None
            message = _append(conversation, actor, client_msg_id=client_msg_id, body=verdict.body if verdict else body,
                              msg_type=msg_type, attachments=attachments, is_private=is_private)
            if verdict and verdict.alerts:
                auto.flag_sensitive(conversation, message, verdict.alerts)
            if actor.is_customer:
                # A workspace without rules or settings costs its customers' messages no worker work (cached).
                configured = config.for_workspace(conversation.workspace_id)
                if message.seq == 1 and configured.has_settings:
                    auto.welcome(conversation)
                if configured.has_rules or configured.has_settings or conversation.state == Conversation.State.BOT:
                    # Keyword replies, hosting and the bot answer after commit, off the request thread.
                    transaction.on_commit(lambda: auto.schedule(message.pk))
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
    if actor.is_agent and not is_private:
        from replies import config

        if config.for_workspace(conversation.workspace_id).has_settings:  # only hosting schedules these
            scheduler.cancel(conversation.pk, Deadline.Kind.NO_ANSWER)  # answered: no hosting reply for this wait
        if conversation.first_response_at is None:
            changes["first_response_at"] = conversation.first_response_at = now
            ConversationEvent.record(conversation, ConversationEvent.Kind.FIRST_RESPONSE, actor, data={"seq": seq})
    if actor.is_customer and conversation.state == Conversation.State.PENDING and conversation.snoozed_until:
        changes.update(_wake(conversation, actor))  # the customer wrote: snooze over
        notify_conversation(conversation)
    if actor.is_customer and conversation.state == Conversation.State.RESOLVED:
        # A customer writing into a resolved conversation reopens it (it goes back to the queue).
        ConversationEvent.record(conversation, ConversationEvent.Kind.STATE_CHANGED, actor, from_state=conversation.state, to_state=Conversation.State.QUEUED)
        changes["state"] = conversation.state = Conversation.State.QUEUED
        changes["resolved_at"] = conversation.resolved_at = None
        changes["assignee"] = conversation.assignee = None
        notify_conversation(conversation)
        timers.conversation_reopened(conversation)
        from routing.actions import route

        transaction.on_commit(lambda: route(conversation.pk))
    Conversation.objects.filter(pk=conversation.pk).update(**changes)
    message.conversation = conversation
    _notify_message(message)
    return message


def post_automatic_reply(conversation, body, *, msg_type=Message.Type.TEXT, attachments=(), event=None, event_data=None, private=False):
    """A line the system writes for the workspace (welcome, auto-reply, hosting, queue and resolved
    messages), sent as the assistant. Caller holds the conversation row lock inside a transaction."""
    assistant = access.Actor(SenderKind.BOT, conversation.workspace_id, name=str(_("Assistant")))
    message = _append(conversation, assistant, body=str(body), msg_type=msg_type, attachments=list(attachments), is_private=private)
    if event:
        ConversationEvent.record(conversation, event, assistant, data=event_data or {})
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
        ConversationEvent.record(conversation, ConversationEvent.Kind.STATE_CHANGED, actor, from_state=from_state, to_state=to_state)
        notify_conversation(conversation)
        if to_state == Conversation.State.RESOLVED:
            conversation_resolved(conversation)
        elif not was_open and is_open:
            timers.conversation_reopened(conversation)  # an agent reopened it: a fresh inactivity deadline
        if to_state in (Conversation.State.RESOLVED, Conversation.State.CLOSED, Conversation.State.QUEUED):
            from routing.actions import drain, route  # a freed slot or a reopened chat: route again

            workspace_id, conversation_id = conversation.workspace_id, conversation.pk
            transaction.on_commit(lambda: route(conversation_id) if to_state == Conversation.State.QUEUED else drain(workspace_id))
    return conversation


def conversation_resolved(conversation):
    """Whatever resolved it (an agent, the inactivity deadline): the resolved message, the rating request."""
    from replies import auto

    auto.conversation_resolved(conversation)
    timers.conversation_resolved(conversation)


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
            ConversationEvent.record(message.conversation, ConversationEvent.Kind.MESSAGE_RECALLED, actor, data={"seq": message.seq})
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
        ConversationEvent.record(conversation, ConversationEvent.Kind.SNOOZED, actor, from_state=from_state, to_state=conversation.state,
                data={"until": until.isoformat()})
        notify_conversation(conversation)
    return conversation


def _wake(conversation, actor):
    """Caller holds the row lock. Back to the agent who has it, or to the queue."""
    to_state = Conversation.State.ASSIGNED if conversation.assignee_id else Conversation.State.QUEUED
    ConversationEvent.record(conversation, ConversationEvent.Kind.WOKEN, actor, from_state=conversation.state, to_state=to_state)
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
        ConversationEvent.record(conversation, ConversationEvent.Kind.TAGGED, actor, data=change)
        notify_conversation(conversation)


# --- the customer widget: identity, attributes, visits, pre-chat form, availability, CSAT ----


class FieldErrors(ChatError):
    """A 400 naming each bad field: {"error": {"code", "message", "fields": {key: message}}}."""

    def __init__(self, code, message, fields):
        super().__init__(code, message, status=400)
        self.fields = fields

    def as_dict(self):
        return {**super().as_dict(), "fields": {key: str(text) for key, text in self.fields.items()}}


CONTROL_CHARS_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
CONTROL_CHARS_BUT_LINES_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # keeps tab and newline (comments, textareas)
USER_HASH_RE = re.compile(r"^[0-9a-fA-F]{64}$")
ATTRIBUTE_KEY_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,39}$")
TEL_RE = re.compile(r"^[0-9+\- ]{1,32}$")
MAX_ATTRIBUTES = 30
MAX_ATTRIBUTE_CHARS = 200
MAX_NAME_CHARS = 120
MAX_IDENTITY_TAGS = 20
MAX_PAGE_URL_CHARS = 1000
MAX_PAGE_TITLE_CHARS = 200
MAX_PRECHAT_ANSWER_CHARS = 200
MAX_RATING_COMMENT_CHARS = 1000
VISIT_DEDUPE_SECONDS = 60
RATABLE_STATES = (Conversation.State.RESOLVED, Conversation.State.CLOSED)


def identity_hash(secret, user_id):
    """What the merchant's server computes: hex HMAC-SHA256 of the user id (UTF-8) keyed with the inbox secret."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def _verified_user_id(inbox, user_id, user_hash):
    if not isinstance(user_id, str) or not user_id.strip() or len(user_id) > 128 or CONTROL_CHARS_RE.search(user_id):
        raise invalid("invalid_user_id", _("user_id must be 1 to 128 characters of text."))
    if not isinstance(user_hash, str) or not USER_HASH_RE.match(user_hash) or not hmac.compare_digest(
        user_hash.lower(), identity_hash(inbox.secret, user_id)
    ):
        raise ChatError("invalid_identity", _("The user identity could not be verified."), status=403)
    return user_id


def _clean_text(value, limit, *, lines=False):
    """Text without control characters, trimmed; None if too long."""
    value = (CONTROL_CHARS_BUT_LINES_RE if lines else CONTROL_CHARS_RE).sub("", value).strip()
    return value if len(value) <= limit else None


def _clean_name(value):
    cleaned = _clean_text(value, MAX_NAME_CHARS) if isinstance(value, str) else None
    if cleaned is None:
        raise invalid("invalid_name", _("The name must be text of at most %(n)s characters.") % {"n": MAX_NAME_CHARS})
    return cleaned


def _bad_attribute(key):
    return invalid(
        "invalid_attributes",
        _("Attribute %(key)s must be text of at most 200 characters, a number, true/false or null (no nested objects).") % {"key": key},
    )


def _clean_attribute_value(key, value):
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) >= 10**15:
            raise _bad_attribute(key)
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _bad_attribute(key)
        return value
    if not isinstance(value, str):
        raise _bad_attribute(key)
    cleaned = _clean_text(value, MAX_ATTRIBUTE_CHARS)
    if cleaned is None:
        raise _bad_attribute(key)
    if cleaned and key == "email":
        try:
            validate_email(cleaned)
        except ValidationError:
            raise invalid("invalid_attributes", _("Attribute email must be a valid e-mail address.")) from None
    if cleaned and key == "phone" and not TEL_RE.match(cleaned):
        raise invalid("invalid_attributes", _("Attribute phone must be at most 32 digits, +, - or spaces."))
    return cleaned


def _clean_identity_tags(value):
    if not isinstance(value, list) or len(value) > MAX_IDENTITY_TAGS:
        raise invalid("invalid_attributes", _("tags must be a list of at most %(n)s tags.") % {"n": MAX_IDENTITY_TAGS})
    names = []
    for item in value:
        name = CONTROL_CHARS_RE.sub("", item).strip() if isinstance(item, str) else ""
        if not TAG_RE.match(name):
            raise invalid("invalid_attributes", _("A tag is 1 to 40 characters, without < or >."))
        if name not in names:
            names.append(name)
    return names


def _clean_attributes(attributes, *, verified):
    """{"name"?, "tags"?, "attributes"?: {key: value or None}} from the attributes object of a session.
    Without a verified identity only `name` is accepted: a visitor must not claim a level or tags."""
    if attributes in (None, {}):
        return {}
    if not isinstance(attributes, dict):
        raise invalid("invalid_attributes", _("attributes must be an object."))
    if len(attributes) > MAX_ATTRIBUTES:
        raise invalid("invalid_attributes", _("At most %(n)s attributes.") % {"n": MAX_ATTRIBUTES})
    if not verified and set(attributes) - {"name"}:
        raise invalid("identity_required", _("Without a verified user identity (user_id and user_hash) only the name can be set."))
    changes = {}
    for key, value in attributes.items():
        if not isinstance(key, str) or not ATTRIBUTE_KEY_RE.match(key):
            raise invalid("invalid_attributes", _("Attribute names are 1 to 40 letters, digits, _ . or -."))
        if key == "name":
            if value not in (None, ""):
                changes["name"] = _clean_name(value)
        elif key == "tags":
            changes["tags"] = _clean_identity_tags(value)
        else:
            changes.setdefault("attributes", {})[key] = _clean_attribute_value(key, value)
    return changes


def _clean_page(page, *, strict):
    """(url, title) of a page the widget reports; None when there is none (or, not strict, a bad one)."""
    try:
        if not isinstance(page, dict):
            raise invalid("invalid_page", _("The page must be an object with url and title."))
        url, title = page.get("url"), page.get("title") or ""
        if not isinstance(url, str) or not isinstance(title, str):
            raise invalid("invalid_page", _("The page must be an object with url and title."))
        url = url.strip()
        try:
            if len(url) > MAX_PAGE_URL_CHARS:
                raise ValidationError("too long")
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            raise invalid("invalid_url", _("The page address must be an http(s) URL of at most 1000 characters.")) from None
    except ChatError:
        if strict:
            raise
        return None
    return url, CONTROL_CHARS_RE.sub("", title).strip()[:MAX_PAGE_TITLE_CHARS]


def _identified_customer(inbox, user_id, name):
    """The workspace's customer with this merchant user id, created on first sight (race-safe)."""
    customer = Customer.objects.filter(workspace_id=inbox.workspace_id, external_id=user_id).first()
    if customer is not None:
        return customer
    try:
        with transaction.atomic():
            return Customer.objects.create(workspace_id=inbox.workspace_id, first_inbox=inbox, external_id=user_id, name=name)
    except IntegrityError:  # another device of the same user created it a moment ago
        return Customer.objects.get(workspace_id=inbox.workspace_id, external_id=user_id)


def _apply_customer_changes(customer, changes):
    """Caller holds a transaction. Name, attributes (null removes a key) and tags (added, never
    removed: agents manage them); last_seen_at always. Returns the customer as stored."""
    now = timezone.now()
    if not changes:
        Customer.objects.filter(pk=customer.pk).update(last_seen_at=now)
        customer.last_seen_at = now
        return customer
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if "name" in changes:
        customer.name = changes["name"]
    if "attributes" in changes:
        merged = dict(customer.attributes or {})
        for key, value in changes["attributes"].items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        customer.attributes = merged
    customer.last_seen_at = now
    customer.save(update_fields=["name", "attributes", "last_seen_at"])
    if changes.get("tags"):
        _add_identity_tags(customer, changes["tags"])
    return customer


def _add_identity_tags(customer, names):
    from .models import Tag

    present = set(customer.tags.filter(name__in=names).values_list("name", flat=True))
    new = [name for name in names if name not in present]
    if not new:
        return
    customer.tags.add(*[Tag.objects.get_or_create(workspace_id=customer.workspace_id, name=name)[0] for name in new])
    actor = access.customer_actor(customer, customer.first_inbox_id)
    for name in new:
        _record_tag_change(customer, actor, added=name)


def _record_visit(customer_id, inbox_id, url, title):
    """Caller holds a transaction and has written the customer row (which serialises one
    customer's reports). The same page again within VISIT_DEDUPE_SECONDS is not recorded."""
    last = CustomerVisit.objects.filter(customer_id=customer_id).order_by("-created_at", "-pk").values_list("url", "created_at").first()
    if last and last[0] == url and timezone.now() - last[1] < timedelta(seconds=VISIT_DEDUPE_SECONDS):
        return False
    CustomerVisit.objects.create(customer_id=customer_id, inbox_id=inbox_id, url=url, title=title)
    return True


def record_visit(actor, page):
    """The widget reports a page the customer opened. Returns whether it was recorded (False: a repeat)."""
    if not actor.is_customer:
        raise forbidden()
    url, title = _clean_page(page, strict=True)
    with transaction.atomic():
        Customer.objects.filter(pk=actor.customer_id).update(last_seen_at=timezone.now())
        return _record_visit(actor.customer_id, actor.inbox_id, url, title)


def prechat_fields_of(inbox):
    """The inbox's pre-chat form with defaults filled in; none if the stored config is unusable."""
    try:
        validate_prechat_fields(inbox.prechat_fields)
    except ValidationError:
        return []
    return [
        {"key": f["key"], "label": f["label"], "type": f.get("type", "text"), "required": bool(f.get("required", False))}
        for f in inbox.prechat_fields
    ]


def update_profile(actor, answers):
    """The pre-chat form's answers: `name` goes to the customer's name, other keys the form defines
    to customer.attributes. Returns the customer."""
    if not actor.is_customer:
        raise forbidden()
    if not isinstance(answers, dict):
        raise invalid("invalid_fields", _("Send the form's answers as a JSON object."))
    inbox = Inbox.objects.get(pk=actor.inbox_id)
    fields = {f["key"]: f for f in prechat_fields_of(inbox)}
    unknown = sorted(str(key) for key in answers if key not in fields)
    if unknown:
        raise FieldErrors("unknown_fields", _("Fields not accepted here: %(fields)s") % {"fields": ", ".join(unknown[:30])},
                          {key: _("This form has no such field.") for key in unknown[:30]})
    errors, cleaned = {}, {}
    for key, field in fields.items():
        value = answers.get(key)
        if value is None:
            value = ""
        if not isinstance(value, str):
            errors[key] = _("Enter text.")
            continue
        limit = MAX_NAME_CHARS if key == "name" else MAX_PRECHAT_ANSWER_CHARS
        value = _clean_text(value, limit, lines=field["type"] == "textarea")
        if value is None:
            errors[key] = _("At most %(n)s characters.") % {"n": limit}
        elif not value:
            if field["required"]:
                errors[key] = _("This field is required.")
        elif field["type"] == "email" and not _is_email(value):
            errors[key] = _("Enter a valid e-mail address.")
        elif field["type"] == "tel" and not TEL_RE.match(value):
            errors[key] = _("Enter a phone number: digits, +, - and spaces, at most 32.")
        else:
            cleaned[key] = value
    if errors:
        raise FieldErrors("invalid_fields", _("Please check the highlighted fields."), errors)
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=actor.customer_id)
        if "name" in cleaned:
            customer.name = cleaned.pop("name")
        customer.attributes = {**(customer.attributes or {}), **cleaned}
        customer.last_seen_at = timezone.now()
        customer.save(update_fields=["name", "attributes", "last_seen_at"])
    return customer


def _is_email(value):
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def inbox_availability(inbox, now=None):
    """What the widget tells the visitor before they write, predicting what routing will do:
    outside business hours the chat becomes a message (routing.hours); with no agent serving the
    inbox online or busy, it becomes one only if the inbox says so, else it queues. Full agents
    still count as on duty (routing queues then). At most two queries."""
    from routing import hours
    from routing.actions import _serving_user_ids
    from routing.models import AgentPresence
    from routing.selection import AgentStatus

    if not hours.is_open(inbox.business_hours, now or timezone.now()):
        return {"state": "after_hours", "leave_message": True}
    on_duty = set(
        AgentPresence.objects.filter(workspace_id=inbox.workspace_id, status__in=[AgentStatus.ONLINE, AgentStatus.BUSY]).values_list("user_id", flat=True)
    )
    if on_duty and on_duty & _serving_user_ids(inbox.workspace_id, inbox.pk):
        return {"state": "open", "leave_message": False}
    return {"state": "nobody_online", "leave_message": inbox.leave_message_when_nobody_online}


def widget_inbox(inbox):
    """The inbox as the widget sees it (session answer and GET /api/v1/customer/inbox)."""
    return {
        "name": inbox.name,
        "greeting": inbox.widget_greeting,
        "prechat_fields": prechat_fields_of(inbox),
        "csat_enabled": inbox.csat_enabled,
        "availability": inbox_availability(inbox),
        # Help first: the widget shows a search box when the workspace has published articles.
        "help_center": _has_help_center(inbox.workspace_id),
    }


def _has_help_center(workspace_id):
    from knowledge.models import Article

    return Article.objects.filter(workspace_id=workspace_id, status=Article.Status.PUBLISHED).exists()


def widget_session(customer, inbox, token):
    """The answer to POST /api/v1/customer/session."""
    conversation = (
        Conversation.objects.filter(customer_id=customer.pk, inbox_id=inbox.pk, state__in=Conversation.OPEN_STATES).order_by("-pk").first()
    )
    return {
        "token": token,
        "customer_id": customer.pk,
        "inbox_id": inbox.pk,
        "customer": {"name": customer.name, "identified": customer.external_id is not None},
        "inbox": widget_inbox(inbox),
        "conversation": conversation_payload(conversation, for_customer=True) if conversation else None,
    }


def customer_inbox(actor):
    if not actor.is_customer:
        raise forbidden()
    return Inbox.objects.get(pk=actor.inbox_id)


def rate_conversation(actor, conversation_id, rating, comment=""):
    """The customer rates their finished conversation once; the agent who had it is credited."""
    if not actor.is_customer:
        raise forbidden(_("Only the customer can rate a conversation."))
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise invalid("invalid_rating", _("The rating must be a whole number from 1 to 5."))
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise invalid("invalid_comment", _("The comment must be text."))
    comment = _clean_text(comment, MAX_RATING_COMMENT_CHARS, lines=True)
    if comment is None:
        raise invalid("invalid_comment", _("The comment is too long (at most %(n)s characters).") % {"n": MAX_RATING_COMMENT_CHARS})
    already = ChatError("already_rated", _("You have already rated this conversation."), status=409)
    try:
        with transaction.atomic():
            conversation = access.get_conversation(actor, conversation_id, lock=True)
            if not Inbox.objects.filter(pk=conversation.inbox_id, csat_enabled=True).exists():
                raise ChatError("csat_disabled", _("Ratings are not collected in this chat."), status=403)
            if conversation.state not in RATABLE_STATES:
                raise ChatError("not_finished", _("A conversation can be rated once it is finished."), status=409)
            if SatisfactionRating.objects.filter(conversation=conversation).exists():
                raise already
            # One rating per conversation (unique): the backstop if two ratings race past the check.
            rated = SatisfactionRating.objects.create(
                conversation=conversation, customer_id=conversation.customer_id, agent_id=conversation.assignee_id,
                rating=rating, comment=comment,
            )
            ConversationEvent.record(conversation, ConversationEvent.Kind.RATED, actor, data={"rating": rating})
            notify_conversation(conversation)
    except IntegrityError:
        raise already from None
    return rated


def conversation_rating(actor, conversation_id):
    """The rating of a conversation the actor can see; 404 not_rated when there is none yet."""
    conversation = access.get_conversation(actor, conversation_id)
    rated = SatisfactionRating.objects.filter(conversation=conversation).first()
    if rated is None:
        raise ChatError("not_rated", _("This conversation has not been rated."), status=404)
    return rated


# --- the deflection bot's writes (knowledge.bot decides; these store and notify) ----------


def post_bot_message(conversation_id, body, *, msg_type=Message.Type.TEXT, attachments=(), event=None, event_data=None):
    """A bot line in a conversation still with the bot (a person may have taken it meanwhile:
    then nothing is posted and None is returned). `event` records what the bot did."""
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
        if conversation.state != Conversation.State.BOT:
            return None
        return post_automatic_reply(conversation, body, msg_type=msg_type, attachments=attachments, event=event, event_data=event_data)


def hand_off_to_human(conversation_id, *, actor=None, reason=""):
    """Bot → queue (routing assigns a person). The customer's button, a keyword or too many misses."""
    with transaction.atomic():
        if actor is not None:
            conversation = access.get_conversation(actor, conversation_id, lock=True)
        else:
            conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
        if conversation.state != Conversation.State.BOT:
            return conversation  # already with a person (or finished): nothing to do
        who = actor or access.Actor(SenderKind.BOT, conversation.workspace_id)
        now = timezone.now()
        Conversation.objects.filter(pk=conversation.pk).update(state=Conversation.State.QUEUED, queued_at=now, updated_at=now)
        ConversationEvent.record(conversation, ConversationEvent.Kind.HANDED_OFF, who, from_state=conversation.state,
                to_state=Conversation.State.QUEUED, data={"reason": reason})
        conversation.state, conversation.queued_at = Conversation.State.QUEUED, now
        notify_conversation(conversation)
        from routing.actions import route

        transaction.on_commit(lambda: route(conversation.pk))
    return conversation
