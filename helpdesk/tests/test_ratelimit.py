"""helpdesk.ratelimit: fixed windows on a settable clock, the refusal's shape, the client address
behind trusted proxies, and counts shared by every client of the cache (Redis in pass 2)."""

import pytest
from django.core.cache import caches

from helpdesk import ratelimit

START = 600_000_000.0  # a multiple of every window used here


@pytest.fixture
def clock(monkeypatch):
    now = [START]
    monkeypatch.setattr(ratelimit, "clock", lambda: now[0])
    return now


def refused(scope, key):
    with pytest.raises(ratelimit.RateLimited) as info:
        ratelimit.hit(scope, key)
    return info.value


@pytest.mark.engine_db  # also on Redis in pass 2 (one pipeline per hit_all there)
def test_a_window_allows_count_then_refuses_with_the_wait_until_it_ends(settings, clock):
    settings.RATE_LIMITS = {"demo": (3, 10)}
    clock[0] = START + 4
    for _ in range(3):
        ratelimit.hit("demo", "a")
    error = refused("demo", "a")
    assert (error.code, error.status, error.retry_after) == ("rate_limited", 429, 6)
    assert error.as_dict()["retry_after"] == 6 and error.as_dict()["message"]
    ratelimit.hit("demo", "b")  # another key has its own count
    clock[0] = START + 10  # the next window
    ratelimit.hit("demo", "a")


def test_no_limit_or_no_key_counts_nothing(settings, clock):
    settings.RATE_LIMITS = {"demo": None, "other": (1, 60)}
    for _ in range(5):
        ratelimit.hit("demo", "a")
        ratelimit.hit("other", None)
        ratelimit.hit("unknown-scope", "a")
    ratelimit.hit("other", "a")
    assert refused("other", "a").retry_after == 60


@pytest.mark.engine_db  # also on Redis in pass 2 (one pipeline per hit_all there)
def test_hit_all_stops_at_the_first_refusal_so_a_flood_never_uses_up_the_broad_limit(settings, clock):
    settings.RATE_LIMITS = {"visitor": (1, 10), "inbox": (2, 60)}
    ratelimit.hit_all(("visitor", 1), ("inbox", 9))
    for _ in range(5):
        with pytest.raises(ratelimit.RateLimited) as info:
            ratelimit.hit_all(("visitor", 1), ("inbox", 9))
        assert info.value.retry_after == 10
    ratelimit.hit_all(("visitor", 2), ("inbox", 9))  # another visitor still gets the inbox's second slot
    with pytest.raises(ratelimit.RateLimited) as info:
        ratelimit.hit_all(("visitor", 3), ("inbox", 9))
    assert info.value.retry_after == 60


def test_rate_values_from_the_environment(monkeypatch):
    from helpdesk.settings import env_rate

    monkeypatch.setenv("X_RATE", "5/30")
    assert env_rate("X_RATE", "1/1") == (5, 30)
    monkeypatch.setenv("X_RATE", "off")
    assert env_rate("X_RATE", "1/1") is None
    monkeypatch.delenv("X_RATE")
    assert env_rate("X_RATE", "20/10") == (20, 10)
    monkeypatch.setenv("RATE_LIMITS_ENABLED", "false")
    assert env_rate("X_RATE", "20/10") is None


@pytest.mark.parametrize(
    "trusted,remote,forwarded,expected",
    [
        (0, "203.0.113.9", "198.51.100.1", "203.0.113.9"),  # no proxy trusted: the header is the client's claim
        (1, "10.0.0.2", "198.51.100.1", "198.51.100.1"),
        (1, "10.0.0.2", "6.6.6.6, 198.51.100.1", "198.51.100.1"),  # a spoofed entry on the left is ignored
        (2, "10.0.0.3", "6.6.6.6, 198.51.100.1, 10.0.0.2", "198.51.100.1"),
        (1, "10.0.0.2", "not-an-ip", None),
        (0, "::ffff:192.0.2.7", "", "192.0.2.7"),
        (0, "", "", None),
    ],
)
def test_client_ip_trusts_only_the_configured_proxies(settings, trusted, remote, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = trusted
    assert ratelimit.client_ip(remote, forwarded) == expected


def test_ipv6_is_counted_per_64_and_a_socket_scope_gives_its_address(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    assert ratelimit.ip_key("2001:db8:1:2:aaaa::1") == ratelimit.ip_key("2001:db8:1:2:bbbb::2") == "2001:db8:1:2::/64"
    assert ratelimit.ip_key("192.0.2.1") == "192.0.2.1" and ratelimit.ip_key(None) is None
    scope = {"client": ("10.0.0.2", 5000), "headers": [(b"x-forwarded-for", b"6.6.6.6, 198.51.100.4")]}
    assert ratelimit.scope_ip(scope) == "198.51.100.4"
    settings.TRUSTED_PROXY_COUNT = 0
    assert ratelimit.scope_ip(scope) == "10.0.0.2" and ratelimit.scope_ip({}) is None


@pytest.mark.engine_db
def test_counts_are_shared_by_every_client_of_the_cache(settings, clock, monkeypatch):
    """Two cache clients stand for two processes: on Redis (pass 2) they share one count."""
    settings.RATE_LIMITS = {"demo": (4, 60)}
    other_process = caches.create_connection("default")
    ratelimit.hit("demo", "shared")
    ratelimit.hit("demo", "shared")
    monkeypatch.setattr(ratelimit, "cache", other_process)
    ratelimit.hit("demo", "shared")
    ratelimit.hit("demo", "shared")
    assert refused("demo", "shared").retry_after == 60


def test_an_unavailable_cache_lets_requests_through(settings, clock, monkeypatch):
    settings.RATE_LIMITS = {"demo": (1, 60)}

    class Down:
        def add(self, *args, **kwargs):
            raise ConnectionError("redis away")

    working = ratelimit.cache
    monkeypatch.setattr(ratelimit, "cache", Down())
    for _ in range(3):
        ratelimit.hit("demo", "a")  # served, not refused and not an error
    monkeypatch.setattr(ratelimit, "cache", working)
    ratelimit.hit("demo", "a")
    assert refused("demo", "a").code == "rate_limited"
