"""What a channel's user did, into the engine: `receive(inbox, item)`.

The sender becomes a Customer of the inbox's workspace through a ChannelUser (openid; a unionid
WeChat gives links the same person across the workspace's WeChat inboxes). A message is stored
through `chat.messages.send_message` as that customer, with client_msg_id "wx:<MsgId>": WeChat
retries an unanswered callback 3 times, and the engine stores a (sender, client_msg_id) once.
Events have no MsgId: an InboundEvent row (FromUserName + CreateTime + Event) makes each count once.

Every customer message or interaction event restarts the reply window the outbound side enforces
(ChannelUser.last_inbound_at, replies_since_inbound), before the message is stored, so an
automatic reply that follows the message's commit already sees the fresh window.

Nothing here calls WeChat: the callback must answer within WeChat's 5 s."""

import logging
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from chat.access import customer_actor
from chat.messages import send_message
from chat.models import Customer, Inbox
from helpdesk.errors import DomainError

from .models import ChannelUser, InboundEvent

log = logging.getLogger(__name__)

MESSAGE_KINDS = {"text", "image", "voice", "video", "file", "location", "link", "miniprogram"}
MEDIA_KINDS = {"image", "voice", "video", "file"}
# Events WeChat counts as the user interacting (they open the reply window): following, scanning
# a parameter QR code, a click-menu press, entering a mini program / WeCom customer service chat.
WINDOW_EVENTS = {"subscribe", "scan", "click", "user_enter_tempsession", "enter_session"}
ENTRY_TTL_SECONDS = 3600  # the enter-session event comes just before the first message
MEDIA_ID_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.=")


def receive(inbox, item, passive=None):
    """Store what `item` says in `inbox`. Returns the stored (or previously stored) Message, or None
    for an event, a duplicate event, an empty or unsupported item. Raises DomainError when the
    engine refuses the message (the caller logs it: a retry would be refused the same way).
    passive: a list the callback view passes; a text to answer in the callback response itself
    (WeChat's passive reply) is appended to it: today the welcome of a new follower, once per event."""
    if item.kind == "event":
        return _event(inbox, item, passive)
    if item.kind not in MESSAGE_KINDS:
        log.info("wechat inbox %s: skipped a message of unsupported type %r", inbox.pk, item.extra.get("msg_type", item.kind))
        return None
    body, msg_type, attachments = _render(inbox, item)
    if not body.strip() and not attachments:
        log.info("wechat inbox %s: skipped an empty %s message", inbox.pk, item.kind)
        return None
    channel_user = channel_user_for(inbox, item)
    _open_window(channel_user, item.sent_at)
    actor = customer_actor(channel_user.customer, inbox.pk)
    entry_page = item.entry_page or cache.get(_entry_key(inbox, item.external_id)) or ""
    client_msg_id = f"wx:{item.dedupe_key}"
    try:
        message, _created = send_message(actor, client_msg_id=client_msg_id, body=body, msg_type=msg_type,
                                         attachments=attachments, entry_page=entry_page)
    except DomainError as exc:
        if exc.code != "invalid_attachments" or not attachments:
            raise
        # The engine accepts only this workspace's uploads from a customer: until it also accepts
        # channel media URLs the message is kept as text naming the media address.
        message, _created = send_message(actor, client_msg_id=client_msg_id, msg_type="text", entry_page=entry_page,
                                         body=_media_fallback(item, attachments[0]["url"], body))
    return message


def channel_user_for(inbox, item):
    """The ChannelUser (with its customer) of item.external_id in this inbox, created with a new
    customer (or, by unionid, the workspace's customer already known from another WeChat inbox)."""
    found = ChannelUser.objects.select_related("customer").filter(inbox=inbox, external_id=item.external_id).first()
    if found is not None:
        if item.union_id and found.union_id != item.union_id:
            ChannelUser.objects.filter(pk=found.pk).update(union_id=item.union_id)
            found.union_id = item.union_id
        return found
    try:
        with transaction.atomic():
            customer = _customer_by_union(inbox, item.union_id) or Customer.objects.create(
                workspace_id=inbox.workspace_id, first_inbox=inbox, name=default_name(item.external_id))
            return ChannelUser.objects.create(inbox=inbox, customer=customer, external_id=item.external_id, union_id=item.union_id)
    except IntegrityError:
        # A concurrent retry of the same callback created them first (the customer rolled back with us).
        return ChannelUser.objects.select_related("customer").get(inbox=inbox, external_id=item.external_id)


def default_name(external_id):
    """What agents call a WeChat user until someone names them: recognisable, never the whole openid."""
    return _("WeChat user %(suffix)s") % {"suffix": external_id[-4:]}


def _customer_by_union(inbox, union_id):
    if not union_id:
        return None
    other = (ChannelUser.objects.select_related("customer")
             .filter(union_id=union_id, inbox__workspace_id=inbox.workspace_id).order_by("pk").first())
    return other.customer if other is not None else None


