"""A customer's plain message, or an agent's common reply, in one statement (PostgreSQL; a few in one
short transaction on SQLite).

The common send — a customer writing into their open conversation (queued, assigned, or pending
and not snoozed) in a workspace where nothing follows a message (chat.hooks `quiet_for`) — is one
autocommitted statement: a CTE advances the conversation's last_seq under its row lock, the
INSERT takes that seq, and the conversation comes back for the fan-out. The guarantees are the
general path's: the row lock orders concurrent senders (seq without gaps or duplicates); the
sender's (sender_key, client_msg_id) must not exist (a repeat answers nothing here and the general
path returns the original; two racing repeats: the unique constraint fails the second statement
whole, its seq increment included); the statement has committed when it returns (in a group commit,
chat.group_commit: the group commits before anyone is answered), so the ack follows the commit.
Anything else — the first message, a reopen, a snoozed or bot conversation,
sensitive words, rules, devices — answers None and the caller takes the general path.

An agent's common reply takes the same one statement: text (not a note) into a waiting chat nobody
holds yet, or into their own assigned chat, in a web inbox they still serve, where nothing follows an
agent's message (no word lists, no hosting settings: quiet_for). What the general path writes beside
it comes from the same CTE: the first response (its time and event row) and, in a chat nobody holds,
the agent as participant. A colleague's or supervisor's reply, a channel inbox (delivery job) and the
rest keep the general path, which also gives every refusal its error.

send_on_loop runs the same statement from the event loop on PostgreSQL (helpdesk.async_db): a
customer's text or an agent's reply over the socket then needs no database thread at all. There,
customers' texts that arrive while earlier ones are being stored go to the database together: one
statement stores a batch of distinct customers' sends (_batch_sql), each with the single statement's
checks; per message PostgreSQL then spends about half the CPU at four to a batch (docs/benchmarks.md)."""

import asyncio
import functools
import json
import weakref

import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from helpdesk import async_db, text
from helpdesk.validation import int_or_none

from . import access, group_commit, hooks
from .models import Conversation, ConversationEvent, CustomerBlock, Inbox, Message, Participant

# States where a customer's message changes nothing but last_seq/last_message_at (see messages._append).
PLAIN_STATES = (Conversation.State.QUEUED, Conversation.State.ASSIGNED, Conversation.State.PENDING)

_CONVERSATION_FIELDS = [f for f in Conversation._meta.concrete_fields]
_CONVERSATION_ATTNAMES = [f.attname for f in _CONVERSATION_FIELDS]


def _placeholder(name):
    """The SQL giving a send's value `name`: its parameter (in a batch, a column of the input rows)."""
    return f"%({name})s"


def _not_blocked(value=_placeholder):
    """A blocked customer's send is left to the general path, which refuses it (chat.blocks); the
    partial unique index on open blocks makes this one index probe."""
    return (f'NOT EXISTS (SELECT 1 FROM "{CustomerBlock._meta.db_table}" WHERE "customer_id" = {value("customer_id")}'
            ' AND "lifted_at" IS NULL AND ("expires_at" IS NULL OR "expires_at" > %(now)s))')


def _customer_may_write(conv, value=_placeholder):
    """A customer's message the statement may take: into their open conversation (or the one named,
    if theirs) of this workspace, in a plain state and not snoozed, not blocked, its client id new."""
    return f"""
        "{conv}"."id" = COALESCE({value("conversation_id")}, (
                SELECT o."id" FROM "{conv}" o WHERE o."customer_id" = {value("customer_id")} AND o."inbox_id" = {value("inbox_id")}
                AND o."state" = ANY(%(open_states)s) ORDER BY o."id" DESC LIMIT 1))
          AND "{conv}"."customer_id" = {value("customer_id")} AND "{conv}"."workspace_id" = {value("workspace_id")}
          AND "{conv}"."state" = ANY(%(plain_states)s) AND ("{conv}"."state" <> 'pending' OR "{conv}"."snoozed_until" IS NULL)
          AND {_not_blocked(value)}
          AND {_not_sent_before(Message._meta.db_table, value)}"""


