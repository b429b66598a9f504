"""WeCom 微信客服 (kf): pulling what customers sent, the welcome line, sending, and WeCom's session state.

WeCom's callback only says "something new for this customer-service account" (kf_msg_or_event,
with a token valid 10 minutes); the messages are pulled with kf/sync_msg from a cursor. One batch
is one transaction: the account's KfCursor row is locked, the batch pulled, every customer message
stored (connectors.inbound.receive, idempotent by msgid), the cursor advanced, commit. A second
process waits on the lock and then pulls from the advanced cursor, so no batch is consumed twice or
skipped. The pull runs while the lock is held (on SQLite: the database's write lock) because the
lock IS the exactly-once guarantee; TIMEOUT bounds how long anyone waits on it. The worker loop
also pulls every account every WECOM_KF_SYNC_SECONDS (sync_all, SKIP LOCKED: never waiting on a
running sync), so messages a dead process's sync left behind do not wait for the next callback.

A welcome_code (enter_session) is valid 20 seconds and once: it is answered right after its
batch commits, from the sync itself, never through a queue.

WeCom lets the API send (kf/send_msg) only while its session is 0 (new) or 1 (智能助手). Agents
of this helpdesk reply through the API, so an open conversation keeps WeCom's session at 1
whoever serves it, and a finished one ends it (4). 2 (待接入池) and 3 (人工接待) would hand the
customer to WeCom's own client, where these agents cannot answer (errcode 95018), and 3 needs a
WeCom servicer userid. The lifecycle asks for this after the commit, as a follow-up job
(service_state_job)."""

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from chat.models import Conversation, Inbox
from helpdesk.errors import DomainError

from .. import inbound
from .. import outbound as outbound_module
from ..base import InboundItem, Sender
from ..models import ChannelAccount, ChannelUser, KfCursor, OutboundMessage
from .client import CONNECT_TIMEOUT, READ_TIMEOUT, WeChatError, for_account
from .sending import send_parts

log = logging.getLogger(__name__)

ORIGIN_CUSTOMER, ORIGIN_EVENT, ORIGIN_SERVICER = 3, 4, 5
STATE_NEW, STATE_API, STATE_POOL, STATE_HUMAN, STATE_ENDED = 0, 1, 2, 3, 4
WELCOME_SECONDS = 20  # a welcome_code's life (WeCom: 20 s, usable once)
BATCH_LIMIT = 1000  # kf/sync_msg's maximum
VOICE_FORMAT = "amr"  # voice_format 0 (the default) returns AMR

# Where WeCom's session should be for each conversation state (see the module docstring).
KF_STATE_FOR = {
    Conversation.State.BOT: STATE_API,
    Conversation.State.QUEUED: STATE_API,
    Conversation.State.ASSIGNED: STATE_API,
    Conversation.State.PENDING: STATE_API,
    Conversation.State.RESOLVED: STATE_ENDED,
    Conversation.State.CLOSED: STATE_ENDED,
}
# The changes WeCom accepts through service_state/trans that we ask for (from → to).
_ALLOWED = {STATE_API: {STATE_NEW}, STATE_ENDED: {STATE_NEW, STATE_API, STATE_POOL, STATE_HUMAN}}
INVALID_STATE_CHANGE = 95016  # service_state/trans: WeCom does not allow that change now

# msg_send_fail's fail_type: what the agent sees on the failed outbound message.
_FAIL_REASONS = {
    4: lambda: _("The customer's 48-hour window has passed."),
    5: lambda: _("The WeCom session was closed."),
    6: lambda: _("More than 5 replies since the customer's last message."),
    10: lambda: _("The customer refuses messages from this account."),
}


# --- the callback and the sync --------------------------------------------------------------


_executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="wecom-kf")


def on_callback(inbox, token, open_kfid=""):
    """The callback view, for a kf_msg_or_event: pull in the background so WeCom gets its answer
    at once (it waits 5 s). Returns the Future (tests wait on it); None when the inbox has no
    WeCom account or the event names another customer-service account."""
    account = ChannelAccount.objects.filter(inbox=inbox, inbox__kind=Inbox.Kind.WECOM_KF).first()
    if account is None or (open_kfid and account.open_kfid and open_kfid != account.open_kfid):
        return None
    return _executor.submit(_sync_on_worker, account.pk, token)


def _sync_on_worker(account_id, token):
    close_old_connections()
    try:
        return sync(ChannelAccount.objects.select_related("inbox").get(pk=account_id), token)
    except Exception:  # logged: the next callback (the customer's next message) pulls from the same cursor
        log.exception("wecom kf: sync of account %s failed", account_id)
        raise
    finally:
        close_old_connections()


