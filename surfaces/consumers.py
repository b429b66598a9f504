"""WebSocket endpoints. Thin: parse and check the frame, call an action, answer.

Frames are JSON objects with a "type"; docs/protocol.md lists every one.
A bad frame gets an error frame and the connection stays open; only a bad
credential closes it (after an error frame saying why)."""

import json
import logging
from urllib.parse import parse_qs

from channels.db import database_sync_to_async as _database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils.translation import gettext as _

from accounts.security import is_session_verified
from chat import access, identity, states
from chat import messages as chat_messages
from chat.payloads import conversation_payload, message_payload
from helpdesk import realtime
from helpdesk.errors import DomainError, not_found
from routing import actions as routing

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


def database_sync_to_async(func):
    """SQLite has one writer: one database thread per process is ideal there. A server
    database serves many connections: let several threads wait on it at once."""
    return _database_sync_to_async(func, thread_sensitive=settings.CHAT["DB_THREAD_SENSITIVE"])


class ChatConsumer(AsyncWebsocketConsumer):
    role = ""
    for_customer = False

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
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups_joined = groups
        await self.accept()
        await self.send_frame({"type": "hello", "role": self.role, "heartbeat_interval": settings.CHAT["HEARTBEAT_INTERVAL_SECONDS"], **hello})

    async def disconnect(self, code):
        for group in self.groups_joined:
            await self.channel_layer.group_discard(group, self.channel_name)

    async def send_frame(self, frame):
        await self.send(text_data=realtime.encode(frame))

    async def relay(self, event):
        """Group events arrive already encoded: relay the text as is."""
        if "assignee_id" in event and not access.may_see_live(self.actor, event["assignee_id"]):
            return
        await self.send(text_data=event["text"])

    async def control(self, event):
        """Server-side instructions (see accounts.actions.notify_access_changed)."""
        if event.get("action") == "resync":
            await self.resync()

    async def resync(self):
        """Re-read this user's access now: leave inboxes no longer served, join new ones, forget cached checks."""
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
        if self.actor is None:
            return
        if text_data is None:
            return await self.send_frame({"type": "error", "code": "binary_not_supported", "message": _("Send JSON text frames.")})
        if len(text_data.encode()) > settings.CHAT["MAX_FRAME_BYTES"]:
            return await self.send_frame({"type": "error", "code": "frame_too_large", "message": _("The frame is too large.")})
        try:
            frame = json.loads(text_data)
        except ValueError:
            return await self.send_frame({"type": "error", "code": "malformed_frame", "message": _("The frame is not valid JSON.")})
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            return await self.send_frame({"type": "error", "code": "malformed_frame", "message": _("A frame must be a JSON object with a type.")})
        handler = self.handlers.get(frame["type"])
        ref = frame.get("ref") if isinstance(frame.get("ref"), (str, int)) else None
        if handler is None:
            return await self.send_frame({"type": "error", "code": "unknown_type", "message": _("Unknown frame type."), "ref": ref})
        try:
            await handler(self, frame)
        except DomainError as exc:
            await self.send_frame({"type": "error", **exc.as_dict(), "ref": ref, "client_msg_id": frame.get("client_msg_id") if frame["type"] == "send" else None})
        except Exception:
            log.exception("frame %s failed", frame["type"])
            await self.send_frame({"type": "error", "code": "internal", "message": _("Something went wrong; please retry."), "ref": ref})

    # --- frame handlers ---------------------------------------------------

    async def on_ping(self, frame):
        await self.send_frame({"type": "pong", "ref": frame.get("ref")})

    async def on_send(self, frame):
        message, created = await database_sync_to_async(chat_messages.send_message)(
            self.actor,
            client_msg_id=frame.get("client_msg_id"),
            body=frame.get("body", ""),
            msg_type=frame.get("msg_type", "text"),
            conversation_id=frame.get("conversation_id"),
            attachments=frame.get("attachments"),
            is_private=frame.get("is_private", False),
            entry_page=frame.get("entry_page", ""),
        )
        # The action returned: the message is committed. Only now is it acknowledged.
        await self.send_frame(
            {"type": "ack", "client_msg_id": message.client_msg_id, "duplicate": not created, "message": message_payload(message, for_customer=self.for_customer)}
        )

    async def on_resume(self, frame):
        messages, has_more, conversation = await database_sync_to_async(chat_messages.fetch_messages)(
            self.actor, frame.get("conversation_id"), after_seq=frame.get("after_seq", 0), limit=frame.get("limit")
        )
        await self.send_frame(
            {
                "type": "messages",
                "conversation_id": conversation.pk,
                "messages": [message_payload(m, for_customer=self.for_customer) for m in messages],
                "has_more": has_more,
                "last_seq": conversation.last_seq,
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
            "customer": {"id": actor.customer_id, "name": actor.name},
            "conversations": [conversation_payload(c, for_customer=True) for c in conversations],
        }
        return actor, [realtime.group_for_customer(actor.customer_id)], hello

    def typing_groups(self, conversation):
        return [realtime.group_for_inbox(conversation.inbox_id)]


class AgentConsumer(ChatConsumer):
    """/ws/agent/ with the session cookie; Origin must be one of ALLOWED_HOSTS (see asgi.py)."""

    role = "agent"

    def authenticate(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            raise DomainError("unauthenticated", _("Please log in."), status=401)
        if not is_session_verified(user, self.scope.get("session")):
            raise DomainError("unauthenticated", _("Please complete the two-factor sign-in first."), status=401)
        params = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        actor = access.agent_actor_for(user, (params.get("workspace") or [None])[0])
        inbox_ids = access.agent_inbox_ids(actor)
        groups = [realtime.group_for_inbox(i) for i in inbox_ids] + [realtime.group_for_agent(actor.user_id)]
        return actor, groups, {"user": {"id": actor.user_id, "name": actor.name}, "inbox_ids": inbox_ids}

    def typing_groups(self, conversation):
        return [realtime.group_for_customer(conversation.customer_id), realtime.group_for_inbox(conversation.inbox_id)]

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
