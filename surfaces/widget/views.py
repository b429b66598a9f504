"""The customer side: the embeddable widget's frame, the same page full-screen (H5 for app
web-views and mini program web-view), and a demo host page. The frame is our origin inside
an iframe on the merchant's page: isolated from the host's CSS, scripts and CSP."""

from django.http import Http404
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_GET

from chat import ratings
from chat.models import Inbox
from surfaces.demo import demo_page

# The frame talks only to us: no third-party requests, no inline script.
FRAME_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
             "connect-src 'self' ws: wss:; frame-ancestors *; base-uri 'none'; form-action 'self'")


def widget_language(requested):
    """The host page's or browser's language mapped onto the three we ship."""
    code = (requested or "").lower().replace("_", "-")
    if code.startswith("zh"):
        return "zh-hant" if any(tag in code for tag in ("hant", "-tw", "-hk", "-mo")) else "zh-hans"
    if code.startswith("en"):
        return "en"
    return ""


def _inbox(request):
    key = request.GET.get("inbox", "")[:40]
    inbox = Inbox.objects.filter(public_key=key).first() if key else None
    if inbox is None:
        raise Http404
    return inbox


def _render_frame(request, mode):
    inbox = _inbox(request)
    language = inbox.widget_language or widget_language(request.GET.get("lang"))  # the owner's choice wins
    if language:
        translation.activate(language)
        request.LANGUAGE_CODE = language
    csat = {"choices": [(n, ratings.LABELS[n]) for n in (5, 4, 3, 2, 1)], "praise": ratings.PRAISE.items(), "complaints": ratings.COMPLAINTS.items()}
    response = render(request, "chat/widget/frame.html", {"inbox": inbox, "mode": mode, "csat": csat})
    response["Content-Security-Policy"] = FRAME_CSP
    response["Referrer-Policy"] = "no-referrer"
    return response


@require_GET
@xframe_options_exempt  # embedding on merchants' sites is the point; frame-ancestors says so
def frame(request):
    return _render_frame(request, "embed")


@require_GET
def full_page(request):
    """/widget/chat/?inbox=KEY: the same chat as a page (app web-views, mini program web-view)."""
    return _render_frame(request, "page")


@require_GET
@demo_page
def demo_host(request):
    """A merchant page with the one-line snippet, under a strict CSP (the widget must cope)."""
    inbox = _inbox(request) if request.GET.get("inbox") else Inbox.objects.filter(kind=Inbox.Kind.WEB).order_by("pk").first()
    if inbox is None:
        raise Http404
    response = render(request, "chat/widget/demo_host.html", {"inbox": inbox})
    response["Content-Security-Policy"] = "default-src 'self'; script-src 'self'; style-src 'self'; frame-src 'self'; connect-src 'self'"
    return response
