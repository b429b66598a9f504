"""Messages: validate at the edge, store at the next seq inside one short transaction, publish
after commit.

Delivery guarantees live here:
- seq is taken from the conversation row while it is locked, in the same transaction as the
  insert, so seqs are gap-free and unique per conversation;
- a send carrying a client_msg_id already stored for that sender returns the stored message
  and stores nothing (unique constraint as the backstop);
- callers acknowledge only after these functions return, i.e. after commit.

What follows a stored message (sensitive words, auto-replies, the bot, routing a new chat,
Web Push) is the lifecycle's business: the engine tells it through chat.hooks."""

import re
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.db.models.functions import Greatest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from helpdesk import realtime
from helpdesk.errors import DomainError, forbidden, invalid
from helpdesk.validation import is_int

from . import access, blocks, customers, fast_send, hooks, uploads
from .models import Conversation, ConversationEvent, Customer, Inbox, Message, Participant, ReadState, SenderKind
from .notify import history_scope, notify_conversation, notify_message
from .states import wake

CLIENT_MSG_ID_RE = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")


CUSTOMER_MESSAGE_TYPES = {Message.Type.TEXT, Message.Type.IMAGE, Message.Type.FILE}


AGENT_MESSAGE_TYPES = {Message.Type.TEXT, Message.Type.IMAGE, Message.Type.FILE, Message.Type.CARD, Message.Type.ARTICLE}


MAX_ATTACHMENTS = 10


def _limits():
    return settings.CHAT


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
        raise DomainError("body_too_long", _("The message is too long (at most %(limit)s characters).") % {"limit": limit}, status=413)
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
        if not isinstance(url, str) or len(url) > 2000:
            raise invalid("invalid_attachments", _("Each attachment needs an http(s) or site-relative url."))
        name = item.get("name", "")
        size = item.get("size", 0)
        if not isinstance(name, str) or not is_int(size) or size < 0:
            raise invalid("invalid_attachments", _("Attachment name must be text and size a non-negative integer."))
        # Files and images are loaded by the other side's browser: only files uploaded to this workspace
        # (POST /api/v1/uploads) or hosts the installation allows. Customers attach uploads only.
        # Cards and articles are links a person chooses to open: http(s) or a path on this site.
        stored_type = uploads.type_for_url(url, actor.workspace_id)
        if stored_type is None and actor.is_customer and url.startswith(uploads.CHANNEL_MEDIA_PREFIX):
            stored_type = uploads.channel_media_type(url, Inbox.objects.filter(pk=actor.inbox_id).first(), name if isinstance(name, str) else "")
        if stored_type is None:
            if actor.is_customer:
                raise invalid("invalid_attachments", _("Only files uploaded to this chat can be attached, not links."))
            link = msg_type in (Message.Type.CARD, Message.Type.ARTICLE)
            if not (uploads.is_allowed_remote(url) or (link and uploads.is_link(url))):
                raise invalid("invalid_attachments", _("Attach files uploaded to this workspace; other addresses only as links in a card."))
        extra = {"content_type": stored_type[0], "kind": stored_type[1]} if stored_type else {}
        image = item.get("image")
        if image is not None:
            if not isinstance(image, str) or not (uploads.type_for_url(image, actor.workspace_id) or uploads.is_allowed_remote(image)):
                raise invalid("invalid_attachments", _("A card's image must be a file uploaded to this workspace."))
            extra["image"] = image
        for key in ("width", "height"):
            value = item.get(key)
            if is_int(value) and 0 < value < 1_000_000:
                extra[key] = value
        cleaned.append({"url": url, "name": name[:255], "size": size, **extra})
    return cleaned


def _clean_type(msg_type, actor):
    allowed = CUSTOMER_MESSAGE_TYPES if actor.is_customer else AGENT_MESSAGE_TYPES
    if msg_type not in allowed:
        raise invalid("invalid_type", _("Unsupported message type."))
    return Message.Type(msg_type)


def _vip_level(customer_id):
    """The queue priority of a new conversation: the level an agent set, else the merchant's signed
    identity attribute `vip_level` (0-9): chat.customers.queue_level."""
    return customers.queue_level(customer_id)


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
    hooks.listener().conversation_opening(conversation)
    return conversation


