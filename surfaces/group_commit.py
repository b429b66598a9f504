"""Collects the sends of all sockets of a process into groups for chat.group_commit.

A send goes to the database at once when fewer than CHAT["SEND_GROUPS_IN_FLIGHT"] groups are
being stored (0: no grouping at all); otherwise it waits for the next group, which takes everything that arrived meanwhile
(up to CHAT["SEND_GROUP_MAX"]). So an idle server adds no delay, and a busy one stores many sends
per transaction and per database call instead of one. Each caller gets its own send's result or
exception, after the group's commit."""

import asyncio
import weakref

from channels.db import database_sync_to_async
from django.conf import settings

from chat import group_commit

_collectors = weakref.WeakKeyDictionary()  # event loop -> _Collector


class _Collector:
    def __init__(self):
        self.waiting = []  # (send, future)
        self.in_flight = 0

    def submit(self, send):
        future = asyncio.get_running_loop().create_future()
        self.waiting.append((send, future))
        if self.in_flight < settings.CHAT["SEND_GROUPS_IN_FLIGHT"]:
            self._start_group()
        return future

    def _start_group(self):
        limit = settings.CHAT["SEND_GROUP_MAX"]
        group, self.waiting = self.waiting[:limit], self.waiting[limit:]
        self.in_flight += 1
        asyncio.ensure_future(self._store(group))

    async def _store(self, group):
        try:
            results = await _store_together()([send for send, _future in group])
        except Exception as exc:  # e.g. no database thread left: every caller hears it, none is acked
            results = [exc] * len(group)
        finally:
            self.in_flight -= 1
            if self.waiting:
                self._start_group()
        for (_send, future), result in zip(group, results):
            if future.done():  # the socket went away meanwhile
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)


def _store_together():
    return database_sync_to_async(group_commit.store_together, thread_sensitive=settings.CHAT["DB_THREAD_SENSITIVE"])


async def store(send):
    """Run send() (storing one message) in the next group; its result, or raises its exception."""
    if not settings.CHAT["SEND_GROUPS_IN_FLIGHT"]:  # no grouping: straight to a database thread
        (result,) = await _store_together()([send])
        if isinstance(result, BaseException):
            raise result
        return result
    loop = asyncio.get_running_loop()
    collector = _collectors.get(loop)
    if collector is None:
        collector = _collectors[loop] = _Collector()
    return await collector.submit(send)
