"""The embedded default's channel layer: channels' in-memory layer, scanning for expired entries at
most once a second.

channels' InMemoryChannelLayer walks every channel's queue and every group's members for expired
entries on every send, group_send and receive. With 1,000 open sockets that walk was half of the
embedded server's CPU under load (a profile at 100 msg/s). Expiry is counted in seconds (a message
nobody reads for 60 s, a membership older than a day), so walking once a second changes nothing a
client can notice."""

import time

from channels import layers

CLEAN_INTERVAL_SECONDS = 1.0


class InMemoryChannelLayer(layers.InMemoryChannelLayer):
    _cleaned_at = float("-inf")

    def _clean_expired(self):
        now = time.monotonic()
        if now - self._cleaned_at >= CLEAN_INTERVAL_SECONDS:
            self._cleaned_at = now
            super()._clean_expired()
