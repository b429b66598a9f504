"""Web Push to agents: VAPID (RFC 8292), aes128gcm payload encryption (RFC 8291), sent
through pywebpush to each browser's push service, shown by static/chat/console/sw.js.

A visible console tab shows new chats itself: it renews AgentPresence.console_visible_until
(the `visibility` frame, set_console_visible below). Push reaches the agent's other devices
and hidden tabs. Who is told is decided after commit, with one query joining recipients to
their subscriptions (_subscriptions_for):

- a customer message (not private): the assignee, else every agent serving the inbox. The
  first message of a conversation, and one the conversation was assigned after, are left to
  the routing push below (one notification, not two);
- routing assigned a conversation: the assignee (not when they claimed it themselves);
  pooled or queued it: every agent serving the inbox;
- never an agent offline (or without presence) in that workspace, nor one whose console is
  visible, nor a device registered in another workspace.
- a sensitive-word alert: every member with the CONFIGURE capability (supervisors need not be
  on duty), unless a console tab of theirs is visible (it shows the alert).

Sending never holds the request or WebSocket thread: each push is a follow-up job row written
in the transaction that caused it (lifecycle.followups, leased: sent once, again only if the
sender died before marking it), and only for a workspace that has a device at all (cached per
process, DEVICES_TTL_SECONDS). Nothing raises into the caller: failures are logged; a
404/410 from the push service deletes the subscription, other failures count in `failures`.

Endpoints come from agents' browsers: lifecycle.push_endpoints decides where the server may
post (known push services; public addresses behind a setting), at subscribe time and again
before each delivery, and its session follows no redirect. Agents only ever see counts of
sent and failed notifications, nothing of a push service's answer."""

import base64
import json
import logging
import re
import threading
from functools import lru_cache

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

from accounts.models import Membership
from chat.models import Conversation, InboxUserPermission, Message, PushSubscription, SenderKind
from helpdesk.errors import DomainError, invalid
from helpdesk.workspace_cache import WorkspaceCache
from routing.models import AgentPresence
from routing.selection import AgentStatus

from . import followups, push_endpoints
from .models import FollowUp

log = logging.getLogger(__name__)

# Order of the P-256 group: private keys are scalars in [1, n - 1].
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
PREVIEW_CHARS = 120
MAX_PAYLOAD_BYTES = 1024
# States in which a customer is waiting on an agent (bot chats, closed chats: no push).
WAITING_STATES = (Conversation.State.QUEUED, Conversation.State.ASSIGNED, Conversation.State.PENDING)
B64URL_RE = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")
ENDPOINT_TAKEN = gettext_lazy("This device's push subscription belongs to another account. Enable notifications again on this device to get a new one.")

# Whether a workspace has any device, per process: most workspaces have none, and then a
# routing decision or a message should not hand a job to a worker thread that only finds
# out with a query (that hand-off cost routing p99 ~4 ms, docs/benchmarks.md). A device
# registered through another process is seen within DEVICES_TTL_SECONDS.
DEVICES_TTL_SECONDS = 5

_sessions = threading.local()  # one HTTP session (kept-alive connections) per worker thread


def _config():
    return settings.WEB_PUSH


# --- keys -----------------------------------------------------------------------------


