"""Agent (and bot) messages on their way to an outside channel, losing nothing.

`enqueue(conversation, message)`: lifecycle.flow calls it from message_stored, inside the
transaction that stores the message. In a channel inbox it checks the channel's reply rules
(connectors.rules: an agent outside them gets a 409 DomainError, the whole send rolls back and the
composer keeps the text; an automatic line is just not delivered), then writes the OutboundMessage
row and, through the scheduler lifecycle installed (`install_scheduler`), its delivery job, both
committing with the message or not at all.

`deliver(outbound_id)`: the delivery job (leased: it calls out) sends through the inbox kind's
Sender (`SENDERS`, filled by the channel modules with `register_sender`: connectors.wechat.oa for
Official Accounts and Mini Programs, connectors.wechat.kf for WeCom), records sent or failed with
the platform's code, and raises RetryLater on a transient failure so the job runner retries with
backoff. Permanent failures are not retried; the agent may `retry` a failed message.

Every state change is published to the inbox's consoles as an `outbound.state` event."""

import logging
import mimetypes
from dataclasses import dataclass, field
from urllib.parse import urljoin

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from chat import access, uploads
from chat.models import Inbox, Message, SenderKind
from chat.notify import history_scope
from helpdesk import realtime
from helpdesk.errors import DomainError, not_found

from . import rules
from .models import CHANNEL_KINDS, ChannelAccount, ChannelUser, OutboundMessage

log = logging.getLogger(__name__)

DELIVERED_SENDERS = (SenderKind.AGENT, SenderKind.BOT)  # system event lines stay in the console
EVENT = "outbound.state"

# Platform codes whose meaning the agent should read in their language (the rest show WeChat's errmsg).
KNOWN_ERRORS = {
    45015: gettext_lazy("WeChat refused the reply: the customer last wrote more than 48 hours ago (or unfollowed). "
                        "It can be sent when the customer writes again."),
    45002: gettext_lazy("WeChat refused the message: it is too long. Send it in shorter parts."),
    45047: gettext_lazy("WeChat refused the reply: too many replies since the customer's last message. "
                        "It can be sent when the customer writes again."),
    40003: gettext_lazy("WeChat does not know this customer (invalid openid)."),
    43004: gettext_lazy("The customer has unfollowed the official account."),
    48001: gettext_lazy("This WeChat account is not authorised to send customer service messages."),
}

SENDERS = {}  # inbox kind -> connectors.base.Sender
_scheduler = [None]


class RetryLater(Exception):
    """A transient failure: the delivery job is run again later (lifecycle.followups' backoff)."""


def register_sender(kind, sender):
    SENDERS[kind] = sender


def install_scheduler(schedule):
    """schedule(conversation, outbound): write the delivery job in the caller's transaction (lifecycle does this once)."""
    _scheduler[0] = schedule


def is_channel(inbox_id):
    """One indexed read, only for agents' and bots' messages (a cache by id would outlive an inbox
    whose kind an owner changes, or a reused id)."""
    return Inbox.objects.filter(pk=inbox_id, kind__in=CHANNEL_KINDS).exists()


# --- writing (inside the message's transaction) ------------------------------------------------


def enqueue(conversation, message):
    """The OutboundMessage for `message` (and its delivery job), or None when nothing goes out.
    Raises a DomainError (409) for an agent's message the channel's rules do not allow."""
    if message.is_private or message.sender_kind not in DELIVERED_SENDERS or not is_channel(conversation.inbox_id):
        return None
    if message.msg_type == Message.Type.EVENT:
        return None
    by_agent = message.sender_kind == SenderKind.AGENT
    account = ChannelAccount.objects.filter(inbox_id=conversation.inbox_id).first()
    channel_user = (ChannelUser.objects.filter(inbox_id=conversation.inbox_id, customer_id=conversation.customer_id)
                    .order_by(F("last_inbound_at").desc(nulls_last=True), "-pk").first())
    if account is None or channel_user is None:
        if by_agent:
            raise rules.not_reachable()
        return None
    try:
        rules.take_reply(account, channel_user.pk, timezone.now())
    except DomainError:
        if by_agent:
            raise  # the agent's send is refused: nothing stored, the composer keeps the text
        log.info("inbox %s: automatic line %s not delivered (outside WeChat's reply rules)", conversation.inbox_id, message.pk)
        return None
    outbound = OutboundMessage.objects.create(message=message, inbox_id=conversation.inbox_id, channel_user=channel_user)
    _schedule(conversation, outbound)
    _publish(conversation, outbound)
    return outbound


def _schedule(conversation, outbound):
    if _scheduler[0] is None:
        raise RuntimeError("no delivery scheduler installed (lifecycle installs it at start-up)")
    _scheduler[0](conversation, outbound)


def retry(actor, message_id):
    """Send a failed message again (an agent who may reply in its conversation). Counts as a reply
    under the channel's rules again. Returns the OutboundMessage."""
    conversation_id = (OutboundMessage.objects.filter(message_id=message_id)
                       .values_list("message__conversation_id", flat=True).first())
    if conversation_id is None:
        raise not_found(gettext_lazy("Message not found."))
    with transaction.atomic():
        conversation = access.get_conversation(actor, conversation_id, lock=True)
        access.require_reply_right(actor, conversation)
        outbound = OutboundMessage.objects.select_for_update().select_related("message", "channel_user").get(message_id=message_id)
        if outbound.state != OutboundMessage.State.FAILED:
            raise DomainError("not_failed", gettext_lazy("Only a message that could not be delivered can be sent again."), status=409)
        if outbound.message.recalled_at is not None:
            raise DomainError("recalled", gettext_lazy("This message was recalled."), status=409)
        account = ChannelAccount.objects.get(inbox_id=outbound.inbox_id)
        rules.take_reply(account, outbound.channel_user_id, timezone.now())
        OutboundMessage.objects.filter(pk=outbound.pk).update(state=OutboundMessage.State.QUEUED, errcode=None, error="")
        outbound.state, outbound.errcode, outbound.error = OutboundMessage.State.QUEUED, None, ""
        _schedule(conversation, outbound)
        _publish(conversation, outbound)
    return outbound