@dataclass
class SyncResult:
    batches: int = 0
    stored: int = 0
    welcomed: int = 0
    skipped: int = 0  # customer messages the engine refused (sensitive words...): logged, not retried
    busy: bool = False  # skip_locked: another sync held the cursor, which pulls what this one would have


def sync_interval():
    """Seconds between the worker's backstop syncs (WECOM_KF_SYNC_SECONDS, default 60; 0: off)."""
    return float(settings.WECOM_KF_SYNC_SECONDS)


def sync_all():
    """The worker's backstop (lifecycle.worker): pull every kf account. A callback's sync runs on an
    in-memory pool; if its process dies mid-sync nothing is lost (the cursor did not move) but the
    messages would wait for the customer's next callback. Without a callback token WeCom rate-limits
    sync_msg harder, hence a slow period. An account whose cursor another sync holds is skipped,
    never waited on: that sync pulls the same messages. Returns the number of messages stored."""
    stored = 0
    accounts = ChannelAccount.objects.select_related("inbox").filter(inbox__kind=Inbox.Kind.WECOM_KF).exclude(open_kfid="")
    for account in accounts.order_by("pk"):
        try:
            stored += sync(account, skip_locked=True).stored
        except Exception:  # one account's bad Secret or WeCom outage must not starve the others
            log.exception("wecom kf: backstop sync of account %s failed", account.pk)
    return stored


@dataclass(frozen=True)
class _Welcome:
    code: str
    external_id: str
    sent_at: int


@dataclass
class _Batch:
    has_more: bool = False
    stored: int = 0
    skipped: int = 0
    welcomes: list = field(default_factory=list)


def sync(account, token="", skip_locked=False):
    """Pull every batch waiting for this account, one transaction per batch. Returns a SyncResult.
    Raises WeChatError when WeCom refuses or cannot be reached: that batch is not consumed.
    skip_locked: stop (result.busy) instead of waiting when another sync holds the cursor."""
    KfCursor.objects.get_or_create(account=account)
    result = SyncResult()
    while True:
        batch = _consume_batch(account, token, skip_locked)
        if batch is None:
            result.busy = True
            return result
        result.batches += 1
        result.stored += batch.stored
        result.skipped += batch.skipped
        # Right after the commit: the code lives 20 s, and only the process that consumed the batch has it.
        result.welcomed += sum(send_welcome(account, welcome) for welcome in batch.welcomes)
        if not batch.has_more:
            return result


def _consume_batch(account, token, skip_locked=False):
    """One batch consumed, or None (skip_locked) when another sync holds the cursor row."""
    with transaction.atomic():
        # SKIP LOCKED on PostgreSQL; a no-op on SQLite, where the IMMEDIATE transaction's write lock serializes.
        row = KfCursor.objects.select_for_update(skip_locked=skip_locked).filter(account=account).first()
        if row is None:
            return None
        # The HTTP call happens under the row lock on purpose (the lock makes the batch consumed
        # once); the client's timeouts bound it, so a slow WeCom holds others up for seconds, not forever.
        data = for_account(account).sync_msg(account.open_kfid, cursor=row.cursor, token=token, limit=BATCH_LIMIT)
        batch = _Batch(has_more=bool(data.get("has_more")))
        for msg in data.get("msg_list") or []:
            _take(account, msg, batch)
        if data.get("next_cursor"):
            row.cursor = data["next_cursor"]
            row.save(update_fields=["cursor", "updated_at"])
    return batch


def _take(account, msg, batch):
    if msg.get("msgtype") == "event":
        _take_event(account, msg, batch)
    elif msg.get("origin") == ORIGIN_CUSTOMER:  # not a servicer's reply from WeCom's own client (5)
        batch.stored += _store(account, to_item(msg), batch)


def _store(account, item, batch):
    try:
        with transaction.atomic():  # a savepoint: one refused message must not undo the batch
            inbound.receive(account.inbox, item)
        return 1
    except (OperationalError, InterfaceError):
        raise  # the database is away: the whole batch stays unconsumed
    except DomainError as error:
        log.warning("wecom kf: %s refused: %s", item.dedupe_key, error)
    except Exception:  # one malformed message must not block the account's cursor forever
        log.exception("wecom kf: %s could not be stored", item.dedupe_key)
    batch.skipped += 1
    return 0