def _b64decode(value):
    """Strict base64url (padding optional), as browsers' PushSubscription.toJSON() gives it."""
    if not isinstance(value, str) or not B64URL_RE.match(value):
        raise ValueError("not base64url")
    value = value.rstrip("=")
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def _b64encode(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@lru_cache(maxsize=4)
def _load_private_key(configured, secret_key):
    configured = configured.strip()
    if not configured:
        # No key configured: derive one from SECRET_KEY (stable across restarts and processes).
        # 48 bytes reduced mod n - 1 keep the bias negligible (FIPS 186-4, B.4.1).
        seed = HKDF(algorithm=hashes.SHA256(), length=48, salt=b"helpdesk.web-push", info=b"vapid p-256 private key").derive(secret_key.encode())
        return ec.derive_private_key(int.from_bytes(seed, "big") % (P256_ORDER - 1) + 1, ec.SECP256R1())
    try:
        if configured.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(configured.encode(), password=None)
        else:
            raw = _b64decode(configured)
            key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1()) if len(raw) == 32 else serialization.load_der_private_key(raw, None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ImproperlyConfigured("WEB_PUSH_VAPID_PRIVATE_KEY must be a P-256 private key: base64url of the raw 32 bytes, or PEM.")
    return key


def private_key():
    return _load_private_key(_config()["VAPID_PRIVATE_KEY"], settings.SECRET_KEY)


def public_key():
    """The VAPID public key as browsers take it (applicationServerKey): base64url of the uncompressed point."""
    point = private_key().public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return _b64encode(point)


# --- subscriptions --------------------------------------------------------------------


def _clean_subscription(data):
    """(endpoint, p256dh, auth) from a browser's PushSubscription JSON, or a DomainError."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), dict):
        raise invalid("invalid_subscription", gettext_lazy("Send the browser's push subscription: a JSON object with endpoint and keys."))
    endpoint = push_endpoints.check_endpoint(data.get("endpoint"))
    keys = data["keys"]
    try:
        p256dh = _b64decode(keys.get("p256dh"))
        if len(p256dh) != 65 or p256dh[0] != 0x04:
            raise ValueError("not an uncompressed point")
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), p256dh)  # on the curve
    except ValueError:
        raise invalid("invalid_keys", gettext_lazy("keys.p256dh must be a base64url-encoded P-256 public key (65 bytes).")) from None
    try:
        auth = _b64decode(keys.get("auth"))
        if len(auth) != 16:
            raise ValueError("not 16 bytes")
    except ValueError:
        raise invalid("invalid_keys", gettext_lazy("keys.auth must be a base64url-encoded 16-byte secret.")) from None
    return endpoint, _b64encode(p256dh), _b64encode(auth)


_device_presence = WorkspaceCache(lambda workspace_id: PushSubscription.objects.filter(workspace_id=workspace_id).exists(),
                         ttl=lambda: DEVICES_TTL_SECONDS)
workspace_has_devices = _device_presence.get
forget_devices_cache = _device_presence.invalidate  # a device was added or removed here (tests: ids come back)


def subscribe(user, workspace_id, data, user_agent=""):
    """Store a device's push subscription for `user` in a workspace (the caller has checked the
    membership). One row per device: the user's own endpoint is updated (new keys, workspace);
    another user's is refused (409 endpoint_taken): moving it silently would let anyone who
    learns an endpoint take a device's notifications away. A browser that changed hands gets a
    fresh endpoint by subscribing again (static/chat/console/push.js does so on 409). Beyond
    MAX_DEVICES_PER_USER, the user's devices least recently known to work are dropped.
    Returns (subscription, created)."""
    endpoint, p256dh, auth = _clean_subscription(data)
    fields = {"workspace_id": workspace_id, "p256dh": p256dh, "auth": auth, "user_agent": str(user_agent or "")[:300], "failures": 0}
    try:
        with transaction.atomic():
            # One subscribe at a time per user, so that the device count below is exact.
            list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True))
            owner = PushSubscription.objects.filter(endpoint=endpoint).values_list("user_id", flat=True).first()
            if owner is not None and owner != user.pk:
                raise DomainError("endpoint_taken", ENDPOINT_TAKEN, status=409)
            result = PushSubscription.objects.update_or_create(endpoint=endpoint, user=user, defaults=fields)
            if result[1]:
                _drop_devices_over_the_cap(user)
    except IntegrityError:  # another user's subscribe of the same new endpoint committed meanwhile
        raise DomainError("endpoint_taken", ENDPOINT_TAKEN, status=409) from None
    forget_devices_cache()  # this workspace gains one; the endpoint's previous workspace may have lost its last
    return result


def _drop_devices_over_the_cap(user):
    """Dropping beats refusing: endpoints change when a browser's data is cleared, so stale rows
    pile up, and the agent has no way to delete one (only the browser knows its endpoint)."""
    limit = max(1, int(_config().get("MAX_DEVICES_PER_USER", 10)))
    last_known_working = Coalesce("last_success_at", "created_at")
    newest_first = PushSubscription.objects.filter(user=user).order_by(last_known_working.desc(), "-pk")
    stale = list(newest_first.values_list("pk", flat=True)[limit:])
    if stale:
        PushSubscription.objects.filter(pk__in=stale).delete()
        log.info("user %s over %s push devices: dropped subscriptions %s", user.pk, limit, stale)


def unsubscribe(user, endpoint):
    """Forget one of the user's devices. Returns whether a row was deleted (another user's endpoint: never)."""
    if not isinstance(endpoint, str) or not endpoint or len(endpoint) > push_endpoints.MAX_ENDPOINT_CHARS:
        raise invalid("invalid_endpoint", push_endpoints.BAD_FORMAT)
    deleted, _rows = PushSubscription.objects.filter(user=user, endpoint=endpoint).delete()
    forget_devices_cache()
    return deleted > 0


def devices_of(user):
    return list(PushSubscription.objects.filter(user=user).order_by("-created_at"))


# --- who is told ----------------------------------------------------------------------


def _subscriptions_for(conversation, assignee_id):
    """The devices to tell of a chat: the assignee's, else those of everyone serving the inbox; on duty only."""
    if assignee_id is not None:
        users = [assignee_id]
    else:
        users = InboxUserPermission.objects.filter(content_object_id=conversation.inbox_id, permission__codename="reply_in_inbox").values("user_id")
    return _devices(conversation.workspace_id, users, on_duty=True)


