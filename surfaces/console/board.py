"""数据看板 (the live board) and the 预警 banner in the console. Thin: the actor's scope and figures
come from reports.board, the open breaches they may see from reports.alerts."""

from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from reports import alerts, board
from routing.models import AgentPresence

from .views import STATUS_CHOICES, _client_texts, console_view


def banner_context(actor):
    """What _service_alerts.html needs: the open breaches the member sees, described."""
    return {"service_alerts": [{"breach": b, "text": alerts.describe(b)} for b in alerts.visible_breaches(actor)]}


@require_GET
@console_view
def board_page(request, actor):
    context = {"board": board.snapshot(board.scope_of(actor), timezone.now())}
    if request.GET.get("partial") == "1":
        return render(request, "chat/console/_board.html", context)
    presence = AgentPresence.objects.filter(workspace_id=actor.workspace_id, user_id=actor.user_id).first()
    context.update(actor=actor, statuses=STATUS_CHOICES, presence=presence,
                   board_config={"workspaceId": actor.workspace_id, "userId": actor.user_id,
                                 "texts": {k: v for k, v in _client_texts().items() if k in ("connecting", "online", "offline", "http")}})
    return render(request, "chat/console/board.html", context)


@require_GET
@console_view
def service_alerts(request, actor):
    """The banner alone, fetched again when the socket says alerts.changed."""
    return render(request, "chat/console/_service_alerts.html", banner_context(actor))
