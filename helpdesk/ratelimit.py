"""Throttles for the public edges (visitor sends, new visitors, uploads, help-center search) and
the client address they are keyed by.

A fixed-window counter per (scope, key) in the Django cache: Redis when REDIS_URL is set, so
every process of a deployment shares the counts; the process's local memory otherwise (the
one-process embedded default). `cache.add` + `cache.incr` are atomic on both. Limits are
settings.RATE_LIMITS[scope] = (count, seconds), or None for no limit (docs/security.md).

A refusal is `RateLimited` (a DomainError: code `rate_limited`, HTTP 429) carrying
`retry_after` seconds; callers refuse before changing anything."""

import asyncio
import ipaddress
import logging
import math
import time

import redis.asyncio
from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.utils.translation import gettext_lazy as _

from helpdesk.errors import DomainError

log = logging.getLogger(__name__)

_DEFAULT_CACHE = cache
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
    hit_all((scope, key))


def hit_all(*pairs):
    """Count each (scope, key) pair, narrowest first; RateLimited at the first one over its limit.
    Requests a narrow limit refuses (one visitor flooding) never use up a broad one (the inbox
    everyone shares). On Redis all counters move in one round trip (a pipeline of INCR and
    EXPIRE NX) and the broader ones are given back only when a narrower one refuses."""
    now, windows = _windows(pairs)
    if not windows:
        return
    try:
        used = _count_many([(cache_key, seconds) for cache_key, _count, seconds, _window in windows])
    except Exception:  # the cache (Redis) is away: serve rather than refuse everyone
        log.warning("rate limits %s not counted: cache unavailable", [p[0] for p in pairs], exc_info=True)
        return
    refused = _first_refusal(windows, used, now)
    if refused is not None:
        _give_back(refused[1])
        raise refused[0]


async def hit_all_async(*pairs):
    """hit_all for the event loop: on Redis through an asyncio client (no thread, no blocking
    call); the in-memory cache has no I/O and is counted in place."""
    client = _async_redis_client()
    if client is None:
        hit_all(*pairs)
        return
    now, windows = _windows(pairs)
    if not windows:
        return
    backend = _backend()
    try:
        async with client.pipeline(transaction=False) as pipe:
            _queue_counts(pipe, backend, [(cache_key, seconds) for cache_key, _count, seconds, _window in windows])
            used = (await pipe.execute())[0::2]
    except Exception:
        log.warning("rate limits %s not counted: cache unavailable", [p[0] for p in pairs], exc_info=True)
        return
    refused = _first_refusal(windows, used, now)
    if refused is not None:
        for cache_key in refused[1]:
            await client.decr(backend.make_key(cache_key))
        raise refused[0]


def _windows(pairs):
    now = clock()
    windows = []
    for scope, key in pairs:
        limit = settings.RATE_LIMITS.get(scope)
        if limit and key not in (None, ""):
            count, seconds = limit
            window = int(now // seconds)
            windows.append((f"rl:{_namespace}{scope}:{key}:{window}", count, seconds, window))
    return now, windows


def _first_refusal(windows, used, now):
    """(RateLimited, the broader keys to give back) for the first counter over its limit, or None."""
    for index, (_cache_key, count, seconds, window) in enumerate(windows):
        if used[index] > count:
            return RateLimited(max(1, math.ceil((window + 1) * seconds - now))), [w[0] for w in windows[index + 1:]]
    return None


def _backend():
    """The cache the counters live in (tests may replace `cache` with another client)."""
    return caches["default"] if cache is _DEFAULT_CACHE else cache


# One redis-py client (thread-safe, pooled) per Redis server and process. Django hands each async
# context its own cache object, and with it a new connection pool: asked per send, every socket's
# first message would open a new Redis connection (ack p99 115-170 ms instead of 15-17 ms).
_redis_clients = {}


def _redis_client():
    """The redis-py client behind Django's Redis cache, or None for any other cache."""
    backend = _backend()
    if not isinstance(backend, RedisCache):
        return None
    servers = tuple(backend._servers)
    if servers not in _redis_clients:
        _redis_clients[servers] = backend._cache.get_client(None, write=True)
    return _redis_clients[servers]


_async_redis_clients = {}  # (event loop, servers) -> redis.asyncio client


def _async_redis_client():
    """An asyncio redis client to the cache's server for the running loop, or None for any other cache."""
    backend = _backend()
    if not isinstance(backend, RedisCache):
        return None
    key = (asyncio.get_running_loop(), tuple(backend._servers))
    if key not in _async_redis_clients:
        for gone in [k for k in _async_redis_clients if k[0].is_closed()]:
            del _async_redis_clients[gone]
        _async_redis_clients[key] = redis.asyncio.Redis.from_url(backend._servers[0])  # writes go to the first server, as Django's
    return _async_redis_clients[key]


def _count_many(keys):
    """Add one to each (key, seconds) counter; its value after. A counter lives a little past its
    window (another process's clock may lag), then expires."""
    client = _redis_client()
    if client is not None:
        pipe = client.pipeline(transaction=False)
        _queue_counts(pipe, _backend(), keys)
        return pipe.execute()[0::2]
    return [_count_one(cache_key, seconds) for cache_key, seconds in keys]


def _queue_counts(pipe, backend, keys):
    """INCR and EXPIRE NX of each (key, seconds) counter on a Redis pipeline (sync or asyncio)."""
    for cache_key, seconds in keys:
        stored_key = backend.make_key(cache_key)  # the cache's prefix and version, as cache.decr expects
        pipe.incr(stored_key)
        pipe.expire(stored_key, seconds + 5, nx=True)


def _count_one(cache_key, seconds):
    if cache.add(cache_key, 1, timeout=seconds + 5):
        return 1
    try:
        return cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.add(cache_key, 1, timeout=seconds + 5)
        return 1


def _give_back(cache_keys):
    for cache_key in cache_keys:
        try:
            cache.decr(cache_key)
        except ValueError:
            pass


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
