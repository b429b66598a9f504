"""Database statements run on the event loop itself, for the one hot statement that needs nothing
of Django's connection handling (chat.fast_send's customer send on PostgreSQL).

Through Django every statement from a consumer costs a hop to a database thread, a pooled
connection's checkout and checkin, and Django's cursor wrapper, around a statement that is its own
transaction. Here each event loop keeps a few autocommit psycopg connections with the parameters
and adapters of Django's own (rows convert as the ORM expects), at most CHAT["LOOP_DB_POOL_SIZE"]
per process beside Django's pool. PostgreSQL only: SQLite's single writer is best served by its
one database thread."""

import asyncio
import logging

import psycopg
from django.conf import settings
from django.db import connections

log = logging.getLogger(__name__)


def available():
    """Whether statements may run on the loop here (PostgreSQL and a pool size above 0)."""
    return connections["default"].vendor == "postgresql" and settings.CHAT["LOOP_DB_POOL_SIZE"] > 0


def _connection_kwargs():
    wrapper = connections["default"]
    kwargs = wrapper.get_connection_params()  # no I/O: dbname, user, host, options, adapters
    kwargs.pop("cursor_factory", None)  # Django's is a sync cursor class
    # Django sets the session time zone after connecting; here the server does it at start-up.
    kwargs["options"] = f"{kwargs.get('options', '')} -c TimeZone={wrapper.timezone_name}".strip()
    return kwargs


class _LoopPool:
    """At most `size` connections of one event loop, opened when first needed; one that failed in a
    way that may have left it unusable is closed, never handed out again."""

    def __init__(self, loop, size):
        self.loop, self.slots, self.idle, self.kwargs = loop, asyncio.Semaphore(size), [], _connection_kwargs()

    async def fetch(self, sql, params, many):
        async with self.slots:
            conn = self.idle.pop() if self.idle else await psycopg.AsyncConnection.connect(autocommit=True, **self.kwargs)
            try:
                cursor = await conn.execute(sql, params)
                rows = await (cursor.fetchall() if many else cursor.fetchone())
            except psycopg.Error:
                # A refused statement (e.g. a unique violation) leaves an autocommit connection usable.
                (self.idle.append if not conn.broken and not conn.closed else _drop)(conn)
                raise
            except BaseException:  # cancelled mid-statement: its state is unknown
                _drop(conn)
                raise
            self.idle.append(conn)
            return rows

    def drop_idle(self):
        for conn in self.idle:
            _drop(conn)
        self.idle = []


def _drop(conn):
    try:
        conn.pgconn.finish()  # synchronous: works on a loop that is gone too
    except Exception:
        log.debug("closing a loop connection failed", exc_info=True)


_pools = {}  # event loop -> _LoopPool


def _pool():
    loop = asyncio.get_running_loop()
    pool = _pools.get(loop)
    if pool is None:
        for gone in [other for other in _pools if other.is_closed()]:  # e.g. one test's loop, ended
            _pools.pop(gone).drop_idle()
        pool = _pools[loop] = _LoopPool(loop, settings.CHAT["LOOP_DB_POOL_SIZE"])
    return pool


async def fetchone(sql, params):
    """Run one autocommitted statement; its first row (None when it returned none). Database
    errors are psycopg's own (e.g. psycopg.errors.UniqueViolation)."""
    return await _pool().fetch(sql, params, many=False)


async def fetchall(sql, params):
    """Run one autocommitted statement; all its rows."""
    return await _pool().fetch(sql, params, many=True)


def drop_all():
    """Close every loop connection of this process (test teardown, before the database goes)."""
    while _pools:
        _pools.popitem()[1].drop_idle()
