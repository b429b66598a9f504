"""GET /channels/media/<inbox key>/<media_id>: a WeChat customer's image, voice or video, for the
agents who may see that inbox's conversations (connectors.media fetches it once and keeps it).

Customers never use this URL (their WeChat shows them their own media). An unknown inbox, an
inbox of another workspace and an inbox the agent sees nothing of all answer the same 404.
The headers are those of uploaded files (surfaces/api/uploads.py): no sniffing, a sandboxing
CSP; images, audio and video display inline (the console plays them), nothing runs."""

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from accounts.models import Membership
from chat import access
from chat.models import Inbox
from helpdesk.errors import DomainError

from . import media
from .models import CHANNEL_KINDS

YEAR = 365 * 24 * 3600


def _inbox_for(request, public_key):
    inbox = Inbox.objects.filter(public_key=public_key, kind__in=CHANNEL_KINDS).first()
    if inbox is None or not Membership.objects.filter(user_id=request.user.pk, workspace_id=inbox.workspace_id).exists():
        raise Http404
    try:
        actor = access.acting_agent(request, inbox.workspace_id)
    except DomainError:
        raise Http404 from None
    # Whoever sees a conversation of this inbox may see what its customers sent.
    if not access.visible_conversations(actor).filter(inbox_id=inbox.pk).exists():
        raise Http404
    return inbox


def _headers(response, item):
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; media-src 'self'; sandbox"
    response["Cache-Control"] = f"private, max-age={YEAR}, immutable"  # a media id names one file forever
    return response


@require_GET
@login_required
def channel_media(request, public_key, media_id):
    inbox = _inbox_for(request, public_key)
    try:
        item = media.get(inbox, media_id)
        handle = media.open_stored(item) if item.path else None
        if item.path and handle is None:  # the row outlived its file (restored backup, manual cleanup)
            media.forget(inbox, media_id)
            item = media.get(inbox, media_id)
            handle = media.open_stored(item) if item.path else None
    except DomainError as exc:
        return JsonResponse({"error": exc.as_dict()}, status=exc.status)
    filename = f"{item.kind}.{item.ext}"
    if handle is not None:
        response = FileResponse(handle, content_type=item.content_type, filename=filename)
    else:
        response = HttpResponse(item.data, content_type=item.content_type)
        response["Content-Disposition"] = f'inline; filename="{filename}"'
    return _headers(response, item)