def _devices(workspace_id, users, *, on_duty):
    """(id, endpoint, p256dh, auth, language) of the devices, registered in this workspace, of its
    members among `users` (ids or a values() subquery) with no console tab visible: one query.
    on_duty: only agents whose status is not offline."""

    hidden = Q(console_visible_until__isnull=True) | Q(console_visible_until__lte=timezone.now())
    presence = AgentPresence.objects.filter(workspace_id=workspace_id, user_id=OuterRef("user_id"))
    member = Membership.objects.filter(workspace_id=workspace_id, user_id=OuterRef("user_id"))
    rows = PushSubscription.objects.filter(Exists(member), workspace_id=workspace_id, user_id__in=users)
    if on_duty:
        rows = rows.filter(Exists(presence.exclude(status=AgentStatus.OFFLINE).filter(hidden)))
    else:
        rows = rows.exclude(Exists(presence.exclude(hidden)))  # no presence row: nothing visible
    return list(rows.order_by("pk").values_list("pk", "endpoint", "p256dh", "auth", "user__preferences__language"))


def _preview(message):
    """The first PREVIEW_CHARS characters of a message, one line; labels for images and files."""
    if message is None:
        return ""
    text = " ".join((message.body or "").split())
    label = {Message.Type.IMAGE: _("[Image]"), Message.Type.FILE: _("[File]")}.get(message.msg_type)
    if label:
        text = f"{label} {text}".strip()
    return text[:PREVIEW_CHARS]


def _payload(kind, conversation, title, body):
    return {"type": kind, "title": title, "body": body, "conversation_id": conversation.pk,
            "url": f"/console/c/{conversation.pk}/", "tag": f"conv-{conversation.pk}"}


