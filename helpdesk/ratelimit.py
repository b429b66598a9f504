"""Throttles for the public edges (visitor sends, new visitors, uploads, help-center search) and
the client address they are keyed by.

A fixed-window counter per (scope, key) in the Django cache: Redis when REDIS_URL is set, so
every process of a deployment shares the counts; the process's local memory otherwise (the
one-process embedded default). `cache.add` + `cache.incr` are atomic on both. Limits are
settings.RATE_LIMITS[scope] = (count, seconds), or None for no limit (docs/security.md).

A refusal is `RateLimited` (a DomainError: code `rate_limited`, HTTP 429) carrying
`retry_after` seconds; callers refuse before changing anything."""

import ipaddress
import logging
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext_lazy as _

from helpdesk.errors import DomainError

log = logging.getLogger(__name__)

# The time source: tests replace it to move between windows without sleeping.
clock = time.time
# Added to every key; tests call reset() so one test's counts never reach the next.
_namespace = ""


class RateLimited(DomainError):
    def __init__(self, retry_after):
        super().__init__("rate_limited", _("You are going a little too fast. Please wait a moment and try again."), status=429)
        self.retry_after = int(retry_after)

    def as_dict(self):
        return {**super().as_dict(), "retry_after": self.retry_after}


def reset():
    """Forget every count of this process (tests): later keys live in a fresh namespace."""
    global _namespace
    _namespace = f"{time.monotonic_ns()}:"


def hit(scope, key):
    """Count one request of `key` in `scope`; RateLimited when that is over the limit.
    No limit configured (or no key to count by): nothing happens."""
    limit = settings.RATE_LIMITS.get(scope)
    if not limit or key in (None, ""):
        return
    count, seconds = limit
    now = clock()
    window = int(now // seconds)
    cache_key = f"rl:{_namespace}{scope}:{key}:{window}"
    try:
        used = _count(cache_key, seconds)
    except Exception:  # the cache (Redis) is away: serve rather than refuse everyone
        log.warning("rate limit %s not counted: cache unavailable", scope, exc_info=True)
        return
    if used > count:
        raise RateLimited(max(1, math.ceil((window + 1) * seconds - now)))


def _count(cache_key, seconds):
    # Lives a little past its window (the clock of another process may lag), then expires.
    if cache.add(cache_key, 1, timeout=seconds + 5):
        return 1
    try:
        return cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.add(cache_key, 1, timeout=seconds + 5)
        return 1


def hit_all(*pairs):
    """hit() each (scope, key) pair in order, narrowest first, up to the first refusal: requests a
    narrow limit refuses (one visitor flooding) never use up a broad one (the inbox everyone shares)."""
    for scope, key in pairs:
        hit(scope, key)


# --- the client's address --------------------------------------------------------------------


def client_ip(remote_addr, forwarded_for=""):
    """The address a request came from: REMOTE_ADDR, or, behind TRUSTED_PROXY_COUNT proxies, the
    X-Forwarded-For entry the outermost trusted proxy wrote (entries further left are whatever
    the client claimed, so they are never used). None when nothing usable is there."""
    trusted = settings.TRUSTED_PROXY_COUNT
    candidate = remote_addr
    if trusted > 0 and forwarded_for:
        entries = [part.strip() for part in str(forwarded_for).split(",") if part.strip()]
        if entries:
            candidate = entries[-trusted] if len(entries) >= trusted else entries[0]
    try:
        address = ipaddress.ip_address(str(candidate or "").strip())
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address)


def request_ip(request):
    return client_ip(request.META.get("REMOTE_ADDR"), request.META.get("HTTP_X_FORWARDED_FOR", ""))


def scope_ip(scope):
    """client_ip() of an ASGI (WebSocket) connection scope."""
    client = scope.get("client") or (None,)
    forwarded = ",".join(value.decode("latin-1") for name, value in scope.get("headers") or () if name.lower() == b"x-forwarded-for")
    return client_ip(client[0], forwarded)


def ip_key(ip):
    """What an address is counted by: itself for IPv4, its /64 for IPv6 (one subscriber gets a whole /64)."""
    if not ip:
        return None
    address = ipaddress.ip_address(ip)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address) + "/64"
    return str(address)