def _take_event(account, msg, batch):
    event = msg.get("event") or {}
    kind = event.get("event_type")
    if kind == "enter_session":
        # Through inbound too: it opens the reply window and keeps the scene for the first message.
        item = InboundItem(kind="event", event=kind, external_id=event.get("external_userid", ""),
                           dedupe_key=f"kf:{msg.get('msgid', '')}", entry_page=event.get("scene_param") or event.get("scene") or "",
                           welcome_code=event.get("welcome_code", ""), sent_at=int(msg.get("send_time") or 0))
        _store(account, item, batch)
        if item.welcome_code:
            batch.welcomes.append(_Welcome(item.welcome_code, item.external_id, item.sent_at))
    elif kind == "msg_send_fail":
        _mark_failed(account, event)
    # session_status_change (a servicer took or ended the chat in WeCom's client) and the rest:
    # nothing follows here; the helpdesk's own state stays what its agents made it.


def _mark_failed(account, event):
    """WeCom accepted a send but could not deliver it: our msgid is "hd<OutboundMessage id>-<part>"."""
    outbound_id = (event.get("fail_msgid") or "")[2:].split("-")[0]
    if not (event.get("fail_msgid") or "").startswith("hd") or not outbound_id.isdigit():
        return
    fail_type = int(event.get("fail_type") or 0)
    reason = _FAIL_REASONS.get(fail_type)
    error = reason() if reason else _("WeChat could not deliver this message (reason %(code)s).") % {"code": fail_type}
    OutboundMessage.objects.filter(pk=int(outbound_id), inbox_id=account.inbox_id).update(
        state=OutboundMessage.State.FAILED, errcode=fail_type, error=error[:300])


# --- kf messages as InboundItems --------------------------------------------------------------


def to_item(msg):
    """One kf/sync_msg message from a customer as the engine's InboundItem."""
    kind = msg.get("msgtype") or ""
    body = msg.get(kind) if isinstance(msg.get(kind), dict) else {}
    common = {"external_id": msg.get("external_userid", ""), "dedupe_key": msg.get("msgid", ""),
              "sent_at": int(msg.get("send_time") or 0)}
    if kind == "text":
        return InboundItem(kind="text", text=body.get("content", ""), extra=_menu(body), **common)
    if kind in ("image", "video"):
        return InboundItem(kind=kind, media_id=body.get("media_id", ""), **common)
    if kind == "voice":
        return InboundItem(kind="voice", media_id=body.get("media_id", ""), media_format=VOICE_FORMAT, **common)
    if kind == "file":
        if "file" in inbound.MESSAGE_KINDS:
            return InboundItem(kind="file", media_id=body.get("media_id", ""), **common)
        # TODO(inbound): files are not stored as attachments yet; the agent sees that one came.
        return InboundItem(kind="text", text=_("[File]"), extra={"media_id": body.get("media_id", "")}, **common)
    # Places, links and mini program cards are rendered by connectors.inbound, as for the other WeChat channels.
    if kind == "location":
        return InboundItem(kind="location", extra={
            "label": " ".join(dict.fromkeys(p for p in (body.get("name", ""), body.get("address", "")) if p)),
            "lat": body.get("latitude", ""), "lng": body.get("longitude", "")}, **common)
    if kind == "link":
        return InboundItem(kind="link", extra={"title": body.get("title", ""), "description": body.get("desc", ""),
                                               "url": body.get("url", ""), "pic_url": body.get("pic_url", "")}, **common)
    if kind == "miniprogram":
        return InboundItem(kind="miniprogram", extra={"title": body.get("title", ""), "appid": body.get("appid", ""),
                                                      "pagepath": body.get("pagepath", "")}, **common)
    if kind == "business_card":
        return InboundItem(kind="text", text=_("[Contact card]"), extra={"userid": body.get("userid", "")}, **common)
    # Channels products, chat records, meetings...: the agent at least sees that something came.
    return InboundItem(kind="text", text=_("[A %(type)s message the helpdesk cannot show]") % {"type": kind or "?"},
                       extra={"msgtype": kind}, **common)


def _menu(text_body):
    return {"menu_id": text_body["menu_id"]} if text_body.get("menu_id") else {}


# --- the welcome line -------------------------------------------------------------------------


def welcome_text(inbox):
    """The inbox's welcome line: the greeting its widget shows when a chat opens (a WeCom customer
    entering the session is the same moment; ReplySettings.welcome_message follows their first message)."""
    return (inbox.widget_greeting or "").strip()


def send_welcome(account, welcome, now=None):
    """Answer an enter_session's welcome_code with the welcome line. Returns whether it was sent."""
    text = welcome_text(account.inbox)
    if not text:
        return False
    now = time.time() if now is None else now
    if welcome.sent_at and now - welcome.sent_at > WELCOME_SECONDS:
        log.info("wecom kf: welcome code for %s expired before it could be used", welcome.external_id)
        return False
    try:
        for_account(account).send_msg_on_event({"code": welcome.code, "msgtype": "text", "text": {"content": text}})
    except Exception as error:  # the code is single-use and short-lived: retrying later is pointless
        log.warning("wecom kf: welcome for %s not sent: %s", welcome.external_id, error)
        return False
    return True