# --- delivering (the job; outside any transaction) ----------------------------------------------


def deliver(outbound_id, *, final=False):
    """Send one queued OutboundMessage. final: the job's last attempt (a transient failure then
    marks it failed, and the agent can retry it). Raises RetryLater on a transient failure."""
    outbound = (OutboundMessage.objects.select_related("message__conversation", "inbox", "channel_user")
                .filter(pk=outbound_id).first())
    if outbound is None or outbound.state != OutboundMessage.State.QUEUED:
        return outbound  # sent already, failed (the agent decides), or deleted with its conversation
    if outbound.message.recalled_at is not None:
        return _finish(outbound, OutboundMessage.State.FAILED, None, _("Recalled before it was delivered."))
    sender = SENDERS.get(outbound.inbox.kind)
    if sender is None:
        raise RetryLater(f"no sender registered for {outbound.inbox.kind}")
    result = sender.send(outbound)
    if result.ok:
        return _finish(outbound, OutboundMessage.State.SENT, None, "")
    error = describe(result.errcode, result.error)
    if result.transient and not final:
        _finish(outbound, OutboundMessage.State.QUEUED, result.errcode or None, error)
        raise RetryLater(f"{result.errcode}: {result.error}")
    return _finish(outbound, OutboundMessage.State.FAILED, result.errcode or None, error)


def describe(errcode, error):
    """What the agent reads about a failed delivery (in the active language)."""
    known = KNOWN_ERRORS.get(errcode)
    if known is not None:
        return str(known)
    if not errcode:
        return _("WeChat could not be reached (%(detail)s).") % {"detail": error} if error else _("WeChat could not be reached.")
    return _("WeChat refused the message (%(code)s: %(detail)s).") % {"code": errcode, "detail": error}


def _finish(outbound, state, errcode, error):
    fields = {"state": state, "errcode": errcode, "error": error[:300], "attempts": F("attempts") + 1}
    if state == OutboundMessage.State.SENT:
        fields["sent_at"] = timezone.now()
    # Conditional: a row an agent re-queued meanwhile, or another runner finished, is left alone.
    if OutboundMessage.objects.filter(pk=outbound.pk, state=OutboundMessage.State.QUEUED).update(**fields):
        outbound.state, outbound.errcode, outbound.error = state, errcode, error[:300]
        outbound.attempts += 1
        _publish(outbound.message.conversation, outbound)
    return outbound


def part_sent(outbound, count):
    """Record that the first `count` parts reached the channel (a later attempt resumes after them)."""
    OutboundMessage.objects.filter(pk=outbound.pk).update(parts_sent=count)
    outbound.parts_sent = count


def _publish(conversation, outbound):
    realtime.publish([(realtime.group_for_inbox(conversation.inbox_id), {
        "type": EVENT, "conversation_id": conversation.pk, "message_id": outbound.message_id,
        **state_payload(outbound)})], scope=history_scope(conversation))


def state_payload(outbound):
    return {"state": outbound.state, "errcode": outbound.errcode, "error": outbound.error}


def states_for(message_ids):
    """{message id: {"state", "errcode", "error"}} of the messages that went (or go) to a channel."""
    rows = OutboundMessage.objects.filter(message_id__in=list(message_ids)).values("message_id", "state", "errcode", "error")
    return {row.pop("message_id"): row for row in rows}


# --- what a message is made of, for the channel modules ----------------------------------------


@dataclass(frozen=True)
class Part:
    """One thing to send: "text" (text), "image" / "file" (attachment: an upload of this site or a
    remote URL), "link" (attachment with an absolute url; text: the description) or "page" (a
    card whose url is a path: a mini program page)."""

    kind: str
    text: str = ""
    attachment: dict = field(default_factory=dict)


def parts_of(message):
    """The parts of an agent or bot message, in the order the customer should read them."""
    attachments = [a for a in message.attachments if isinstance(a, dict) and a.get("url")]
    body = message.body.strip()
    if message.msg_type in (Message.Type.CARD, Message.Type.ARTICLE) and attachments:
        card = attachments[0]
        url = card["url"]
        kind = "link" if url.startswith(("https://", "http://")) else "page"
        return [Part(kind, body, card)]
    parts = []
    for item in attachments:
        parts.append(Part("image" if item.get("kind") == "image" or message.msg_type == Message.Type.IMAGE else "file", "", item))
    if body:
        # A caption after its image; a text message is its body.
        parts.append(Part("text", body))
    return parts


def absolute_url(url):
    """An address the customer's phone can open: absolute already, or on SITE_URL (None without it)."""
    if url.startswith(("https://", "http://")):
        return url
    base = settings.SITE_URL
    return urljoin(base, url) if base and url.startswith("/") else None


def attachment_bytes(attachment):
    """(bytes, file name, content type) of an attachment stored on this site, or None."""
    name = uploads.url_path(attachment.get("url"))
    if name is None:
        return None
    with default_storage.open(name, "rb") as f:
        data = f.read()
    filename = attachment.get("name") or name.rsplit("/", 1)[-1]
    return data, filename, attachment.get("content_type") or mimetypes.guess_type(name)[0] or "application/octet-stream"
