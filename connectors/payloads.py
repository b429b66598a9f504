"""Channel facts the agent console shows: which WeChat channel a conversation comes through, how
much of WeChat's reply window is left (hours since the customer's last message, replies since),
and how each agent message fared on its way out (queued / sent / failed with WeChat's reason).

Plain dicts, computed from ChannelAccount, ChannelUser and OutboundMessage rows; the console's
partials render them (connectors/templatetags/channels.py) and the JSON API may send them as is."""

import math
from datetime import timedelta

from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from chat.models import Inbox

from .models import CHANNEL_KINDS, ChannelAccount, ChannelUser, OutboundMessage

# Short names on the badge, as merchants call these channels.
BADGES = {
    Inbox.Kind.WECHAT_OA: gettext_lazy("Official Account"),
    Inbox.Kind.WECHAT_MP: gettext_lazy("Mini Program"),
    Inbox.Kind.WECOM_KF: gettext_lazy("WeChat Customer Service"),
}
def is_channel(inbox):
    return inbox.kind in CHANNEL_KINDS


def reply_window(account, channel_user, now=None):
    """{open, hours_left, minutes_left, replies_left, closes_at, text}: what is left of WeChat's
    rule for this customer. `text` is what the console shows, e.g. 还可回复 47 小时 / 5 条."""
    now = now or timezone.now()
    last = channel_user.last_inbound_at if channel_user is not None else None
    hours = account.reply_window_hours if account is not None else 48
    limit = account.replies_per_message if account is not None else 5
    closes_at = last + timedelta(hours=hours) if last is not None else None
    seconds = max(0, (closes_at - now).total_seconds()) if closes_at is not None else 0
    replies_left = max(0, limit - (channel_user.replies_since_inbound if channel_user is not None else 0))
    facts = {"open": bool(seconds) and replies_left > 0, "hours_left": math.floor(seconds / 3600),
             "minutes_left": math.ceil(seconds / 60), "replies_left": replies_left, "limit": limit,
             "closes_at": closes_at.isoformat() if closes_at is not None else None}
    if not seconds:
        facts["text"] = _("Reply window closed: the customer has to write first")
    elif not replies_left:
        facts["text"] = _("Reply limit reached: wait for the customer's next message")
    elif seconds < 3600:
        facts["text"] = _("%(minutes)s min / %(replies)s replies left") % {"minutes": facts["minutes_left"], "replies": replies_left}
    else:
        facts["text"] = _("%(hours)s h / %(replies)s replies left") % {"hours": facts["hours_left"], "replies": replies_left}
    return facts


def conversation_facts(conversation, now=None):
    """The channel facts of a conversation, or None for an inbox that is not a WeChat channel
    (no query then). Two small indexed reads for a WeChat conversation."""
    inbox = conversation.inbox
    if not is_channel(inbox):
        return None
    account = ChannelAccount.objects.filter(inbox_id=inbox.pk).first()
    channel_user = (ChannelUser.objects.filter(inbox_id=inbox.pk, customer_id=conversation.customer_id)  # as connectors.outbound picks it
                    .order_by(F("last_inbound_at").desc(nulls_last=True), "-pk").first())
    return {"kind": inbox.kind, "badge": str(BADGES[inbox.kind]), "connected": account is not None,
            "window": reply_window(account, channel_user, now)}


def delivery(outbound):
    """{state, label, errcode, error, text} of one OutboundMessage (None: not a channel message)."""
    if outbound is None:
        return None
    state = outbound.state
    labels = {OutboundMessage.State.QUEUED: _("Sending to WeChat…"), OutboundMessage.State.SENT: _("Delivered to WeChat"),
              OutboundMessage.State.FAILED: _("Not delivered")}
    text = ""
    if state == OutboundMessage.State.FAILED:
        # `error` is already in words (connectors.outbound.describe, at the time it failed); the code
        # is what WeChat's documentation and support speak of.
        text = outbound.error or _("WeChat did not accept it")
        if outbound.errcode is not None and str(outbound.errcode) not in text:
            text = f"{text} ({outbound.errcode})"
    elif state == OutboundMessage.State.QUEUED and outbound.error:
        text = _("trying again: %(error)s") % {"error": outbound.error}  # a transient failure, retried with backoff
    return {"state": state, "label": labels.get(state, state), "errcode": outbound.errcode, "error": outbound.error, "text": text,
            "message_id": outbound.message_id}


def deliveries(message_ids):
    """{message id: delivery()} for the agent messages among `message_ids` that went to a channel:
    one query for a whole page of messages."""
    ids = [pk for pk in message_ids if pk]
    if not ids:
        return {}
    rows = OutboundMessage.objects.filter(message_id__in=ids).only("message_id", "state", "errcode", "error")
    return {row.message_id: delivery(row) for row in rows}
