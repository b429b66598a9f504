"""会话记录 (history search) in the console: the search page, a transcript, and their CSV exports.
Thin: parse the filters (reports.history), ask reports for the rows, render or stream."""


from django.db.models import F
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accounts.models import Workspace
from chat.models import Conversation, Inbox
from helpdesk.errors import FieldErrors, not_found
from helpdesk.validation import id_param
from reports import access as history_access
from reports import actions as history_actions
from reports import history
from routing.models import AgentPresence

from .views import STATUS_CHOICES, console_view


def _tz(actor):
    return Workspace.zone_of(actor.workspace_id)


def _page_context(actor):
    presence = AgentPresence.objects.filter(workspace_id=actor.workspace_id, user_id=actor.user_id).first()
    return {"actor": actor, "statuses": STATUS_CHOICES, "presence": presence,
            "agents": history.agent_choices(actor), "inboxes": history.inbox_choices(actor), "tags": history.tag_choices(actor),
            "channels": Inbox.Kind.choices, "states": Conversation.State.choices, "ratings": range(5, 0, -1),
            "scope": history_access.scope_of(actor)}


@require_GET
@console_view
def search(request, actor):
    context = _page_context(actor)
    context["params"] = request.GET
    tz = _tz(actor)
    try:
        filters = history.parse_filters(actor, request.GET)
    except FieldErrors as exc:
        context.update(exc.page_context())
        return render(request, "chat/console/history.html", context, status=400)
    try:
        hits, has_more = history.search(actor, filters, str(tz))
    except history.SearchTooSlow:
        context["error_message"] = _("This search took too long. Narrow the dates, add a filter or use a more specific word.")
        return render(request, "chat/console/history.html", context, status=503)
    query = request.GET.copy()
    query.pop("page", None)
    context.update({"filters": filters, "hits": hits, "has_more": has_more, "query": query.urlencode(),
                    "next_page": filters.page + 1, "prev_page": filters.page - 1, "searched": bool(request.GET)})
    template = "chat/console/_history_results.html" if request.GET.get("partial") == "1" else "chat/console/history.html"
    return render(request, template, context)


def _conversation(actor, conversation_id):
    conversation = (history_access.history_conversations(actor).filter(pk=id_param(str(conversation_id)) or 0)
                    .select_related("customer", "inbox", "assignee")
                    .annotate(rating_value=F("rating__rating"), rating_comment=F("rating__comment")).first())
    if conversation is None:
        raise not_found()
    return conversation


@require_GET
@console_view
def transcript(request, actor, conversation_id):
    conversation = _conversation(actor, conversation_id)
    return render(request, "chat/console/history_transcript.html", {
        **_page_context(actor), "conversation": conversation, "messages": history.transcript(conversation),
        "back": request.GET.get("back", "")[:2000]})


def _csv(lines, filename):
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@console_view
def export_transcript(request, actor, conversation_id):
    conversation = _conversation(actor, conversation_id)
    return _csv(history_actions.export_transcript(actor, conversation, _tz(actor)), f"conversation-{conversation.pk}.csv")


@require_GET
@console_view
def export_results(request, actor):
    filters = history.parse_filters(actor, request.GET)  # FieldErrors: a 400 from console_view
    return _csv(history_actions.export_results(actor, filters, _tz(actor)), "conversations.csv")
