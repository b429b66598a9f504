"""Help-first in the widget: the customer's search, logged like the help center's."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from accounts.models import Workspace

from . import faq
from .models import HelpSession, SearchLog

LOCALES = {"zh-hans", "zh-hant", "en"}


def widget_search(actor, query, locale=""):
    query = str(query or "").replace("\x00", "").strip()[:200]  # NUL: PostgreSQL refuses it in the search log
    if not query:
        return []
    locale = locale if locale in LOCALES else None
    hits = faq.customer_search(actor.workspace_id, query, locale=locale, limit=5)
    visitor = f"c:{actor.customer_id}"
    SearchLog.objects.create(workspace_id=actor.workspace_id, query=query, locale=locale or "", source=SearchLog.Source.WIDGET,
                             result_count=len(hits), visitor_key=visitor)
    # One self-service session per customer and day: the deflection metric counts these.
    recent = HelpSession.objects.filter(workspace_id=actor.workspace_id, visitor_key=visitor, source=SearchLog.Source.WIDGET,
                                        started_at__gte=timezone.now() - timedelta(hours=24))
    if not recent.exists():
        HelpSession.objects.create(workspace_id=actor.workspace_id, visitor_key=visitor, source=SearchLog.Source.WIDGET,
                                   customer_id=actor.customer_id)
    slug = Workspace.objects.filter(pk=actor.workspace_id).values_list("slug", flat=True).first()
    return [{"title": h.title, "snippet": h.snippet, "locale": h.locale,
             "url": reverse("knowledge:article", kwargs={"workspace": slug, "locale": h.locale, "article": h.slug})} for h in hits]
