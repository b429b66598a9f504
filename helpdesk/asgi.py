import asyncio
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import path  # noqa: E402

from lifecycle import worker  # noqa: E402
from surfaces import consumers  # noqa: E402

http_app = django_asgi_app
if settings.SERVE_STATIC:
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

    http_app = ASGIStaticFilesHandler(django_asgi_app)

router = ProtocolTypeRouter(
    {
        "http": http_app,
        "websocket": URLRouter(
            [
                # Token-authenticated: embeddable on any merchant origin.
                path("ws/customer/", consumers.CustomerConsumer.as_asgi()),
                # Cookie-authenticated: only our own origins (cross-site WebSocket hijacking).
                path("ws/agent/", AllowedHostsOriginValidator(AuthMiddlewareStack(consumers.AgentConsumer.as_asgi()))),
            ]
        ),
    }
)


async def application(scope, receive, send):
    """The router, plus the ASGI lifespan: the server process starts the embedded scheduler
    (SCHEDULER["EMBEDDED"]) at startup and stops it at shutdown. Tests that drive the router
    in-process send no lifespan, so no loop runs behind their back."""
    if scope["type"] != "lifespan":
        return await router(scope, receive, send)
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if settings.SCHEDULER["EMBEDDED"]:
                worker.start_embedded(asyncio.get_running_loop())
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await asyncio.to_thread(worker.stop_embedded)
            await send({"type": "lifespan.shutdown.complete"})
            return