def _agent_may_write(conv):
    """An agent's common reply (chat.access.may_reply's rule for their own chats, read now): to a
    queued chat nobody holds yet, or as the assignee of an assigned one, in a web inbox (a channel's
    delivery job is the general path's) which the agent still serves."""
    return f"""
        "id" = %(conversation_id)s AND "workspace_id" = %(workspace_id)s
        AND (("state" = '{Conversation.State.ASSIGNED.value}' AND "assignee_id" = %(user_id)s)
             OR ("state" = '{Conversation.State.QUEUED.value}' AND "assignee_id" IS NULL))
        AND EXISTS (SELECT 1 FROM "{Inbox._meta.db_table}" i WHERE i."id" = "{conv}"."inbox_id" AND i."kind" = '{Inbox.Kind.WEB.value}')
        AND {access.serves_inbox_sql(f'"{conv}"."inbox_id"')}"""


def _not_sent_before(msg, value=_placeholder):
    """The sender's client id is new. `<> ''` repeats the predicate of the partial unique index
    (uniq_message_sender_client_id): without it PostgreSQL cannot use that index in a generic plan,
    so a prepared statement's generic plan scans the table, and PostgreSQL re-plans the statement on
    every send instead (planning was then ~0.25 ms of its CPU per send, 40% of the statement)."""
    return (f'NOT EXISTS (SELECT 1 FROM "{msg}" WHERE "sender_key" = {value("sender_key")} AND "client_msg_id" = {value("client_msg_id")}'
            ' AND "client_msg_id" <> \'\')')


# What the general path (messages._append) writes beside an agent's message: a reply to a chat
# nobody holds makes the agent a participant; the conversation's first reply is its first response.
_JOIN = f"""INSERT INTO "{Participant._meta.db_table}" ("conversation_id", "user_id", "created_at")
            SELECT "id", %(user_id)s, %(now)s FROM {{source}} ON CONFLICT DO NOTHING"""
_FIRST_RESPONSE = f"""INSERT INTO "{ConversationEvent._meta.db_table}" ("conversation_id", "kind", "from_state", "to_state", "actor_kind",
                      "actor_user_id", "actor_customer_id", "data", "created_at")
            SELECT "id", '{ConversationEvent.Kind.FIRST_RESPONSE.value}', '', '', %(sender_kind)s, %(user_id)s, NULL,
                   {{seq_json}}, %(now)s FROM {{source}}"""


def _agent_target(conv, msg):
    """The agent's CTE head: the row locked first, so that whether this is the first response (and
    whether the agent joins) is read from the version being updated, then advanced."""
    qualified = ", ".join(f'"{conv}"."{f.column}"' for f in _CONVERSATION_FIELDS)
    return f"""
        prior AS (
            SELECT "id", "first_response_at" IS NULL AS "first", "assignee_id" IS NULL AS "joins" FROM "{conv}"
            WHERE {_agent_may_write(conv)} AND {_not_sent_before(msg)}
            FOR UPDATE OF "{conv}"
        ), target AS (
            UPDATE "{conv}" SET "last_seq" = "{conv}"."last_seq" + 1, "last_message_at" = %(now)s,
                "first_response_at" = COALESCE("{conv}"."first_response_at", %(now)s)
            FROM prior WHERE "{conv}"."id" = prior."id"
            RETURNING {qualified}, prior."first", prior."joins"
        ), joined AS (
            {_JOIN.format(source='target WHERE "joins"')}
        ), answered AS (
            {_FIRST_RESPONSE.format(source='target WHERE "first"', seq_json='jsonb_build_object(\'seq\', "last_seq")')}
        )"""


