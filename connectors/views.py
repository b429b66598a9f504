"""WeChat's callbacks: one URL per inbox, /channels/wechat/<inbox public key>/ (Official Account,
Mini Program and WeCom customer service inboxes with a ChannelAccount; anything else is a 404).

GET is the server-configuration handshake: the signature over (token, timestamp, nonce) checked,
`echostr` echoed (WeCom-style: msg_signature over the encrypted echostr, which is decrypted and
echoed). POST carries messages and events in plain, compatible or safe mode; an encrypted body is
taken only with a valid msg_signature over its Encrypt element, and an account in safe mode
accepts nothing else.

Every request is refused, before anything is stored, when its timestamp is more than 5 minutes
off or its (timestamp, nonce) pair was seen before (the Django cache: Redis, shared by every
process, when REDIS_URL is set). The view stores and answers "success"; whatever must reach
WeChat (replies, media) happens elsewhere, since WeChat gives up after 5 s and retries. The one
exception is a passive reply in the response itself (a new follower's welcome, built from what
is already loaded: no call out), encrypted when the push was."""

import logging
import secrets
import time

from django.core.cache import cache
from django.http import HttpResponse, HttpResponseNotFound
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from chat.models import Inbox
from helpdesk.errors import DomainError

from . import inbound
from .models import CHANNEL_KINDS, ChannelAccount
from .wechat import crypto, kf, parse

log = logging.getLogger(__name__)

MAX_CLOCK_SKEW_SECONDS = 300
NONCE_TTL_SECONDS = 2 * MAX_CLOCK_SKEW_SECONDS + 60  # past that the timestamp check refuses the pair anyway
MAX_PARAM_CHARS = 128


def _refuse(code, status):
    # Read by WeChat's servers and whoever debugs the configuration, not by customers: a plain code.
    return HttpResponse(code, status=status, content_type="text/plain; charset=utf-8")


def _account(public_key):
    return (ChannelAccount.objects.select_related("inbox", "inbox__workspace")
            .filter(inbox__public_key=public_key[:40], inbox__kind__in=CHANNEL_KINDS).first())


def _fresh(timestamp):
    return timestamp.isdigit() and abs(time.time() - int(timestamp)) <= MAX_CLOCK_SKEW_SECONDS


def _nonce_key(account, timestamp, nonce):
    return f"connectors:nonce:{account.pk}:{timestamp}:{nonce}"


def _claim_nonce(account, timestamp, nonce):
    """False when this (timestamp, nonce) was used before: cache.add is atomic on every backend."""
    return cache.add(_nonce_key(account, timestamp, nonce), 1, NONCE_TTL_SECONDS)


def _message_crypto(account):
    return crypto.MessageCrypto(account.aes_key, account.app_id)


@csrf_exempt  # WeChat's servers post here; the signature is the authentication
@require_http_methods(["GET", "POST"])
def callback(request, public_key):
    account = _account(public_key)
    if account is None:
        return HttpResponseNotFound()
    params = request.GET
    timestamp, nonce = params.get("timestamp", ""), params.get("nonce", "")
    if not nonce or len(nonce) > MAX_PARAM_CHARS or not _fresh(timestamp):
        return _refuse("stale_or_missing_timestamp", 403)
    if request.method == "POST":
        declared = request.META.get("CONTENT_LENGTH") or "0"
        if not declared.isdigit() or int(declared) > parse.MAX_BODY_BYTES:
            return _refuse("body_too_large", 413)
        body = request.body  # within the declared length, checked first
        if len(body) > parse.MAX_BODY_BYTES:
            return _refuse("body_too_large", 413)
    try:
        if request.method == "GET":
            answer = _handshake(account, params, timestamp, nonce)
            fields = None
        else:
            answer, fields = "success", _verified_fields(account, params, timestamp, nonce, body)
    except crypto.CryptoError:
        return _refuse("bad_signature", 403)
    except parse.Malformed:
        return _refuse("malformed", 400)
    if not _claim_nonce(account, timestamp, nonce):
        return _refuse("replayed", 403)
    if fields is not None and _is_kf_notice(account, fields):
        # WeCom customer service: the push only says "messages are waiting"; kf pulls them
        # (kf/sync_msg) off the request, so WeCom gets its answer at once.
        kf.on_callback(account.inbox, _field(fields, "Token"), _field(fields, "OpenKfId"))
    elif fields is not None:
        try:
            item = parse.to_item(fields)
        except parse.Malformed:
            return _refuse("malformed", 400)
        try:
            passive = _receive(account.inbox, item)
        except Exception:
            # Not stored (database trouble): let WeChat's retry, with this pair, try again.
            cache.delete(_nonce_key(account, timestamp, nonce))
            raise
        if passive:
            return HttpResponse(_passive_text(account, params, fields, passive[0]), content_type="text/xml; charset=utf-8")
    return HttpResponse(answer, content_type="text/plain; charset=utf-8")


