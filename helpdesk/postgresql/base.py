"""Django's PostgreSQL backend, with a pool whose checkout check skips a connection that was
checked out moments ago.

With a pool every database call checks a connection out and back in (CONN_MAX_AGE must be 0), and
Django's health check (CONN_HEALTH_CHECKS) then costs an extra round trip per call: 12% of a chat
server's busy samples under load. A connection handed back healthy a moment ago is still healthy
(the pool discards one returned broken), so only connections idle for DB_POOL_RECHECK_SECONDS or
longer are checked: after a database restart those are the ones that are dead (a connection used
within that window before the restart fails its next call once, as without a pool)."""

import time
import weakref

from django.conf import settings
from django.db.backends.postgresql import base
from psycopg_pool import ConnectionPool

_checked_out_at = weakref.WeakKeyDictionary()


def check_unless_recent(conn):
    now = time.monotonic()
    last = _checked_out_at.get(conn)
    if last is None or now - last >= settings.DB_POOL_RECHECK_SECONDS:
        ConnectionPool.check_connection(conn)  # raises for a dead connection: the pool replaces it
    _checked_out_at[conn] = now


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self):
        pool_options = self.settings_dict["OPTIONS"].get("pool")
        if pool_options and self.alias not in self._connection_pools and self.settings_dict["CONN_HEALTH_CHECKS"]:
            # Built here with our check; Django's property finds it and does the rest.
            self._connection_pools.setdefault(self.alias, ConnectionPool(
                kwargs={**self.get_connection_params(), "autocommit": True}, open=False,
                configure=self._configure_connection, check=check_unless_recent, **(pool_options if isinstance(pool_options, dict) else {}),
            ))
        return super().pool