@functools.cache  # built once per process, not per send
def _sql(agent=False):
    conv, msg = Conversation._meta.db_table, Message._meta.db_table
    returned = ", ".join(f'"{f.column}"' for f in _CONVERSATION_FIELDS)
    target = ", ".join(f'target."{f.column}"' for f in _CONVERSATION_FIELDS)
    head = _agent_target(conv, msg) if agent else f"""
        target AS (
            UPDATE "{conv}" SET "last_seq" = "last_seq" + 1, "last_message_at" = %(now)s
            WHERE {_customer_may_write(conv)}
            RETURNING {returned}
        )"""
    return f"""
        WITH {head}, stored AS (
            INSERT INTO "{msg}" ("conversation_id", "seq", "sender_kind", "sender_user_id", "sender_customer_id", "sender_key",
                                 "sender_name", "client_msg_id", "msg_type", "body", "attachments", "is_private", "created_at", "history_tsv")
            SELECT "id", "last_seq", %(sender_kind)s, %(user_id)s, %(customer_id)s, %(sender_key)s, %(sender_name)s, %(client_msg_id)s,
                   %(msg_type)s, %(body)s, %(attachments)s::jsonb, false, %(now)s,
                   strip(to_tsvector('simple'::regconfig, %(history_terms)s)) FROM target
            RETURNING "id", "conversation_id"
        )
        SELECT stored."id", {target} FROM stored JOIN target ON target."id" = stored."conversation_id"
    """


# Per send in a batch: what the customer's statement takes as parameters, with their types.
_BATCH_COLUMNS = (("conversation_id", "bigint"), ("customer_id", "bigint"), ("inbox_id", "bigint"), ("workspace_id", "bigint"),
                  ("sender_kind", "text"), ("sender_key", "text"), ("sender_name", "text"), ("client_msg_id", "text"),
                  ("msg_type", "text"), ("body", "text"), ("attachments", "jsonb"), ("history_terms", "text"))


@functools.cache
def _batch_sql(count):
    """The customer's statement for `count` sends of distinct customers (so distinct conversations: a
    conversation is written once per statement). Each send passes the same conditions as alone; one
    that fails them is simply absent from the result (its general path decides). The rows are locked
    in id order, so two batches sharing conversations queue instead of deadlocking. Returns the send's
    index in the batch, the message id and the conversation's row."""
    conv, msg = Conversation._meta.db_table, Message._meta.db_table
    names = ", ".join(f'"{name}"' for name, _type in _BATCH_COLUMNS)
    rows = ", ".join("(" + ", ".join([f"{index}::int"] + [f"%(s{index}_{name})s::{kind}" for name, kind in _BATCH_COLUMNS]) + ")"
                     for index in range(count))
    returned = ", ".join(f'c."{f.column}"' for f in _CONVERSATION_FIELDS)
    target = ", ".join(f'target."{f.column}"' for f in _CONVERSATION_FIELDS)
    return f"""
        WITH input ("i", {names}) AS (VALUES {rows}),
        prior AS (
            SELECT "{conv}"."id", input."i" FROM input JOIN "{conv}" ON {_customer_may_write(conv, lambda name: f'input."{name}"')}
            ORDER BY "{conv}"."id" FOR UPDATE OF "{conv}"
        ), target AS (
            UPDATE "{conv}" c SET "last_seq" = c."last_seq" + 1, "last_message_at" = %(now)s FROM prior WHERE c."id" = prior."id"
            RETURNING prior."i", {returned}
        ), stored AS (
            INSERT INTO "{msg}" ("conversation_id", "seq", "sender_kind", "sender_user_id", "sender_customer_id", "sender_key",
                                 "sender_name", "client_msg_id", "msg_type", "body", "attachments", "is_private", "created_at", "history_tsv")
            SELECT target."id", target."last_seq", input."sender_kind", NULL, input."customer_id", input."sender_key", input."sender_name",
                   input."client_msg_id", input."msg_type", input."body", input."attachments", false, %(now)s,
                   strip(to_tsvector('simple'::regconfig, input."history_terms")) FROM target JOIN input ON input."i" = target."i"
            RETURNING "id", "conversation_id"
        )
        SELECT target."i", stored."id", {target} FROM stored JOIN target ON target."id" = stored."conversation_id"
    """


def _batch_params(sends, now):
    params = {"now": now, "open_states": sends[0]["open_states"], "plain_states": sends[0]["plain_states"]}
    for index, send in enumerate(sends):
        send["now"] = now  # the batch's time is each message's created_at
        params.update((f"s{index}_{name}", send[name]) for name, _type in _BATCH_COLUMNS)
    return params