def _encode(payload):
    """Compact JSON of at most MAX_PAYLOAD_BYTES (long names and texts are cut)."""
    while True:
        data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        if len(data) <= MAX_PAYLOAD_BYTES:
            return data
        key = "body" if payload["body"] else "title"
        payload[key] = payload[key][: len(payload[key]) * 3 // 4]


# --- entry points (domain code calls these inside its transaction) ---------------------


def notify_message(conversation, message):
    """A message was stored: after commit, tell the agents who should hear of it (customer messages only)."""
    if not _config()["ENABLED"] or message.is_private or message.sender_kind != SenderKind.CUSTOMER or message.recalled_at is not None:
        return
    if message.seq == 1:
        return  # a new conversation: routing announces it (notify_conversation_waiting)
    _job(conversation, FollowUp.Kind.PUSH_MESSAGE, message=message.pk)


def notify_conversation_waiting(conversation):
    """Routing assigned a conversation (tell the assignee) or pooled/queued it (tell those serving the inbox)."""
    if _config()["ENABLED"]:
        _job(conversation, FollowUp.Kind.PUSH_CONVERSATION, assignee=conversation.assignee_id)


def notify_alert(conversation, user_ids, words):
    """Sensitive words alerted these supervisors: after commit, push to their devices too (a
    supervisor away from the console hears of it), except where a console tab of theirs is visible."""
    if _config()["ENABLED"] and user_ids:
        _job(conversation, FollowUp.Kind.PUSH_ALERT, users=sorted(user_ids), words=words)


def send_test(user):
    """A test notification to each of the user's devices, now. Returns (sent, failed): counts
    only, so that the answer tells nothing of what the remote end said."""
    rows = PushSubscription.objects.filter(user=user).order_by("pk").values_list("pk", "endpoint", "p256dh", "auth", "user__preferences__language")

    def build():
        return {"type": "test", "title": _("Test notification"), "body": _("Notifications work on this device."),
                "conversation_id": None, "url": "/console/", "tag": "test"}

    return _send_all(list(rows), build, topic="test")


def send_to_member(workspace_id, user_id, build, *, topic):
    """To a member's devices in this workspace, on duty or not (lifecycle.offline_notify), except
    while a console tab of theirs is visible. Returns (sent, failed)."""
    if not _config()["ENABLED"]:
        return 0, 0
    return _send_all(_devices(workspace_id, [user_id], on_duty=False), build, topic=topic)


# --- jobs (follow-up rows) --------------------------------------------------------------


def may_push(workspace_id):
    """Whether a customer message in this workspace may queue a push job (per-process cache, no query)."""
    return _config()["ENABLED"] and workspace_has_devices(workspace_id)


def may_push_known(workspace_id):
    """may_push from memory only: None when the device cache would have to query."""
    return _config()["ENABLED"] and _device_presence.peek(workspace_id)


def _job(conversation, kind, **data):
    """A push job in the caller's transaction, unless the workspace has no device at all (cached)."""
    if workspace_has_devices(conversation.workspace_id):
        followups.enqueue(conversation, kind, **data)


def register_jobs():
    followups.register(FollowUp.Kind.PUSH_MESSAGE, followups.Handler(lambda job, _p: _push_message(job.data["message"]), leased=True))
    followups.register(FollowUp.Kind.PUSH_CONVERSATION, followups.Handler(
        lambda job, _p: _push_conversation(job.conversation_id, job.data["assignee"]), leased=True))
    followups.register(FollowUp.Kind.PUSH_ALERT, followups.Handler(
        lambda job, _p: _push_alert(job.conversation_id, tuple(job.data["users"]), job.data["words"]), leased=True))


def _push_message(message_id):
    message = Message.objects.select_related("conversation__customer").filter(pk=message_id).first()
    if message is None or message.recalled_at is not None:
        return
    conversation = message.conversation
    if conversation.state not in WAITING_STATES:
        return
    if conversation.assigned_at is not None and conversation.assigned_at >= message.created_at:
        return  # assigned after this message was written: the assignment push announced it
    rows = _subscriptions_for(conversation, conversation.assignee_id)

    def build():
        title = _("New message from %(name)s") % {"name": conversation.customer.display_name}
        return _payload("message", conversation, title, _preview(message))

    _send_all(rows, build, topic=f"conv-{conversation.pk}")


def _push_conversation(conversation_id, assignee_id):
    conversation = Conversation.objects.select_related("customer").filter(pk=conversation_id).first()
    if conversation is None or conversation.state not in WAITING_STATES or conversation.assignee_id != assignee_id:
        return  # closed, or taken by someone meanwhile: nothing to announce any more
    rows = _subscriptions_for(conversation, assignee_id)
    if not rows:
        return
    last = (
        Message.objects.filter(conversation_id=conversation.pk, sender_kind=SenderKind.CUSTOMER, is_private=False, recalled_at__isnull=True)
        .order_by("-seq").first()
    )

    def build():
        name = conversation.customer.display_name
        if assignee_id is not None:
            title = _("New conversation for you: %(name)s") % {"name": name}
        else:
            title = _("A customer is waiting: %(name)s") % {"name": name}
        return _payload("conversation", conversation, title, _preview(last) or _("New conversation"))

    _send_all(rows, build, topic=f"conv-{conversation.pk}")


def _push_alert(conversation_id, user_ids, words):
    conversation = Conversation.objects.select_related("customer").filter(pk=conversation_id).first()
    if conversation is None:
        return
    rows = _devices(conversation.workspace_id, user_ids, on_duty=False)  # supervisors need not be on duty

    def build():
        title = _("Sensitive words from %(name)s") % {"name": conversation.customer.display_name}
        return {**_payload("alert", conversation, title, words[:PREVIEW_CHARS]), "tag": f"alert-{conversation.pk}"}

    _send_all(rows, build, topic=f"alert-{conversation.pk}")


def _send_all(rows, build, *, topic=None):
    """Send to each subscription row, in the recipient's language. Returns (sent, failed)."""
    encoded = {}
    sent = failed = 0
    for subscription_id, endpoint, p256dh, auth, language in rows:
        language = language or settings.LANGUAGE_CODE
        if language not in encoded:
            with translation.override(language):
                encoded[language] = _encode(build())
        if _deliver(subscription_id, endpoint, p256dh, auth, encoded[language], topic):
            sent += 1
        else:
            failed += 1
    return sent, failed


def _session():
    if getattr(_sessions, "session", None) is None:
        _sessions.session = push_endpoints.PushSession()
    return _sessions.session


def _deliver(subscription_id, endpoint, p256dh, auth, data, topic=None):
    config = _config()
    try:
        push_endpoints.check_endpoint(endpoint)  # again: a row stored before the check, a setting changed, DNS changed
    except DomainError as exc:
        # Kept (a setting may change back), counted, never posted to.
        PushSubscription.objects.filter(pk=subscription_id).update(failures=F("failures") + 1)
        log.warning("web push to subscription %s not sent: %s", subscription_id, exc.code)
        return False
    headers = {"Urgency": "high"}
    if topic:
        headers["Topic"] = topic  # the push service keeps only the latest undelivered one per conversation
    try:
        webpush(
            {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}},
            data=data,
            vapid_private_key=Vapid(private_key()),
            vapid_claims={"sub": config["SUBJECT"]},  # a fresh dict each time: webpush() adds aud and exp to it
            ttl=config["TTL_SECONDS"],
            timeout=config["TIMEOUT_SECONDS"],
            headers=headers,
            requests_session=_session(),
        )
    except WebPushException as exc:
        if exc.status_code in (404, 410):
            PushSubscription.objects.filter(pk=subscription_id).delete()
            log.info("web push subscription %s expired (%s): deleted", subscription_id, exc.status_code)
        else:
            PushSubscription.objects.filter(pk=subscription_id).update(failures=F("failures") + 1)
            log.warning("web push to subscription %s failed: HTTP %s", subscription_id, exc.status_code)
        return False
    except Exception as exc:  # network errors, timeouts, unusable stored keys
        PushSubscription.objects.filter(pk=subscription_id).update(failures=F("failures") + 1)
        log.warning("web push to subscription %s failed: %s", subscription_id, exc.__class__.__name__)
        return False
    PushSubscription.objects.filter(pk=subscription_id).update(last_success_at=timezone.now(), failures=0)
    return True
