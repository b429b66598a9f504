"""WebSocket endpoints. Thin: parse and check the frame, call an action, answer.

Frames are JSON objects with a "type"; docs/protocol.md lists every one.
A bad frame gets an error frame and the connection stays open; only a bad
credential closes it (after an error frame saying why)."""

import logging
import time
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async as _database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils.translation import gettext as _

from accounts.security import is_session_verified
from accounts.sessions import session_user
from chat import access, identity, states
from chat import messages as chat_messages
from chat.payloads import conversation_payload, message_payload
from helpdesk import ratelimit, realtime
from helpdesk.errors import DomainError, not_found
from helpdesk.validation import loads_json
from reports import alerts, board
from routing import actions as routing
from surfaces import group_commit, throttle

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


def database_sync_to_async(func):
    """SQLite has one writer: one database thread per process is ideal there. A server
    database serves many connections: let several threads wait on it at once."""
    return _database_sync_to_async(func, thread_sensitive=settings.CHAT["DB_THREAD_SENSITIVE"])


def session_ended():
    return DomainError("unauthenticated", _("Your session has ended. Please log in again."), status=401)


class ChatConsumer(AsyncWebsocketConsumer):
    role = ""
    for_customer = False
    # Set once the socket is closing (our close, the client's, or a failed write): nothing more
    # is written, so a client that leaves mid-send costs no error and no write after the close.
    closed = False
    # Seconds between re-checks of the credential (None: the customer's signed token is checked
    # once, at connect; agents: see AgentConsumer).
    SESSION_RECHECK_SECONDS = None
    checked_at = 0.0

    async def dispatch(self, message):
        """channels' AsyncConsumer.dispatch without its `aclose_old_connections()`: that is a
        sync_to_async hop onto the one thread-sensitive thread before every handler, i.e. for every
        incoming frame and every relayed group event (20% of the CPU-holding samples under load).
        Safe to skip: no handler here touches the database on the event loop; all database work goes
        through database_sync_to_async, which closes stale connections itself before and after, in
        the thread that holds them (the skipped call only reached that one thread's connection)."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self):
        self.actor = None
        self.groups_joined = []
        try:
            self.actor, groups, hello = await database_sync_to_async(self.authenticate)()
        except DomainError as exc:
            await self.accept()
            await self.send_frame({"type": "error", **exc.as_dict()})
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        try:
            for group in groups:
                await self.channel_layer.group_add(group, self.channel_name)
                self.groups_joined.append(group)  # what disconnect must leave, even if a later add fails
        except Exception:
            # The channel layer is down (e.g. Redis restarting): without live events the socket is no
            # use; refuse it (1011) and the client reconnects with backoff, then resumes by seq.
            log.warning("channel layer unavailable at connect", exc_info=True)
            await self.close(code=1011)
            return
        await self.accept()
        await self.send_frame({"type": "hello", "role": self.role, "heartbeat_interval": settings.CHAT["HEARTBEAT_INTERVAL_SECONDS"], **hello})

    async def disconnect(self, code):
        self.closed = True
        for group in self.groups_joined:
            try:  # each on its own: one failing (layer down) must not keep the others subscribed
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:
                log.warning("channel layer unavailable at disconnect: %s not left", group, exc_info=True)

    async def send_frame(self, frame):
        await self.send(text_data=realtime.encode(frame))

    async def send(self, text_data=None, bytes_data=None, close=False):
        if not self.closed:
            await self._write(super().send(text_data=text_data, bytes_data=bytes_data, close=close))

    async def close(self, code=None, reason=None):
        if not self.closed:
            self.closed = True
            await self._write(super().close(code=code, reason=reason))

    async def _write(self, sending):
        """The client may be gone by the time an answer is ready (the frame waited on the database):
        uvicorn then raises ClientDisconnected (an OSError), or a RuntimeError once it has sent the
        close itself. That is the client's choice, not our error: stop writing, log at debug."""
        try:
            await sending
        except (OSError, RuntimeError) as exc:
            if isinstance(exc, RuntimeError) and "websocket.close" not in str(exc):
                raise
            self.closed = True
            log.debug("client gone before a write: %r", exc)

    async def relay(self, event):
        """Group events arrive already encoded: relay the text as is."""
        if self.closed or (self.recheck_due() and not await self.still_signed_in()):
            return
        if "assignee_id" in event and not access.may_see_live(self.actor, event["assignee_id"]):
            return
        await self.send(text_data=event["text"])

    async def control(self, event):
        """Server-side instructions (accounts.actions.notify_access_changed, .sign_in_changed)."""
        if self.closed:
            return
        if event.get("action") == "resync":
            await self.resync()
        elif event.get("action") == "revoke":
            if event.get("close"):
                await self.end(session_ended())
            else:
                await self.still_signed_in()

    def recheck_due(self):
        seconds = self.SESSION_RECHECK_SECONDS
        return seconds is not None and time.monotonic() - self.checked_at >= seconds

    async def still_signed_in(self):
        """Re-check the credential now (AgentConsumer.recheck); a lapsed one ends the socket."""
        try:
            await database_sync_to_async(self.recheck)()
        except DomainError as exc:
            await self.end(exc)
            return False
        self.checked_at = time.monotonic()
        return True

    def recheck(self):
        """Raise DomainError when the credential no longer holds."""

    async def end(self, exc):
        await self.send_frame({"type": "error", **exc.as_dict()})
        await self.close(code=CLOSE_UNAUTHENTICATED if exc.status == 401 else CLOSE_FORBIDDEN)

    async def resync(self):
        """Re-read this user's access now: leave inboxes no longer served, join new ones, forget cached checks."""
        if not await self.still_signed_in():  # a logout or password change whose own event was lost
            return
        try:
            self.actor, groups, hello = await database_sync_to_async(self.authenticate)()
        except DomainError as exc:
            await self.send_frame({"type": "error", **exc.as_dict()})
            await self.close(code=CLOSE_FORBIDDEN)
            return
        for group in set(self.groups_joined) - set(groups):
            await self.channel_layer.group_discard(group, self.channel_name)
        for group in set(groups) - set(self.groups_joined):
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = groups
        self.__dict__.pop("_conversations", None)
        await self.send_frame({"type": "access.changed", **hello})

    async def receive(self, text_data=None, bytes_data=None):
        if self.actor is None or self.closed:
            return
        if self.recheck_due() and not await self.still_signed_in():
            return
        if text_data is None:
            return await self.send_frame({"type": "error", "code": "binary_not_supported", "message": _("Send JSON text frames.")})
        if len(text_data.encode()) > settings.CHAT["MAX_FRAME_BYTES"]:
            return await self.send_frame({"type": "error", "code": "frame_too_large", "message": _("The frame is too large.")})
        try:
            frame = loads_json(text_data)  # also refuses nesting deep enough to exhaust the parser's stack
        except DomainError:
            return await self.send_frame({"type": "error", "code": "malformed_frame", "message": _("The frame is not valid JSON.")})
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            return await self.send_frame({"type": "error", "code": "malformed_frame", "message": _("A frame must be a JSON object with a type.")})
        handler = self.handlers.get(frame["type"])
        ref = frame.get("ref") if isinstance(frame.get("ref"), (str, int)) else None
        if handler is None:
            return await self.send_frame({"type": "error", "code": "unknown_type", "message": _("Unknown frame type."), "ref": ref})
        # A refused send names its client_msg_id, so the client can drop it from its outbox or
        # (`internal`) retry it at once.
        client_msg_id = frame.get("client_msg_id") if frame["type"] == "send" and isinstance(frame.get("client_msg_id"), str) else None
        try:
            await handler(self, frame)
        except DomainError as exc:
            await self.send_frame({"type": "error", **exc.as_dict(), "ref": ref, "client_msg_id": client_msg_id})
        except Exception:
            log.exception("frame %s failed", frame["type"])
            await self.send_frame({"type": "error", "code": "internal", "message": _("Something went wrong; please retry."), "ref": ref,
                                   "client_msg_id": client_msg_id})

    # --- frame handlers ---------------------------------------------------

    async def on_ping(self, frame):
        await self.send_frame({"type": "pong", "ref": frame.get("ref")})

    async def on_send(self, frame):
        send = {
            "client_msg_id": frame.get("client_msg_id"), "body": frame.get("body", ""), "msg_type": frame.get("msg_type", "text"),
            "conversation_id": frame.get("conversation_id"), "attachments": frame.get("attachments"),
            "is_private": frame.get("is_private", False), "entry_page": frame.get("entry_page", ""),
        }
        # A customer's plain text is stored from the event loop where it can be; everything else (and
        # what that path hands back) in a database thread, grouped with the other sockets' sends of the
        # moment (surfaces.group_commit). Customers are throttled (surfaces.throttle), agents not.
        result = await throttle.send_message_on_loop(self.actor, ip=ratelimit.scope_ip(self.scope), **send)
        message, created = result if isinstance(result, tuple) else await group_commit.store(result)
        # The message is committed. Only now is it acknowledged.
        await self.send_frame(
            {"type": "ack", "client_msg_id": message.client_msg_id, "duplicate": not created, "message": message_payload(message, for_customer=self.for_customer)}
        )

    async def on_resume(self, frame):
        messages, has_more, conversation, peer_read_seq = await database_sync_to_async(chat_messages.resume_page)(
            self.actor, frame.get("conversation_id"), after_seq=frame.get("after_seq", 0), limit=frame.get("limit")
        )
        await self.send_frame(
            {
                "type": "messages",
                "conversation_id": conversation.pk,
                "messages": [message_payload(m, for_customer=self.for_customer) for m in messages],
                "has_more": has_more,
                "last_seq": conversation.last_seq,
                "peer_read_seq": peer_read_seq,
                "ref": frame.get("ref"),
            }
        )

    async def on_read(self, frame):
        seq = await database_sync_to_async(chat_messages.mark_read)(self.actor, frame.get("conversation_id"), frame.get("seq"))
        await self.send_frame({"type": "read.ok", "conversation_id": frame.get("conversation_id"), "seq": seq, "ref": frame.get("ref")})

    async def on_typing(self, frame):
        conversation = await self.cached_conversation(frame.get("conversation_id"))
        event = {
            "type": "typing",
            "conversation_id": conversation.pk,
            "sender": {"kind": self.actor.kind, "key": self.actor.key, "name": self.actor.name},
            "is_typing": bool(frame.get("is_typing", True)),
        }
        for group in self.typing_groups(conversation):
            # Inbox-wide typing obeys the same history rule as messages.
            scope = {"assignee_id": conversation.assignee_id} if group == realtime.group_for_inbox(conversation.inbox_id) else None
            await realtime.signal_now(group, event, scope=scope)

    async def on_recall(self, frame):
        message = await database_sync_to_async(chat_messages.recall_message)(self.actor, frame.get("message_id"))
        await self.send_frame({"type": "recall.ok", "message": message_payload(message, for_customer=self.for_customer), "ref": frame.get("ref")})

    async def cached_conversation(self, conversation_id):
        """Typing is frequent and touches no row: authorise once per conversation per connection."""
        if not isinstance(conversation_id, int) or isinstance(conversation_id, bool):
            raise not_found()
        cache = self.__dict__.setdefault("_conversations", {})
        if conversation_id not in cache:
            cache[conversation_id] = await database_sync_to_async(access.get_conversation)(self.actor, conversation_id)
        return cache[conversation_id]

    handlers = {"ping": on_ping, "send": on_send, "resume": on_resume, "read": on_read, "typing": on_typing, "recall": on_recall}


