"""The console's channel actions: POST /channels/console/messages/<id>/retry/ sends a failed
WeChat message again (connectors.outbound.retry checks the reply right and WeChat's rules) and
answers with the message's delivery line, rendered by the partial the bubble uses."""

from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from chat import access
from helpdesk.errors import DomainError

from . import outbound, payloads

# The console remembers the chosen workspace under this session key (surfaces/console/views.py).
WORKSPACE_SESSION_KEY = "console_workspace_id"


@require_POST
@login_required
def retry_outbound(request, message_id):
    try:
        actor = access.acting_agent(request, request.session.get(WORKSPACE_SESSION_KEY))
        row = outbound.retry(actor, message_id)
    except DomainError as exc:
        return JsonResponse({"error": exc.as_dict()}, status=exc.status)
    return render(request, "chat/console/_delivery_state.html", {"delivery": payloads.delivery(row), "can_retry": True})
