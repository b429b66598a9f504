"""Bare-stack ASGI app: `uvicorn --app-dir scripts bare_stack.app:application`.

Speaks the subset of docs/protocol.md the benchmark client uses, on the same paths:
/ws/customer/?token=… and /ws/agent/ (cookie sessionid=…); frames hello, send → ack
(after commit), message (relayed to the conversation's customer and inbox groups),
resume → messages, ping → pong. One statement per send: lock the conversation row
by bumping its seq and INSERT the message (autocommit: the statement is the transaction).

Environment: BARE_DATABASE_URL (psycopg conninfo), REDIS_URL, CHANNEL_PREFIX, BARE_DB_POOL.
No Django ORM, no auth framework: what is left is the cost of the stack itself."""

import asyncio
import json
import os

import psycopg
from django.conf import settings

settings.configure(
    CHANNEL_LAYERS={
        "default": {
            # Exactly the product's layer and host options (helpdesk/settings.py).
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": os.environ["REDIS_URL"], "socket_timeout": None}], "prefix": os.environ.get("CHANNEL_PREFIX", "bare")},
        }
    },
)

from channels.consumer import get_handler_name  # noqa: E402
from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402

MAX_BODY_CHARS = 5000
PAGE = 200  # as the product's CHAT_RESUME_PAGE_SIZE

# Bumping last_seq takes the conversation's row lock (seq order = commit order) and checks
# access in the same statement; the unique (sender_key, client_msg_id) makes retries idempotent.
SEND_SQL = """
WITH c AS (
    UPDATE bare_conversation SET last_seq = last_seq + 1, last_message_at = now()
    WHERE id = %(cid)s AND {access}
    RETURNING id, last_seq, inbox_id, customer_id
), m AS (
    INSERT INTO bare_message (conversation_id, seq, sender_kind, sender_key, sender_name, client_msg_id, body)
    SELECT id, last_seq, %(kind)s, %(key)s, %(name)s, %(cmid)s, %(body)s FROM c
    RETURNING id, seq, created_at
)
SELECT m.id, m.seq, m.created_at, c.inbox_id, c.customer_id FROM m, c
"""
ACCESS = {"customer": "customer_id = %(who)s", "agent": "inbox_id = %(who)s"}
DUPLICATE_SQL = """
SELECT m.id, m.seq, m.created_at, c.inbox_id, c.customer_id FROM bare_message m JOIN bare_conversation c ON c.id = m.conversation_id
WHERE m.sender_key = %(key)s AND m.client_msg_id = %(cmid)s
"""
RESUME_SQL = """
SELECT m.id, m.seq, m.sender_kind, m.sender_name, m.client_msg_id, m.body, m.created_at, c.last_seq
FROM bare_conversation c LEFT JOIN bare_message m ON m.conversation_id = c.id AND m.seq > %(after)s
WHERE c.id = %(cid)s AND {access} ORDER BY m.seq LIMIT %(limit)s
"""


class Pool:
    """A fixed set of autocommit connections handed out through a queue: the least that serves
    (no health checks, no resizing). Six per process by default, about the product's database
    threads (default executor on 2 cores)."""

    def __init__(self, conninfo, size):
        self.conninfo, self.size, self.idle = conninfo, size, None

    async def open(self):
        self.idle = asyncio.Queue()
        for _ in range(self.size):
            self.idle.put_nowait(await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True))

    async def fetch(self, sql, params):
        conn = await self.idle.get()
        try:
            cur = await conn.execute(sql, params)
            return await cur.fetchall()
        finally:
            self.idle.put_nowait(conn)


pool = Pool(os.environ.get("BARE_DATABASE_URL", ""), int(os.environ.get("BARE_DB_POOL", "6")))


def payload(cid, row, kind, name, cmid, body):
    msg_id, seq, created_at = row[0], row[1], row[2]
    return {"id": msg_id, "conversation_id": cid, "seq": seq, "sender": {"kind": kind, "name": name}, "client_msg_id": cmid or None,
            "type": "text", "body": body, "attachments": [], "recalled": False, "created_at": created_at.isoformat()}


def encode(frame):
    return json.dumps(frame, ensure_ascii=False, separators=(",", ":"))


def is_id(value):
    return isinstance(value, int) and not isinstance(value, bool)