@functools.cache
def _sqlite_sql(agent=False):
    """SQLite has no data-modifying CTE: the same steps as statements in one short (IMMEDIATE)
    transaction; SQLite's single writer orders concurrent senders as PostgreSQL's row lock does.
    An agent's reply first reads what its CTE's `prior` reads (first response, joining)."""
    conv, msg = Conversation._meta.db_table, Message._meta.db_table
    returned = ", ".join(f'"{f.column}"' for f in _CONVERSATION_FIELDS)
    open_states = ", ".join(f"'{s}'" for s in Conversation.OPEN_STATES)  # code constants, not input
    plain_states = ", ".join(f"'{s}'" for s in PLAIN_STATES)
    writer = _agent_may_write(conv) if agent else f"""
          "id" = COALESCE(%(conversation_id)s, (
                SELECT "id" FROM "{conv}" WHERE "customer_id" = %(customer_id)s AND "inbox_id" = %(inbox_id)s
                AND "state" IN ({open_states}) ORDER BY "id" DESC LIMIT 1))
          AND "customer_id" = %(customer_id)s AND "workspace_id" = %(workspace_id)s
          AND "state" IN ({plain_states}) AND ("state" <> 'pending' OR "snoozed_until" IS NULL)
          AND {_not_blocked()}"""
    first_response = ', "first_response_at" = COALESCE("first_response_at", %(now)s)' if agent else ""
    advance = f"""
        UPDATE "{conv}" SET "last_seq" = "last_seq" + 1, "last_message_at" = %(now)s{first_response}
        WHERE {writer} AND {_not_sent_before(msg)}
        RETURNING {returned}
    """
    store = f"""
        INSERT INTO "{msg}" ("conversation_id", "seq", "sender_kind", "sender_user_id", "sender_customer_id", "sender_key",
                             "sender_name", "client_msg_id", "msg_type", "body", "attachments", "is_private", "created_at")
        VALUES (%(stored_conversation)s, %(seq)s, %(sender_kind)s, %(user_id)s, %(customer_id)s, %(sender_key)s, %(sender_name)s,
                %(client_msg_id)s, %(msg_type)s, %(body)s, %(attachments)s, 0, %(now)s)
    """
    source = f'"{conv}" WHERE "id" = %(stored_conversation)s'
    agent_steps = {
        "prior": f'SELECT "first_response_at" IS NULL, "assignee_id" IS NULL FROM "{conv}" WHERE "id" = %(conversation_id)s',
        "joins": _JOIN.format(source=source),
        "first": _FIRST_RESPONSE.format(source=source, seq_json="json_object('seq', %(seq)s)"),
    }
    return advance, store, agent_steps


@functools.cache
def _converters(vendor):
    """Per returned column, what the ORM would apply to the raw value (SQLite returns datetimes and
    booleans as text and integers)."""
    result = []
    for field in _CONVERSATION_FIELDS:
        column = field.get_col(Conversation._meta.db_table)
        result.append((connection.ops.get_db_converters(column) + column.get_db_converters(connection), column))
    return result


def _conversation_from_row(values):
    converted = []
    for value, (converters, column) in zip(values, _converters(connection.vendor)):
        for converter in converters:
            value = converter(value, column, connection)
        converted.append(value)
    return Conversation.from_db(connection.alias, _CONVERSATION_ATTNAMES, converted)


def _store_sqlite(params, agent):
    """(message id, conversation row) or None, committed when it returns."""
    advance, store, agent_steps = _sqlite_sql(agent)
    params = {key: value for key, value in params.items() if key not in ("open_states", "plain_states")}  # literals here
    params["now"] = connection.ops.adapt_datetimefield_value(params["now"])
    with transaction.atomic(), connection.cursor() as cursor:
        prior = {}
        if agent:
            cursor.execute(agent_steps["prior"], params)
            prior = dict(zip(("first", "joins"), cursor.fetchone() or (False, False)))
        cursor.execute(advance, params)
        row = cursor.fetchone()
        if row is None:
            return None  # nothing changed: the transaction commits nothing
        by_column = dict(zip(_CONVERSATION_ATTNAMES, row))
        params.update(stored_conversation=by_column["id"], seq=by_column["last_seq"])
        for step in ("joins", "first"):
            if prior.get(step):
                cursor.execute(agent_steps[step], params)
        cursor.execute(store, params)
        return cursor.lastrowid, row


