"""Reports (报表) in the console: the page with charts and tables, and each table as CSV or XLSX.
Thin: parse the filters (reports.metrics), build the report from the aggregates, render or send."""

from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from chat.models import Inbox
from helpdesk.errors import FieldErrors, invalid
from reports import access as report_access
from reports import exports, history, metrics
from reports.models import BINS
from routing.models import AgentPresence

from .views import STATUS_CHOICES, console_view


def _page_context(actor, params):
    presence = AgentPresence.objects.filter(workspace_id=actor.workspace_id, user_id=actor.user_id).first()
    return {"actor": actor, "statuses": STATUS_CHOICES, "presence": presence, "params": params,
            "agents": history.agent_choices(actor), "groups": metrics.group_choices(actor), "inboxes": history.inbox_choices(actor),
            "tags": history.tag_choices(actor), "channels": Inbox.Kind.choices, "periods": metrics.period_choices(),
            "dimensions": metrics.dimension_choices(), "scope": report_access.scope_of(actor), "max_days": metrics.MAX_DAYS}


def shown(value, kind):
    """A figure as the page shows it (exports keep the raw value)."""
    if value is None:
        return "—"
    if kind == "seconds":
        if value == float("inf"):
            return f"> {shown(BINS[-1], kind)}"
        minutes, seconds = divmod(round(value), 60)
        hours, minutes = divmod(minutes, 60)
        return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
    if kind == "rate":
        return f"{value * 100:.1f}%"
    if kind == "score":
        return f"{value:.2f}"
    return str(value)


def _shown_rows(table):
    kinds = [kind for _label, kind in table.columns]
    return [[shown(v, k) for v, k in zip(row, kinds, strict=True)] for row in table.rows]


def _cards(report):
    row = report.total.row()
    kinds = [kind for _label, kind in metrics.figure_columns()]
    picked = [(_("Conversations"), 0), (_("First response, median"), 3), (_("Resolution time, median"), 7),
              (_("Reopen rate"), 9), (_("CSAT average"), 11), (_("Deflection rate"), 15)]
    return [(label, shown(row[i], kinds[i])) for label, i in picked]


@require_GET
@console_view
def reports_page(request, actor):
    context = _page_context(actor, request.GET)
    try:
        filters = metrics.parse_filters(actor, request.GET)
    except FieldErrors as exc:
        context.update(exc.page_context())
        return render(request, "chat/console/reports.html", context, status=400)
    report = metrics.build(actor, filters)
    query = request.GET.copy()
    query.pop("partial", None)
    query["from"], query["to"] = filters.date_from.isoformat(), filters.date_to.isoformat()
    context.update({"report": report, "filters": filters, "query": query.urlencode(), "chart": report.chart, "cards": _cards(report),
                    "shown_tables": [(t, _shown_rows(t)) for t in report.tables.values()]})
    template = "chat/console/_reports_body.html" if request.GET.get("partial") == "1" else "chat/console/reports.html"
    return render(request, template, context)


@require_GET
@console_view
def export_table(request, actor, table, fmt):
    if fmt not in exports.FORMATS:
        raise invalid("invalid_format", _("Choose CSV or XLSX."))
    filters = metrics.parse_filters(actor, request.GET)  # FieldErrors: a 400 from console_view
    report = metrics.build(actor, filters)
    if table not in report.tables:
        raise invalid("invalid_table", _("There is no such table in the report."))
    body, content_type = exports.export(actor, report, table, fmt)
    response = HttpResponse(body, content_type=content_type)
    name = f"report-{table}-{filters.date_from.isoformat()}-{filters.date_to.isoformat()}.{fmt}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response