def _passive_text(account, params, fields, text):
    """WeChat's passive text reply to this push, encrypted as the push was (safe mode; compatible
    mode when WeChat sent encrypt_type=aes): WeChat refuses a plain reply to an encrypted push."""
    reply = (f"<xml><ToUserName>{crypto.cdata(_field(fields, 'FromUserName'))}</ToUserName>"
             f"<FromUserName>{crypto.cdata(_field(fields, 'ToUserName'))}</FromUserName>"
             f"<CreateTime>{int(time.time())}</CreateTime><MsgType>{crypto.cdata('text')}</MsgType>"
             f"<Content>{crypto.cdata(text)}</Content></xml>")
    if account.mode != ChannelAccount.Mode.SAFE and params.get("encrypt_type") != "aes":
        return reply
    # A fresh timestamp and nonce, as the SDK's EncryptMsg: the reply is signed on its own.
    return crypto.encrypted_reply(_message_crypto(account), account.token, reply, str(int(time.time())),
                                  str(secrets.randbelow(10**10)))


def _handshake(account, params, timestamp, nonce):
    echostr = params.get("echostr", "")
    if not echostr:
        raise parse.Malformed("echostr")
    msg_signature = params.get("msg_signature")
    if msg_signature:  # WeCom: the echostr is encrypted and signed like a message
        if not account.aes_key or not crypto.check_signature(msg_signature, account.token, timestamp, nonce, echostr):
            raise crypto.CryptoError("signature")
        return _message_crypto(account).decrypt(echostr)
    if not crypto.check_signature(params.get("signature", ""), account.token, timestamp, nonce):
        raise crypto.CryptoError("signature")
    return echostr


def _verified_fields(account, params, timestamp, nonce, body):
    """The push's fields once its signature (and, encrypted, its AppID) checks out."""
    outer = parse.fields(body)
    encrypted = outer.get("Encrypt")
    msg_signature = params.get("msg_signature", "")
    if isinstance(encrypted, str) and encrypted and (msg_signature or params.get("encrypt_type") == "aes"):
        if not account.aes_key or not crypto.check_signature(msg_signature, account.token, timestamp, nonce, encrypted):
            raise crypto.CryptoError("msg_signature")
        return parse.fields(_message_crypto(account).decrypt(encrypted))
    if account.mode == ChannelAccount.Mode.SAFE:
        # Safe mode: a plain body would only be signed over (token, timestamp, nonce), not its content.
        raise crypto.CryptoError("plain body in safe mode")
    if not crypto.check_signature(params.get("signature", ""), account.token, timestamp, nonce):
        raise crypto.CryptoError("signature")
    return outer


def _field(fields, name):
    value = fields.get(name, "")
    return value.strip()[:MAX_PARAM_CHARS] if isinstance(value, str) else ""


def _is_kf_notice(account, fields):
    return account.inbox.kind == Inbox.Kind.WECOM_KF and _field(fields, "Event") == "kf_msg_or_event"


def _receive(inbox, item):
    """Store the item; returns the passive replies inbound asked for (a list, usually empty)."""
    passive = []
    try:
        if item.kind == "event":  # only an event (a follow) is answered passively today
            inbound.receive(inbox, item, passive=passive)
        else:
            inbound.receive(inbox, item)
    except DomainError as exc:
        # Refused by the engine (a closed chat, sensitive words, a bad attachment): WeChat's retry
        # would be refused alike, so the callback is answered and the refusal logged.
        log.warning("wechat inbox %s: %s message not stored: %s", inbox.pk, item.kind, exc.code)
    return passive


@require_GET
def media(request, public_key, media_id):
    # TODO(media endpoint helper, Issue 16): fetch the media from WeChat (the account's
    # access_token, cgi-bin/media/get or the mini program's temp media), cache it as a stored
    # upload and serve it to agents of the inbox's workspace. Until then: not found.
    return HttpResponseNotFound()
