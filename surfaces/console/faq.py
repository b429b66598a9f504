"""常见问题 in the composer: the agent searches the knowledge base (internal-only articles
included) and sends an article card or pastes its answer (knowledge.faq decides what is found)."""

from django.http import JsonResponse
from django.utils.translation import get_language
from django.views.decorators.http import require_GET

from knowledge import faq as knowledge_faq

from .views import console_view

LOCALES = {"zh-hans": "zh-hans", "zh-hant": "zh-hant", "en": "en"}


@require_GET
@console_view
def faq(request, actor):
    """GET /console/faq/?q=…: the best matches, or the most read articles when q is empty."""
    locale = LOCALES.get((get_language() or "").lower(), "zh-hans")
    return JsonResponse({"articles": knowledge_faq.for_agents(actor.workspace_id, request.GET.get("q", ""), locale=locale)})
