"""常见问题 for agents, and who sees internal-only articles.

An article marked internal only (Article.internal_only) is the agents': the console's FAQ picker
finds it (`for_agents`) and pastes its answer, but the help center, the widget's search and the
bot never show it. The search index holds every published article (knowledge.search); the
customers' searches go through `customer_search` / `customer_explained_search`, which ask the
engine for as many more hits as the workspace has internal articles and drop those, so a customer
gets as many public hits as before. (Known words: a word only an internal article is about still
counts as known to the bot.)"""

import re

from django.urls import reverse

from . import search
from .models import Article, ArticleVersion
from .search_indexes import plain_text

MAX_ANSWER_CHARS = 2000  # what "paste the answer" puts in the reply box
SUMMARY_CHARS = 120
AGENT_LIMIT = 10
LOCALE_PREFERENCE = {"zh-hans": ("zh-hans", "zh-hant", "en"), "zh-hant": ("zh-hant", "zh-hans", "en"), "en": ("en", "zh-hans", "zh-hant")}


# --- customers: never an internal article --------------------------------------------------------


def internal_ids(workspace_id):
    """Ids of the workspace's published internal-only articles (one query; usually none)."""
    return set(Article.objects.filter(workspace_id=workspace_id, status=Article.Status.PUBLISHED, internal_only=True)
               .values_list("pk", flat=True))


def _fetch(limit, hidden):
    """How many hits to ask the engine for so that `limit` remain once the hidden ones are dropped."""
    return min(int(limit) + len(hidden), search.MAX_LIMIT) if hidden else limit


def _public(hits, limit, hidden):
    return [h for h in hits if h.article_id not in hidden][:max(0, int(limit))] if hidden else hits


def customer_explained_search(workspace_id, query, *, locale=None, limit=10, strict_locale=False, synonym_groups=None):
    """knowledge.search.explained_search without internal-only articles (the bot's search)."""
    hidden = internal_ids(workspace_id)
    hits, unknown = search.explained_search(workspace_id, query, locale=locale, limit=_fetch(limit, hidden), strict_locale=strict_locale,
                                            synonym_groups=synonym_groups)
    return _public(hits, limit, hidden), unknown


def customer_search(workspace_id, query, *, locale=None, limit=10):
    """knowledge.search.search without internal-only articles (help center, widget)."""
    hidden = internal_ids(workspace_id)
    return _public(search.search(workspace_id, query, locale=locale, limit=_fetch(limit, hidden)), limit, hidden)


# --- agents: the console's FAQ picker ------------------------------------------------------------

_BLANK_LINES = re.compile(r"\n{3,}")


def answer_text(markdown):
    """The article's text as an agent pastes it into a reply: Markdown marks removed, lines kept."""
    lines = [plain_text(line) for line in (markdown or "").splitlines()]
    text = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    return text if len(text) <= MAX_ANSWER_CHARS else text[:MAX_ANSWER_CHARS - 1].rstrip() + "…"


def _summary(text):
    line = " ".join(text.split())
    return line if len(line) <= SUMMARY_CHARS else line[:SUMMARY_CHARS - 1].rstrip() + "…"


def _pick(versions, locale):
    by_locale = {v.locale: v for v in versions}
    for code in LOCALE_PREFERENCE.get(locale, LOCALE_PREFERENCE["zh-hans"]):
        if code in by_locale:
            return by_locale[code]
    return None


def for_agents(workspace_id, query, *, locale="zh-hans", limit=AGENT_LIMIT):
    """Published articles for an agent of the workspace, internal ones included: the best matches
    for `query`, or the most read ones when it is empty. Each: id, title, summary, answer (text to
    paste), internal, url (the help-center page a card links to; None for an internal article)."""
    query = " ".join(str(query or "").replace("\x00", "").split())[:search.MAX_QUERY_CHARS]
    if query:
        hits = search.search(workspace_id, query, locale=locale, limit=limit)
        if not hits:
            return []
        wanted = {(h.article_id, h.locale) for h in hits}
        versions = {(v.article_id, v.locale): v for v in ArticleVersion.objects.select_related("article__workspace").filter(
            article_id__in={h.article_id for h in hits}, article__workspace_id=workspace_id, article__status=Article.Status.PUBLISHED)
            if (v.article_id, v.locale) in wanted}
        chosen = [versions[(h.article_id, h.locale)] for h in hits if (h.article_id, h.locale) in versions]
    else:
        articles = (Article.objects.filter(workspace_id=workspace_id, status=Article.Status.PUBLISHED).select_related("workspace")
                    .prefetch_related("versions").order_by("-view_count", "-published_at", "pk")[:limit])
        chosen = [v for v in (_pick(a.versions.all(), locale) for a in articles) if v is not None]
    return [_item(v) for v in chosen]


def _item(version):
    article = version.article
    answer = answer_text(version.body) or version.title
    url = None if article.internal_only else reverse(
        "knowledge:article", kwargs={"workspace": article.workspace.slug, "locale": version.locale, "article": article.slug})
    return {"id": article.pk, "locale": version.locale, "title": version.title, "summary": _summary(answer), "answer": answer,
            "internal": article.internal_only, "url": url}
