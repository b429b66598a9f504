"""WeChat's reply rules, checked before an agent's message is stored: a customer may be answered
within `reply_window_hours` of their last message, at most `replies_per_message` times per message
(ChannelAccount: WeChat has changed these before). Outside them WeChat would refuse the send
(45015, 45047) long after the agent moved on; refusing at once keeps the text in the agent's
composer and stores nothing.

The count is taken with one conditional UPDATE on the ChannelUser row, so two agents replying at
the same moment cannot both take the last reply. The inbound side (connectors.inbound) sets
last_inbound_at and resets replies_since_inbound on every customer message."""

from datetime import timedelta

from django.db.models import F
from django.utils.translation import gettext_lazy as _

from helpdesk.errors import DomainError

from .models import ChannelUser

WINDOW_CLOSED = "reply_window_closed"
LIMIT_REACHED = "reply_limit_reached"
NOT_REACHABLE = "channel_user_unknown"


def window_closed(hours):
    return DomainError(WINDOW_CLOSED, _(
        "WeChat only lets you reply for %(hours)s h after the customer's last message. Your text was not sent; "
        "it is kept so you can send it when the customer writes again.") % {"hours": hours}, status=409)


def limit_reached(count):
    return DomainError(LIMIT_REACHED, _(
        "WeChat allows at most %(count)s replies to each customer message, and they have been sent. Your text was not sent; "
        "it is kept so you can send it when the customer writes again.") % {"count": count}, status=409)


def not_reachable():
    return DomainError(NOT_REACHABLE, _("This customer cannot be reached through this WeChat inbox "
                                        "(they have not written to it). Nothing was sent."), status=409)


def allows(account, channel_user, now):
    """Whether a reply may go out now (no side effect): the console can grey out the composer."""
    if channel_user.last_inbound_at is None or channel_user.last_inbound_at < now - timedelta(hours=account.reply_window_hours):
        return False
    return channel_user.replies_since_inbound < account.replies_per_message


def take_reply(account, channel_user_id, now):
    """Count one reply against the rules, or raise the DomainError that says which rule refuses it.
    Caller holds the transaction that stores the message (a refusal rolls it back)."""
    since = now - timedelta(hours=account.reply_window_hours)
    taken = ChannelUser.objects.filter(pk=channel_user_id, last_inbound_at__gte=since,
                                       replies_since_inbound__lt=account.replies_per_message) \
        .update(replies_since_inbound=F("replies_since_inbound") + 1)
    if taken:
        return
    last = ChannelUser.objects.filter(pk=channel_user_id).values_list("last_inbound_at", flat=True).first()
    if last is None or last < since:
        raise window_closed(account.reply_window_hours)
    raise limit_reached(account.replies_per_message)