def _customer_target(actor, conversation_id, entry_page):
    """(conversation, started) for a customer's send: the one named, else their open one in this
    inbox, else a new one (started)."""
    if conversation_id is not None:
        return access.get_conversation(actor, conversation_id, lock=True), False
    Customer.objects.select_for_update().filter(pk=actor.customer_id).first()
    conversation = (
        Conversation.objects.select_for_update()
        .filter(customer_id=actor.customer_id, inbox_id=actor.inbox_id, state__in=Conversation.OPEN_STATES)
        .order_by("-pk")
        .first()
    )
    return (conversation, False) if conversation else (_start_conversation(actor, actor.inbox_id, entry_page), True)


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
    message = None if is_private else fast_send.send(actor, client_msg_id=client_msg_id, body=body, msg_type=msg_type,
                                                     conversation_id=conversation_id, attachments=attachments)
    if message is not None:
        notify_message(message)  # committed already: published at once
        return message, True
    try:
        with transaction.atomic():
            # Looked up before the target is chosen: a retry whose ack was lost may arrive after the
            # conversation was resolved, and must find the original rather than open a new one.
            existing = sent_before(actor, client_msg_id)
            if existing is not None:
                return existing, False
            if actor.is_customer and blocks.is_blocked(actor.customer_id):
                raise blocks.refused()  # nothing stored, no conversation opened, nothing routed
            started = False
            if actor.is_customer:
                conversation, started = _customer_target(actor, conversation_id, entry_page)
            else:
                conversation = access.get_conversation(actor, conversation_id, lock=True)
                access.require_reply_right(actor, conversation)
            if conversation.state == Conversation.State.CLOSED:
                raise DomainError("conversation_closed", _("This conversation is closed."), status=409)
            listener = hooks.listener()
            # Screened before anything is stored (a refusal rolls back even a new conversation).
            body, findings = listener.screen_message(conversation, actor, body, is_private)
            message = _append(conversation, actor, client_msg_id=client_msg_id, body=body,
                              msg_type=msg_type, attachments=attachments, is_private=is_private, findings=findings)
            if started:  # after the first message: what follows (routing's line) is published after it
                hooks.listener().conversation_started(conversation)
            return message, True
    except IntegrityError:
        # A concurrent retry of the same send won the race: return what it stored.
        existing = sent_before(actor, client_msg_id)
        if existing is None:
            raise
        return existing, False


def may_send_on_loop(actor, *, msg_type="text", attachments=None, is_private=False, conversation_id=None, **_send):
    """Whether send_message_on_loop may take this send: a customer's text, or an agent's text into a
    named conversation (not a note), on a database it serves."""
    return ((actor.is_customer or actor.is_agent and conversation_id is not None) and msg_type == Message.Type.TEXT
            and attachments in (None, []) and is_private is False and fast_send.serves_loop())


async def send_message_on_loop(actor, *, client_msg_id, body="", msg_type="text", conversation_id=None, attachments=None, is_private=False,
                               entry_page=""):
    """send_message's commonest cases on the event loop, with no database thread: a customer's plain
    text into their open conversation, an agent's reply in their own chat (chat.fast_send.send_on_loop).
    Returns (message, True), or None when the send must go to send_message (nothing was stored). Bad
    input raises as there."""
    if not may_send_on_loop(actor, msg_type=msg_type, attachments=attachments, is_private=is_private, conversation_id=conversation_id):
        return None
    message = await fast_send.send_on_loop(actor, client_msg_id=_clean_client_msg_id(client_msg_id), body=_clean_body(body, msg_type),
                                           msg_type=Message.Type.TEXT, conversation_id=conversation_id, attachments=[])
    if message is None:
        return None
    notify_message(message)  # committed already: published at once
    return message, True


def sent_before(actor, client_msg_id):
    """This sender's message with this client id, in any conversation (unique per sender)."""
    existing = Message.objects.filter(sender_key=actor.key, client_msg_id=client_msg_id).select_related("conversation").first()
    if existing is not None and existing.conversation.workspace_id != actor.workspace_id:
        # The same person in another workspace: never hand that workspace's message over here.
        raise invalid("invalid_client_msg_id", _("This client_msg_id was already used; generate a new one for every message."))
    return existing


