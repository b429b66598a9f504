"""Per-process answers about a workspace that change rarely but are read on hot paths (every
message, every routing decision). An entry lives `ttl()` seconds; the process that changes
the underlying rows drops it at once (invalidate), other processes see the change when it
expires."""

import time


class WorkspaceCache:
    def __init__(self, load, ttl, max_entries=10_000):
        self._load, self._ttl, self._max_entries = load, ttl, max_entries
        self._entries = {}  # workspace id -> (expires at, time.monotonic(); value)

    def get(self, workspace_id):
        now = time.monotonic()
        hit = self._entries.get(workspace_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = self._load(workspace_id)
        if len(self._entries) > self._max_entries:
            self._entries.clear()
        self._entries[workspace_id] = (now + self._ttl(), value)
        return value

    def peek(self, workspace_id, default=None):
        """The cached value while fresh, else `default`: never loads (callers that must not query)."""
        hit = self._entries.get(workspace_id)
        return hit[1] if hit is not None and hit[0] > time.monotonic() else default

    def invalidate(self, workspace_id=None):
        if workspace_id is None:
            self._entries.clear()
        else:
            self._entries.pop(workspace_id, None)