class CustomerConsumer(ChatConsumer):
    """/ws/customer/?token=<visitor token>. No Origin check: the widget lives on merchants' sites; the token is the credential."""

    role = "customer"
    for_customer = True

    def authenticate(self):
        params = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        actor = identity.actor_from_customer_token((params.get("token") or [""])[0])
        conversations = states.conversations_for(actor, limit=20)
        hello = {
            "customer": {"id": actor.customer_public_id, "name": actor.name},  # as the session answer names them
            "conversations": [conversation_payload(c, for_customer=True) for c in conversations],
        }
        return actor, [realtime.group_for_customer(actor.customer_id)], hello

    def typing_groups(self, conversation):
        return [realtime.group_for_inbox(conversation.inbox_id)]


class AgentConsumer(ChatConsumer):
    """/ws/agent/ with the session cookie; the Origin must be this site's own (scheme, host and port: see asgi.py)."""

    role = "agent"
    # A logout, password change or removal closes the socket at once through the channel layer
    # (accounts.actions.sign_in_changed, notify_access_changed); the layer may drop that event, so
    # the first frame or event after this many seconds also re-checks the session and membership.
    SESSION_RECHECK_SECONDS = 60

    def authenticate(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            raise DomainError("unauthenticated", _("Please log in."), status=401)
        if not is_session_verified(user, self.scope.get("session")):
            raise DomainError("unauthenticated", _("Please complete the two-factor sign-in first."), status=401)
        self.session_key = self.scope["session"].session_key
        self.checked_at = time.monotonic()
        params = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        actor = access.agent_actor_for(user, (params.get("workspace") or [None])[0])
        inbox_ids = access.agent_inbox_ids(actor)
        groups = [realtime.group_for_inbox(i) for i in inbox_ids] + [realtime.group_for_agent(actor.user_id)]
        groups.append(alerts.alerts_group(actor.workspace_id))  # 预警 banner: opened or cleared (no data: each fetches its own)
        if (params.get("board") or [""])[0] == "1":
            groups.append(board.board_group(actor.workspace_id))  # the live board page: "fetch your board again"
        return actor, groups, {"user": {"id": actor.user_id, "name": actor.name}, "inbox_ids": inbox_ids}

    def typing_groups(self, conversation):
        return [realtime.group_for_customer(conversation.customer_id), realtime.group_for_inbox(conversation.inbox_id)]

    def recheck(self):
        """HTTP's rule, read afresh: the session is still stored, its auth hash matches the current
        password, two-factor still holds (accounts.sessions), and the member may still serve chats here."""
        user = session_user(self.session_key)
        if user is None or user.pk != self.actor.user_id:
            raise session_ended()
        access.agent_actor_for(user, self.actor.workspace_id)  # raises forbidden

    async def on_status(self, frame):
        presence = await database_sync_to_async(routing.set_status)(self.actor, frame.get("status"), frame.get("capacity"))
        await self.send_frame({"type": "status.ok", "status": presence.status, "capacity": presence.capacity, "ref": frame.get("ref")})

    async def on_claim(self, frame):
        conversation = await database_sync_to_async(routing.claim)(self.actor, frame.get("conversation_id"))
        await self.send_frame({"type": "claim.ok", "conversation": conversation_payload(conversation, for_customer=False), "ref": frame.get("ref")})

    async def on_transfer(self, frame):
        conversation = await database_sync_to_async(routing.transfer)(
            self.actor, frame.get("conversation_id"), to_agent_id=frame.get("to_agent_id"), to_group_id=frame.get("to_group_id"),
            note=frame.get("note", ""),
        )
        await self.send_frame({"type": "transfer.ok", "conversation": conversation_payload(conversation, for_customer=False), "ref": frame.get("ref")})

    async def on_visibility(self, frame):
        """A console tab is shown (sent on visibilitychange and every 30 s while shown) or hidden:
        while one is shown, Web Push skips this agent."""
        await database_sync_to_async(routing.set_console_visible)(self.actor, frame.get("visible"))
        await self.send_frame({"type": "visibility.ok", "visible": frame.get("visible"), "ref": frame.get("ref")})

    # Routing frames exist for agents only: a customer sending them gets unknown_type.
    handlers = {**ChatConsumer.handlers, "status": on_status, "claim": on_claim, "transfer": on_transfer, "visibility": on_visibility}