# --- sending an agent's message ---------------------------------------------------------------


class KfSender(Sender):
    """connectors.outbound's sender for WeCom kf inboxes (kf/send_msg), part by part as the Official
    Account sender: text; images and files uploaded (media/upload) and sent by media_id; what kf
    cannot send as such (links need a thumbnail media, remote images) as text with the address.
    Each part carries msgid "hd<outbound id>-<part>", so a msg_send_fail names the row it failed."""

    def send(self, outbound):
        account = outbound.inbox.channel_account
        api = for_account(account)
        return send_parts(outbound, lambda index, part: api.send_msg(
            {"touser": outbound.channel_user.external_id, "open_kfid": account.open_kfid, "msgid": f"hd{outbound.pk}-{index}",
             **_payload(api, part)}))


def _payload(api, part):
    if part.kind in ("image", "file"):
        found = outbound_module.attachment_bytes(part.attachment)
        if found is not None:
            data, filename, content_type = found
            return {"msgtype": part.kind, part.kind: {"media_id": api.upload_media(part.kind, filename, data, content_type)}}
    if part.kind == "text":
        return {"msgtype": "text", "text": {"content": part.text}}
    url = outbound_module.absolute_url(part.attachment.get("url", "")) or ""
    text = "\n".join(line for line in (part.attachment.get("name", ""), part.text, url) if line) or url
    return {"msgtype": "text", "text": {"content": text}}


SENDER = KfSender()
outbound_module.register_sender(Inbox.Kind.WECOM_KF, SENDER)


# --- WeCom's session state --------------------------------------------------------------------


def follows_state(conversation, from_state=None):
    """Whether this change must reach WeCom: a kf inbox, and WeCom's state differs between the two
    conversation states (from_state None: the conversation just started). Only starts, ends and
    reopens get here, so the inbox's kind is read (one primary-key query) when not loaded already."""
    if from_state is not None and KF_STATE_FOR.get(from_state) == KF_STATE_FOR.get(conversation.state):
        return False
    cached = conversation._state.fields_cache.get("inbox")
    kind = cached.kind if cached is not None else Inbox.objects.filter(pk=conversation.inbox_id).values_list("kind", flat=True).first()
    return kind == Inbox.Kind.WECOM_KF


class NotYet(Exception):
    """Lines queued before the end are still on their way: ending WeCom's session now would refuse them."""


def service_state_job(conversation_id):
    """The follow-up job (after the commit, any number of times): put WeCom's session where the
    conversation is now. Reads the state when it runs, so late or repeated jobs do no harm.
    Returns the state asked for, or None when nothing was changed."""
    conversation = Conversation.objects.select_related("inbox").filter(pk=conversation_id).first()
    target = KF_STATE_FOR.get(conversation.state) if conversation else None
    account = ChannelAccount.objects.select_related("inbox").filter(inbox_id=conversation.inbox_id).first() if conversation else None
    user = ChannelUser.objects.filter(inbox_id=conversation.inbox_id, customer_id=conversation.customer_id).first() if account else None
    if target is None or user is None:
        return None
    api = for_account(account)
    current = api.service_state(account.open_kfid, user.external_id).get("service_state")
    if current == target or current not in _ALLOWED[target]:
        return None  # already there, or WeCom would refuse (a new session waits for the next message)
    if target == STATE_ENDED and OutboundMessage.objects.filter(
            message__conversation_id=conversation.pk, state=OutboundMessage.State.QUEUED).exists():
        raise NotYet(conversation.pk)  # retried by the follow-up runner after the resolved line went out
    try:
        api.trans_service_state(account.open_kfid, user.external_id, target)
    except WeChatError as error:
        if error.errcode != INVALID_STATE_CHANGE:
            raise  # retried by the follow-up runner (transient or not: it keeps the error for the admin)
        log.info("wecom kf: conversation %s: WeCom refused session %s -> %s", conversation.pk, current, target)
        return None
    log.info("wecom kf: conversation %s session %s -> %s at %s", conversation.pk, current, target, timezone.now())
    return target


__all__ = ["on_callback", "sync", "sync_all", "sync_interval", "to_item", "send_welcome", "welcome_text", "KfSender", "follows_state",
           "service_state_job", "KF_STATE_FOR", "CONNECT_TIMEOUT", "READ_TIMEOUT"]