def _server_bound_cursor():
    """Django's cursors bind parameters client-side, so PostgreSQL plans this CTE on every send (its
    planning took longer than its execution). A server-bound cursor lets psycopg prepare it after a
    few executions on a connection (pooled connections keep it), behind Django's wrapper (query log,
    execute wrappers, error translation)."""
    connection.ensure_connection()
    raw = psycopg.Cursor(connection.connection)
    return connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)


def _params(actor, *, client_msg_id, body, msg_type, conversation_id, attachments):
    """The statement's parameters. history_terms: the history search's terms of the body (the column
    of reports/migrations/0004), computed here rather than by the database (PostgreSQL only)."""
    return {
        "history_terms": text.history_terms_text(body) if connection.vendor == "postgresql" else "",
        "now": timezone.now(), "conversation_id": conversation_id, "customer_id": actor.customer_id, "inbox_id": actor.inbox_id,
        "workspace_id": actor.workspace_id, "user_id": actor.user_id, "open_states": [str(s) for s in Conversation.OPEN_STATES], "plain_states": [str(s) for s in PLAIN_STATES],
        "sender_key": actor.key, "client_msg_id": client_msg_id, "sender_kind": actor.kind, "sender_name": actor.name[:120],
        "msg_type": msg_type, "body": body, "attachments": json.dumps(list(attachments)),
    }


def _message_from_row(actor, row, params, attachments):
    conversation = _conversation_from_row(row[1:])
    message = Message(
        pk=row[0], conversation=conversation, seq=conversation.last_seq, sender_kind=actor.kind, sender_user_id=actor.user_id,
        sender_customer_id=actor.customer_id,
        sender_key=actor.key, sender_name=params["sender_name"], client_msg_id=params["client_msg_id"], msg_type=params["msg_type"],
        body=params["body"], attachments=list(attachments), is_private=False, created_at=params["now"],
    )
    message._state.adding, message._state.db = False, connection.alias
    return message


def _takes(actor, msg_type, attachments, conversation_id):
    """(applies, conversation id): whether the statement may take this send by its sender and content
    (a customer's message; an agent's text into a named conversation), with the named conversation
    as an integer (None: the customer's open one; one that is not an integer is the general path's,
    which answers not_found)."""
    if not (actor.is_customer or actor.is_agent and msg_type == Message.Type.TEXT and not attachments):
        return False, None
    if conversation_id is None:
        return actor.is_customer, None
    conversation_id = int_or_none(conversation_id)
    return conversation_id is not None, conversation_id


def send(actor, *, client_msg_id, body, msg_type, conversation_id, attachments):
    """The stored message (its .conversation set), or None when this send needs the general path."""
    if connection.vendor not in ("postgresql", "sqlite") or (connection.in_atomic_block and not group_commit.grouped()):
        return None
    applies, conversation_id = _takes(actor, msg_type, attachments, conversation_id)
    if not applies or not hooks.listener().quiet_for(actor.workspace_id, actor.kind):
        return None
    agent = actor.is_agent
    params = _params(actor, client_msg_id=client_msg_id, body=body, msg_type=msg_type, conversation_id=conversation_id, attachments=attachments)
    try:
        if connection.vendor == "sqlite":
            stored = _store_sqlite(params, agent)
            row = (stored[0], *stored[1]) if stored else None
        else:
            with _server_bound_cursor() as cursor:
                cursor.execute(_sql(agent), params)
                row = cursor.fetchone()
    except IntegrityError:  # a concurrent repeat of this send won: the general path returns it
        if group_commit.grouped():
            raise  # the group's transaction is aborted: it runs its sends one by one (chat.group_commit)
        return None
    return None if row is None else _message_from_row(actor, row, params, attachments)


def serves_loop():
    """Whether send_on_loop can store anything here (PostgreSQL with loop connections)."""
    return async_db.available()