def _open_window(channel_user, sent_at):
    """Restart the reply window at the message's time. A retry of the same message carries the same
    CreateTime and so does not reset the reply count again."""
    now = timezone.now()
    at = min(datetime.fromtimestamp(sent_at, UTC), now) if sent_at > 0 else now
    ChannelUser.objects.filter(pk=channel_user.pk).filter(Q(last_inbound_at__isnull=True) | Q(last_inbound_at__lt=at)).update(
        last_inbound_at=at, replies_since_inbound=0)


def _entry_key(inbox, external_id):
    return f"connectors:entry:{inbox.pk}:{external_id}"


# --- events -------------------------------------------------------------------------------------


def _event(inbox, item, passive=None):
    with transaction.atomic():
        try:
            with transaction.atomic():
                InboundEvent.objects.create(inbox=inbox, key=item.dedupe_key[:200])
        except IntegrityError:
            log.info("wechat inbox %s: event %s already handled", inbox.pk, item.event)
            return None
        if item.event == "unsubscribe":
            return None  # kept: their chats and messages stay; replies will fail with WeChat's code
        channel_user = channel_user_for(inbox, item)
        if item.event in WINDOW_EVENTS:
            _open_window(channel_user, item.sent_at)
    if item.entry_page:
        # The conversation starts with the next message: that is when the entry page is recorded.
        cache.set(_entry_key(inbox, item.external_id), item.entry_page[:1000], ENTRY_TTL_SECONDS)
    if item.event == "subscribe" and _welcome_on_subscribe(inbox):
        # A follow starts no conversation, so no engine message: the welcome line goes back in the
        # callback response (a passive reply, free of the 48 h / 5-reply rules). Past the
        # InboundEvent above, so a retried subscribe is answered "success", not welcomed twice.
        welcome = (inbox.widget_greeting or "").strip()
        if welcome and passive is not None:
            passive.append(welcome)
    elif item.event not in WINDOW_EVENTS:
        log.info("wechat inbox %s: event %r recorded, nothing follows it", inbox.pk, item.event)
    return None


def _welcome_on_subscribe(inbox):
    account = getattr(inbox, "channel_account", None)
    return bool(account and account.welcome_on_subscribe and inbox.kind == Inbox.Kind.WECHAT_OA)


# --- how each kind is stored ------------------------------------------------------------------


def _clean(text):
    return (text or "").replace("\x00", "")[: settings.CHAT["MAX_BODY_CHARS"]]


def media_url(inbox, media_id):
    """The product's address of a channel media file (connectors.views.media fetches it from WeChat)."""
    return reverse("connectors:media", args=[inbox.public_key, media_id])


def _render(inbox, item):
    """(body, msg_type, attachments) for a message item. Links, places and cards are readable text
    (the address kept as typed, never rendered as HTML: the console shows text)."""
    extra = item.extra
    if item.kind == "text":
        return _clean(item.text), "text", []
    if item.kind in MEDIA_KINDS:
        media_id = item.media_id
        if not media_id or len(media_id) > 200 or set(media_id) - MEDIA_ID_CHARS:
            return _clean(_media_label(item)), "text", []
        names = {"image": _("image"), "voice": _("voice message"), "video": _("video"), "file": _("file")}
        fmt = item.media_format or {"image": "jpg", "voice": "amr", "video": "mp4", "file": ""}[item.kind]
        name = f"{names[item.kind]}.{fmt}" if fmt else (item.extra.get("name") or names[item.kind])
        attachment = {"url": media_url(inbox, media_id), "name": name[:255], "size": 0}
        body = _clean(item.text) if item.kind == "voice" else ""  # a voice message's speech recognition, when on
        return body, ("image" if item.kind == "image" else "file"), [attachment]
    if item.text:
        return _clean(item.text), "text", []  # a channel that rendered it already
    if item.kind == "location":
        body = _("Location: %(label)s (%(lat)s, %(lng)s)") % {
            "label": extra.get("label") or _("no name"), "lat": extra.get("lat", ""), "lng": extra.get("lng", "")}
    elif item.kind == "link":
        body = _("Link: %(title)s") % {"title": extra.get("title", "")}
        body = "\n".join(part for part in (body, extra.get("description", ""), extra.get("url", "")) if part)
    else:  # miniprogram
        body = _("Mini program page: %(title)s") % {"title": extra.get("title", "")}
        body = "\n".join(part for part in (body, extra.get("pagepath", "")) if part)
    return _clean(body), "text", []


def _media_label(item):
    return {"image": _("[Image]"), "voice": _("[Voice message]"), "video": _("[Video]"), "file": _("[File]")}[item.kind]


def _media_fallback(item, url, body):
    return _clean("\n".join(part for part in (f"{_media_label(item)} {url}", body) if part))