def _append(conversation, actor, *, body, msg_type=Message.Type.TEXT, client_msg_id="", attachments=(), is_private=False, findings=None):
    """Insert one message at the next seq. Caller holds the conversation row lock inside a transaction.
    A customer writing into a snoozed conversation wakes it; into a resolved one, reopens it."""
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
    if actor.is_agent and conversation.assignee_id != actor.user_id:
        Participant.add(conversation.pk, actor.user_id)  # the assignee was added when assigned
    if actor.is_agent and not is_private:
        if conversation.first_response_at is None:
            changes["first_response_at"] = conversation.first_response_at = now
            ConversationEvent.record(conversation, ConversationEvent.Kind.FIRST_RESPONSE, actor, data={"seq": seq})
    listener = hooks.listener()
    if actor.is_customer and conversation.state == Conversation.State.PENDING and conversation.snoozed_until:
        changes.update(wake(conversation, actor))  # the customer wrote: snooze over
        notify_conversation(conversation)
    if actor.is_customer and conversation.state == Conversation.State.RESOLVED:
        # A customer writing into a resolved conversation reopens it (it goes back to the queue).
        ConversationEvent.record(conversation, ConversationEvent.Kind.STATE_CHANGED, actor, from_state=conversation.state, to_state=Conversation.State.QUEUED)
        changes["state"] = conversation.state = Conversation.State.QUEUED
        changes["resolved_at"] = conversation.resolved_at = None
        changes["assignee"] = conversation.assignee = None
        notify_conversation(conversation)
        listener.state_changed(conversation, Conversation.State.RESOLVED, Conversation.State.QUEUED, actor)
    Conversation.objects.filter(pk=conversation.pk).update(**changes)
    message.conversation = conversation
    notify_message(message)
    listener.message_stored(conversation, message, findings)
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


def post_bot_message(conversation_id, body, *, msg_type=Message.Type.TEXT, attachments=(), event=None, event_data=None):
    """A bot line in a conversation still with the bot (a person may have taken it meanwhile:
    then nothing is posted and None is returned). `event` records what the bot did."""
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
        if conversation.state != Conversation.State.BOT:
            return None
        return post_automatic_reply(conversation, body, msg_type=msg_type, attachments=attachments, event=event, event_data=event_data)


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


def peer_read_seq(actor, conversation):
    """How far the other side has read (read receipts): for a customer, the furthest any agent has
    read; for an agent, how far the customer has. One query."""
    if actor.is_customer:
        seq = ReadState.objects.filter(conversation=conversation, participant_key__startswith="u:").aggregate(m=Max("last_read_seq"))["m"]
    else:
        seq = ReadState.objects.filter(conversation=conversation, participant_key=f"c:{conversation.customer_id}").values_list(
            "last_read_seq", flat=True).first()
    return seq or 0


def resume_page(actor, conversation_id, *, after_seq=0, limit=None):
    """A resume answer: fetch_messages plus the other side's read position, which a client that
    missed `read` events (the layer drops them, or it was offline) takes from here."""
    messages, has_more, conversation = fetch_messages(actor, conversation_id, after_seq=after_seq, limit=limit)
    return messages, has_more, conversation, peer_read_seq(actor, conversation)


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


def mark_read(actor, conversation_id, seq):
    if not is_int(seq) or seq < 0:
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
        realtime.publish([(realtime.group_for_inbox(conversation.inbox_id), event)], scope=history_scope(conversation))
        realtime.publish([(realtime.group_for_customer(conversation.customer_id), event)])
    return seq


def recall_message(actor, message_id):
    """The sender recalls their own message within the recall window; the seq stays, the content goes."""
    window = timedelta(seconds=_limits()["RECALL_WINDOW_SECONDS"])
    with transaction.atomic():
        message = Message.objects.select_for_update().filter(pk=message_id if is_int(message_id) else -1).first()
        if message is None or message.sender_key != actor.key:
            raise DomainError("not_found", _("Message not found."), status=404)
        access.get_conversation(actor, message.conversation_id)
        if message.recalled_at is None:
            if timezone.now() - message.created_at > window:
                raise DomainError("recall_expired", _("This message can no longer be recalled."), status=409)
            message.recalled_at = timezone.now()
            message.save(update_fields=["recalled_at"])
            ConversationEvent.record(message.conversation, ConversationEvent.Kind.MESSAGE_RECALLED, actor, data={"seq": message.seq})
            notify_message(message, "message.updated")
    return message