async def send_on_loop(actor, *, client_msg_id, body, msg_type, conversation_id, attachments):
    """send() on the event loop, without a database thread (helpdesk.async_db, PostgreSQL): the same
    statement, so the same guarantees. None when it does not apply here or the general path must
    take the send; that includes the lifecycle's caches being due a reload (quiet_known: no query
    may run on the loop)."""
    if not serves_loop():
        return None
    applies, conversation_id = _takes(actor, msg_type, attachments, conversation_id)
    if not applies or hooks.listener().quiet_known(actor.workspace_id, actor.kind) is not True:
        return None
    params = _params(actor, client_msg_id=client_msg_id, body=body, msg_type=msg_type, conversation_id=conversation_id, attachments=attachments)
    if actor.is_agent or settings.CHAT["LOOP_SEND_BATCHES_IN_FLIGHT"] <= 0:
        row = await _store_alone(params, agent=actor.is_agent)
    else:
        row = await _batches().submit(params)
    return None if row is None else _message_from_row(actor, row, params, attachments)


async def _store_alone(params, *, agent):
    try:
        return await async_db.fetchone(_sql(agent), params)
    except psycopg.errors.UniqueViolation:  # a concurrent repeat of this send won: the general path returns it
        return None


async def _store_batch(sends):
    """Each customer send's row (None: the general path decides), or the exception storing it raised."""
    if len(sends) > 1:
        try:
            rows = await async_db.fetchall(_batch_sql(len(sends)), _batch_params(sends, timezone.now()))
        except psycopg.Error:
            # A racing repeat of one send (a unique violation) or a deadlock fails the statement whole,
            # and nothing of it was stored: each send is stored alone, as if it had come alone.
            pass
        else:
            by_index = {row[0]: row[1:] for row in rows}
            return [by_index.get(index) for index in range(len(sends))]
    return await asyncio.gather(*(_store_alone(send, agent=False) for send in sends), return_exceptions=True)


_collectors = weakref.WeakKeyDictionary()  # event loop -> _Batches
_storing = set()  # the batches' tasks, referenced until done


def _batches():
    loop = asyncio.get_running_loop()
    collector = _collectors.get(loop)
    if collector is None:
        collector = _collectors[loop] = _Batches()
    return collector


class _Batches:
    """One event loop's customer sends. A send goes to the database at once while fewer than
    CHAT["LOOP_SEND_BATCHES_IN_FLIGHT"] batches are being stored; otherwise it waits for the next
    batch, which takes what arrived meanwhile (up to CHAT["LOOP_SEND_BATCH_MAX"], one send per
    customer; another send of the same customer waits for the batch after). So an idle server adds
    no delay, and a busy one stores several sends per statement. Each caller gets its own send's
    row or exception once the statement has committed."""

    def __init__(self):
        self.waiting, self.in_flight = [], 0

    def submit(self, params):
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((params, future))
        self._start()
        return future

    def _start(self):
        while self.waiting and self.in_flight < settings.CHAT["LOOP_SEND_BATCHES_IN_FLIGHT"]:
            batch, later, customers = [], [], set()
            for params, future in self.waiting:
                if future.done():  # the socket went away before its send was stored: nothing to store
                    continue
                if len(batch) < settings.CHAT["LOOP_SEND_BATCH_MAX"] and params["customer_id"] not in customers:
                    customers.add(params["customer_id"])
                    batch.append((params, future))
                else:
                    later.append((params, future))
            self.waiting = later
            if not batch:
                return
            self.in_flight += 1
            task = asyncio.ensure_future(self._store(batch))
            _storing.add(task)
            task.add_done_callback(_storing.discard)

    async def _store(self, batch):
        try:
            results = await _store_batch([params for params, _future in batch])
        except asyncio.CancelledError:  # the loop is ending: so are its callers
            for _params_, future in batch:
                future.cancel()
            raise
        except Exception as exc:  # every caller hears it, none is acked
            results = [exc] * len(batch)
        finally:
            self.in_flight -= 1
            self._start()
        for (_params_, future), result in zip(batch, results):
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
