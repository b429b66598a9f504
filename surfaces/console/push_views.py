"""The agent console as an installable app that gets Web Push: its service worker (scope
/console/), its web app manifest, the push subscription endpoint the console posts a
device's PushSubscription to, and a page to enable and test notifications.

Writes go through lifecycle.push (which also decides which endpoints are acceptable); CSRF is enforced as on every session-authenticated write
(the console's JavaScript sends X-CSRFToken from the csrftoken cookie)."""

import hashlib
import json
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_http_methods

from chat import access
from helpdesk.errors import DomainError, invalid
from lifecycle import push

SW_SOURCE = "chat/console/sw.js"
# Kept by the service worker for offline starts (those that exist: the console's own files are optional here).
SHELL_ASSETS = ["chat/console/console.css", "chat/console/console.js", "chat/demo.css", "chat/console/icon.svg", "chat/console/icon-192.png"]
THEME_COLOR = "#0b5cad"
BACKGROUND_COLOR = "#f4f5f7"

# Texts the test page's script shows, translated here.
PAGE_TEXTS = {
    "unsupported": gettext_lazy("This browser cannot receive push notifications (on iPhone and iPad: add the console to the home screen first)."),
    "denied": gettext_lazy("Notifications are blocked for this site: allow them in the browser's site settings, then try again."),
    "subscribed": gettext_lazy("Notifications are on for this device."),
    "failed": gettext_lazy("Could not turn notifications on. Please try again."),
    "sending": gettext_lazy("Sending…"),
    "sent": gettext_lazy("Test sent: %(sent)s delivered, %(failed)s failed."),
    "none": gettext_lazy("No device is registered yet: enable notifications first."),
}


def _error(exc):
    return JsonResponse({"error": exc.as_dict()}, status=exc.status)


def _member(request):
    """The agent actor of the request's user in ?workspace= (their first workspace by default)."""
    return access.acting_agent(request, request.GET.get("workspace"))


def _json_body(request):
    try:
        return json.loads(request.body or b"null")
    except (ValueError, RecursionError):  # RecursionError: nested too deep for the parser
        raise invalid("malformed_json", gettext_lazy("The request body must be JSON.")) from None


def _icons():
    return [
        {"src": static("chat/console/icon-192.png"), "sizes": "192x192", "type": "image/png", "purpose": "any"},
        {"src": static("chat/console/icon-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "any"},
        {"src": static("chat/console/icon.svg"), "sizes": "any", "type": "image/svg+xml", "purpose": "any"},
    ]


def _service_worker_source():
    path = finders.find(SW_SOURCE) or str(Path(settings.BASE_DIR, "static", SW_SOURCE))
    return Path(path).read_text(encoding="utf-8")


@login_required
@require_GET
def service_worker(request):
    """/console/sw.js: served from /console/ (not /static/) so that its scope can be /console/.
    The first line hands it the asset urls; their hash changes the script, which updates the worker."""
    source = _service_worker_source()
    config = {
        "icon": static("chat/console/icon-192.png"),
        "shell": [static(asset) for asset in SHELL_ASSETS if finders.find(asset)] + ["/console/manifest.webmanifest"],
    }
    config["version"] = hashlib.sha256((source + json.dumps(config, sort_keys=True)).encode()).hexdigest()[:12]
    body = f"self.CONSOLE_SW_CONFIG = {json.dumps(config)};\n{source}"
    response = HttpResponse(body, content_type="application/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/console/"
    response["Cache-Control"] = "no-cache"
    return response


@require_GET
def manifest(request):
    """/console/manifest.webmanifest. Public: browsers fetch manifests without cookies
    (unless the link says crossorigin="use-credentials"), and it holds nothing private."""
    data = {
        "name": _("Agent console"),
        "short_name": _("Agent console"),
        "description": _("Answer your customers' chats."),
        "lang": request.LANGUAGE_CODE if hasattr(request, "LANGUAGE_CODE") else settings.LANGUAGE_CODE,
        "id": "/console/",
        "start_url": "/console/",
        "scope": "/console/",
        "display": "standalone",
        "theme_color": THEME_COLOR,
        "background_color": BACKGROUND_COLOR,
        "icons": _icons(),
    }
    response = HttpResponse(json.dumps(data, ensure_ascii=False), content_type="application/manifest+json; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    return response


@login_required
@require_http_methods(["POST", "DELETE"])
def subscriptions(request):
    """POST {endpoint, keys: {p256dh, auth}}: this device gets the user's notifications.
    DELETE {endpoint}: it no longer does."""
    try:
        actor = _member(request)
        data = _json_body(request)
        if request.method == "DELETE":
            endpoint = data.get("endpoint") if isinstance(data, dict) else None
            return JsonResponse({"deleted": push.unsubscribe(request.user, endpoint)})
        subscription, created = push.subscribe(request.user, actor.workspace_id, data, request.headers.get("User-Agent", ""))
    except DomainError as exc:
        return _error(exc)
    return JsonResponse({"id": subscription.pk, "created": created}, status=201 if created else 200)


@login_required
@ensure_csrf_cookie
@require_http_methods(["GET", "POST"])
def push_test(request):
    """GET: a page to turn notifications on for this device and see the user's devices.
    POST: a test notification to each of them; answers {sent, failed}."""
    try:
        actor = _member(request)
    except DomainError as exc:
        if request.method == "POST":
            return _error(exc)
        return render(request, "chat/push_test.html", {"error": exc.message}, status=exc.status)
    if request.method == "POST":
        sent, failed = push.send_test(request.user)
        return JsonResponse({"sent": sent, "failed": failed})
    query = f"?workspace={actor.workspace_id}" if request.GET.get("workspace") else ""
    context = {
        "actor": actor,
        "devices": push.devices_of(request.user),
        "public_key": push.public_key(),
        "subscribe_url": reverse("chat:console-push-subscriptions") + query,
        "test_url": reverse("chat:console-push-test") + query,
        "texts": {key: str(text) for key, text in PAGE_TEXTS.items()},
    }
    return render(request, "chat/push_test.html", context)