class BareConsumer(AsyncWebsocketConsumer):
    async def dispatch(self, message):
        """Without channels' per-dispatch `aclose_old_connections` hop (no Django ORM here), as the
        product's consumer does: the bare stack stays the best these libraries can do."""
        await getattr(self, get_handler_name(message))(message)

    async def connect(self):
        if self.scope["path"] == "/ws/customer/":
            self.kind, credential = "customer", self.query("token")
            rows = await pool.fetch("SELECT id, name FROM bare_customer WHERE token = %s", (credential,))
            group = f"customer.{rows[0][0]}" if rows else None
        else:
            self.kind, credential = "agent", self.cookie("sessionid")
            rows = await pool.fetch("SELECT id, name, inbox_id FROM bare_agent WHERE session_key = %s", (credential,))
            group = f"inbox.{rows[0][2]}" if rows else None
        if not rows:
            await self.close(code=4401)
            return
        self.who_id, self.name = rows[0][0], rows[0][1]
        self.who = rows[0][0] if self.kind == "customer" else rows[0][2]  # customer id, or the agent's inbox
        self.key = f"{self.kind[0]}{self.who_id}"
        self.groups = [group]  # AsyncWebsocketConsumer discards them on disconnect
        await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send(text_data=encode({"type": "hello", "role": self.kind}))

    def query(self, name):
        for part in self.scope.get("query_string", b"").decode("latin-1").split("&"):
            key, _, value = part.partition("=")
            if key == name:
                return value
        return ""

    def cookie(self, name):
        for key, value in self.scope.get("headers", []):
            if key == b"cookie":
                for part in value.decode("latin-1").split(";"):
                    k, _, v = part.strip().partition("=")
                    if k == name:
                        return v
        return ""

    async def receive(self, text_data=None, bytes_data=None):
        try:
            frame = json.loads(text_data or "")
            kind = frame["type"]
        except (ValueError, TypeError, KeyError):
            return await self.error("malformed_frame")
        if kind == "send":
            await self.on_send(frame)
        elif kind == "resume":
            await self.on_resume(frame)
        elif kind == "ping":
            await self.send(text_data=encode({"type": "pong", "ref": frame.get("ref")}))
        else:
            await self.error("unknown_type")

    async def error(self, code, **extra):
        await self.send(text_data=encode({"type": "error", "code": code, **extra}))

    async def on_send(self, frame):
        cid, body, cmid = frame.get("conversation_id"), frame.get("body"), frame.get("client_msg_id")
        if not is_id(cid) or not isinstance(body, str) or not 0 < len(body) <= MAX_BODY_CHARS or not isinstance(cmid, str) or len(cmid) > 64:
            return await self.error("invalid", client_msg_id=cmid if isinstance(cmid, str) else None)
        params = {"cid": cid, "who": self.who, "kind": self.kind, "key": self.key, "name": self.name, "cmid": cmid, "body": body}
        duplicate = False
        try:
            rows = await pool.fetch(SEND_SQL.format(access=ACCESS[self.kind]), params)
        except psycopg.errors.UniqueViolation:  # a retry of a stored message: ack it again, publish nothing
            rows, duplicate = await pool.fetch(DUPLICATE_SQL, params), True
        if not rows:
            return await self.error("not_found", client_msg_id=cmid)
        message = payload(cid, rows[0], self.kind, self.name, cmid, body)
        # Committed (autocommit): acknowledge, then fan out to both sides of the conversation.
        await self.send(text_data=encode({"type": "ack", "client_msg_id": cmid, "duplicate": duplicate, "message": message}))
        if not duplicate:
            event = {"type": "relay", "text": encode({"type": "message", "message": message})}
            await self.channel_layer.group_send(f"inbox.{rows[0][3]}", event)
            await self.channel_layer.group_send(f"customer.{rows[0][4]}", event)

    async def on_resume(self, frame):
        cid, after = frame.get("conversation_id"), frame.get("after_seq", 0)
        if not is_id(cid) or not is_id(after):
            return await self.error("invalid")
        rows = await pool.fetch(RESUME_SQL.format(access=ACCESS[self.kind].replace("customer_id", "c.customer_id").replace("inbox_id", "c.inbox_id")),
                                {"cid": cid, "who": self.who, "after": after, "limit": PAGE + 1})
        if not rows:
            return await self.error("not_found")
        messages = [payload(cid, (r[0], r[1], r[6]), r[2], r[3], r[4], r[5]) for r in rows[:PAGE] if r[0] is not None]
        await self.send(text_data=encode({"type": "messages", "conversation_id": cid, "messages": messages, "has_more": len(rows) > PAGE,
                                          "last_seq": rows[0][7], "ref": frame.get("ref")}))

    async def relay(self, event):
        await self.send(text_data=event["text"])


consumer = BareConsumer.as_asgi()


async def application(scope, receive, send):
    if scope["type"] == "websocket" and scope["path"] in ("/ws/customer/", "/ws/agent/"):
        return await consumer(scope, receive, send)
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await pool.open()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.close", "code": 4404})
    elif scope["type"] == "http":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})

