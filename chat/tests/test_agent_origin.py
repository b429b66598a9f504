"""The agent socket accepts only our own origins: scheme, host and port, not the host alone
(issue 14, finding 6). Another port or scheme on an allowed host is another site."""

import pytest
from channels.testing import WebsocketCommunicator

from chat.tests.wsutil import frame, session_cookie
from helpdesk.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True)]


async def attempt(personas, origin, host, scheme="ws", extra=()):
    cookie = await session_cookie(personas.agent_a_user)
    headers = [(b"cookie", f"sessionid={cookie}".encode()), (b"host", host.encode()), *extra]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    comm = WebsocketCommunicator(application, "/ws/agent/", headers=headers)
    comm.scope["scheme"] = scheme
    connected, _ = await comm.connect()
    if connected:
        assert (await frame(comm))["type"] == "hello"
        await comm.disconnect()
    return connected


@pytest.mark.parametrize(
    "origin, host, scheme",
    [
        ("http://localhost:8001", "localhost:8000", "ws"),  # same host, another port: another site
        ("http://localhost:8001", "localhost", "ws"),
        ("https://localhost:8000", "localhost:8000", "ws"),  # https page, plain socket: not this origin
        ("http://localhost:8000", "localhost:8000", "wss"),  # http page, TLS socket
        ("http://localhost", "evil.example", "ws"),  # a Host we do not serve
        ("http://evil.example", "evil.example", "ws"),
        ("https://evil.example", "localhost", "wss"),
        ("null", "localhost", "ws"),  # sandboxed frames, file: pages
        (None, "localhost", "ws"),
    ],
)
async def test_other_origins_are_refused(personas, origin, host, scheme):
    assert await attempt(personas, origin, host, scheme) is False


@pytest.mark.parametrize(
    "origin, host, scheme",
    [
        ("http://localhost:8000", "localhost:8000", "ws"),
        ("http://localhost", "localhost", "ws"),
        ("http://localhost", "localhost:80", "ws"),  # the default port, spelt out or not
        ("https://127.0.0.1:8443", "127.0.0.1:8443", "wss"),
        ("HTTP://LocalHost:8000", "localhost:8000", "ws"),  # origins compare case-insensitively
    ],
)
async def test_our_own_origin_is_accepted(personas, origin, host, scheme):
    assert await attempt(personas, origin, host, scheme) is True


async def test_trusted_origins_and_the_proxy_scheme_header(personas, settings):
    """Behind a TLS-terminating proxy the socket arrives as ws:// with the public origin https://:
    CSRF_TRUSTED_ORIGINS (exact scheme, host and port) or SECURE_PROXY_SSL_HEADER admit it."""
    public = "https://support.example.com"
    assert await attempt(personas, public, "support.example.com", "ws") is False
    settings.CSRF_TRUSTED_ORIGINS = [public]
    assert await attempt(personas, public, "backend:8000", "ws") is True
    assert await attempt(personas, "https://support.example.com:8443", "backend:8000", "ws") is False
    assert await attempt(personas, "http://support.example.com", "backend:8000", "ws") is False

    settings.CSRF_TRUSTED_ORIGINS = []
    settings.ALLOWED_HOSTS = ["support.example.com"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    proto = [(b"x-forwarded-proto", b"https")]
    assert await attempt(personas, public, "support.example.com", "ws", proto) is True
    assert await attempt(personas, public, "support.example.com", "ws") is False
    assert await attempt(personas, "http://support.example.com", "support.example.com", "ws", proto) is False
