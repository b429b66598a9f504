"""Group commit: sends that arrived together stored in one transaction and one database call.

Under load most of a send's cost is not its statements but what surrounds them: the hop onto a
database thread, the connection's checkout and check, BEGIN/COMMIT and the WAL flush.
`store_together` runs the sends surfaces.group_commit collected in one transaction. A send keeps its
own writes in an atomic block (a savepoint here), so one that is refused rolls back only itself and
reports its own error. Everything is committed, and its events published (realtime.publish waits for
the commit), before any caller hears back: an ack still follows the commit.

A database error that escapes a send (e.g. the one-statement send meeting a concurrent retry of the
same message) or a failed commit rolls the whole group back; each send is then run on its own, as
without grouping. Nothing is lost or stored twice either way: no caller has been answered yet."""

import threading

from django.db import DatabaseError, OperationalError, transaction

_state = threading.local()


class _RunAlone(Exception):
    pass


def grouped():
    """True inside store_together on this thread: the open transaction is the group's."""
    return getattr(_state, "grouped", False)


DEADLOCK_RETRIES = 3


def _alone(send):
    """One send on its own. A deadlock victim (a group holding several conversations in another
    order) stored nothing: it is run again, a few times; a send is idempotent by its client id."""
    for attempt in range(DEADLOCK_RETRIES + 1):
        try:
            return send()
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) != "40P01" or attempt == DEADLOCK_RETRIES:
                return exc
        except Exception as exc:
            return exc


def store_together(sends):
    """sends: zero-argument callables, each storing one message. Returns, in order, each one's result
    or the exception it raised (never raises for a single send)."""
    if len(sends) == 1:
        return [_alone(sends[0])]
    results = []
    try:
        with transaction.atomic():
            _state.grouped = True
            for send in sends:
                try:
                    results.append(send())
                except DatabaseError as exc:  # the transaction may be unusable now
                    raise _RunAlone from exc
                except Exception as exc:  # refused or invalid: nothing of it was written
                    results.append(exc)
    except (_RunAlone, DatabaseError):
        _state.grouped = False
        return [_alone(send) for send in sends]
    finally:
        _state.grouped = False
    return results
