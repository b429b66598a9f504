import asyncio
import gc
import os
import threading
from urllib.parse import urlsplit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import WebsocketDenier  # noqa: E402
from django.conf import settings  # noqa: E402
from django.http.request import is_same_domain, split_domain_port, validate_host  # noqa: E402
from django.urls import path  # noqa: E402

from knowledge import search  # noqa: E402
from lifecycle import worker  # noqa: E402
from surfaces import consumers  # noqa: E402

http_app = django_asgi_app
if settings.SERVE_STATIC:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    http_app = ASGIStaticFilesHandler(django_asgi_app)

DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url):
    """(scheme, host, port) of an http(s) origin, default port filled in; None if unusable ("null")."""
    try:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:  # a malformed port
        return None
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port


def _header(scope, name):
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _is_secure(scope):
    """As Django's request.is_secure(): SECURE_PROXY_SSL_HEADER when configured and sent, else the socket's scheme."""
    if settings.SECURE_PROXY_SSL_HEADER:
        meta_name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        value = _header(scope, meta_name.removeprefix("HTTP_").lower().replace("_", "-").encode("latin-1"))
        if value is not None:
            return value.split(",", 1)[0].strip() == secure_value
    return scope.get("scheme") in ("wss", "https")


def origin_allowed(scope):
    """The Origin must be this site as the request reached it (same scheme, host and port, with a
    Host in ALLOWED_HOSTS, as Django's CSRF check), or one of CSRF_TRUSTED_ORIGINS (a public
    https origin in front of a TLS-terminating proxy). Comparing the host alone would let any
    page on another port or scheme of an allowed host open an agent's session socket."""
    header = _header(scope, b"origin") or ""
    origin = _origin(header)
    if origin is None:
        return False
    host = _header(scope, b"host") or ""
    allowed_hosts = settings.ALLOWED_HOSTS or ([".localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    domain, _port = split_domain_port(host)
    if domain and validate_host(domain, allowed_hosts) and origin == _origin(f"{'https' if _is_secure(scope) else 'http'}://{host}"):
        return True
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        if "*" in trusted:  # "https://*.example.com": its subdomains, matched as Django's CSRF check does
            parts, theirs = urlsplit(trusted), urlsplit(header.strip())
            if theirs.scheme.lower() == parts.scheme and is_same_domain(theirs.netloc, parts.netloc.lstrip("*")):
                return True
        elif origin == _origin(trusted):
            return True
    return False


class OwnOriginValidator:
    """Refuses the handshake (403) unless origin_allowed (cross-site WebSocket hijacking)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if origin_allowed(scope):
            return await self.app(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)


router = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": URLRouter(
            [
                # Token-authenticated: embeddable on any merchant origin.
                path("ws/customer/", consumers.CustomerConsumer.as_asgi()),
                # Cookie-authenticated: only our own origins (cross-site WebSocket hijacking).
                path("ws/agent/", OwnOriginValidator(AuthMiddlewareStack(consumers.AgentConsumer.as_asgi()))),
            ]
        ),
    }
)


async def application(scope, receive, send):
    """The router, plus the ASGI lifespan: the server process warms the search (knowledge.search.warm)
    and starts the embedded scheduler (SCHEDULER["EMBEDDED"]) at startup and stops it at shutdown. Tests that drive the router
    in-process send no lifespan, so no loop runs behind their back."""
    if scope["type"] != "lifespan":
        return await router(scope, receive, send)
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            # The first search and bot answer would load jieba and the index: do it now, beside serving.
            threading.Thread(target=search.warm, name="search-warm", daemon=True).start()
            if settings.SCHEDULER["EMBEDDED"]:
                worker.start_embedded(asyncio.get_running_loop())
            # What is loaded by now (Django, the apps, ~320,000 objects) lives as long as the process.
            # Left to the collector, every full collection walks all of it with the loop stopped: ~130 ms,
            # every message of the process late by that much. Frozen, they are still freed by refcount.
            gc.freeze()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await asyncio.to_thread(worker.stop_embedded)
            await send({"type": "lifespan.shutdown.complete"})
            return
