"""The public help center of a workspace: server-rendered pages (home, category, article,
search), instant search results as JSON, "was this helpful?" votes and a sitemap.

URLs (knowledge/urls.py, under /help/): /help/<workspace slug>/<locale>/... with locale one
of zh-hans, zh-hant, en; /help/<workspace slug>/ redirects by ?lang= or Accept-Language.

Only published articles of the workspace in the URL ever appear. Each page costs a few
queries whatever the number of articles (titles come with one prefetch of the versions'
titles; categories and their article counts with one aggregate). Pages without anything
personal (home, category, sitemap) may be cached publicly for a short time; article and
search pages count views and searches and carry the CSRF token of the vote form, so they are
private.

"Contact us": the help center embeds the chat widget of the workspace's help-center inbox,
which is its first inbox (lowest id) of kind web; without one the button is hidden.

Metrics: each article page view counts one view (knowledge.actions.record_view); each
search is logged (SearchLog, source help_center) with the visitor key of a random
first-party cookie (hc_visitor); the first article view, search or vote of a visitor on a
day opens a HelpSession (source help_center) for the deflection metric."""

import json
import re
import secrets
from datetime import datetime, time, timedelta
from datetime import timezone as dt_timezone
from types import SimpleNamespace
from xml.etree import ElementTree

import nh3
from django.core.cache import cache
from django.db.models import Count, OuterRef, Prefetch, Q, Subquery
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from accounts.models import Workspace
from chat.models import Inbox
from helpdesk import ratelimit
from helpdesk.errors import DomainError

from . import actions
from . import faq
from .models import LOCALES, Article, ArticleVersion, Category, HelpSession, SearchLog
from .rendering import plain_text

LOCALE_NAMES = dict(LOCALES)
LOCALE_CODES = tuple(LOCALE_NAMES)
# The version shown when the requested locale has none (with a notice on the page).
FALLBACK = {"zh-hans": ("zh-hans", "zh-hant", "en"), "zh-hant": ("zh-hant", "zh-hans", "en"), "en": ("en", "zh-hans", "zh-hant")}
HREFLANG = {"zh-hans": "zh-Hans", "zh-hant": "zh-Hant", "en": "en"}
OG_LOCALE = {"zh-hans": "zh_CN", "zh-hant": "zh_TW", "en": "en_US"}
X_DEFAULT = "zh-hans"

# Compatible with the widget loader (same origin: script and frame from 'self'); no inline
# script or style anywhere on these pages. Article images may come from https hosts.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; frame-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'")
PUBLIC_CACHE = "public, max-age=60"
SITEMAP_CACHE = "public, max-age=300"
PRIVATE = "private, no-cache"

VISITOR_COOKIE = "hc_visitor"
VISITOR_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
MAX_QUERY_CHARS = SearchLog._meta.get_field("query").max_length
SEARCH_PAGE_LIMIT = 20
INSTANT_LIMIT = 8
POPULAR_LIMIT = 10
RELATED_LIMIT = 5
META_DESCRIPTION_CHARS = 160
# A query that extends or trims the visitor's previous one within this time replaces it in
# the log (typing in the instant search box is one search, not one per keystroke).
SEARCH_MERGE_SECONDS = 60

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
XHTML_NS = "http://www.w3.org/1999/xhtml"


# --- lookups -----------------------------------------------------------------------------


def _workspace(slug):
    """The workspace with the public key of its help-center inbox (one query)."""
    help_inbox = Inbox.objects.filter(workspace=OuterRef("pk"), kind=Inbox.Kind.WEB).order_by("pk").values("public_key")[:1]
    workspace = Workspace.objects.filter(slug=slug).annotate(help_inbox_key=Subquery(help_inbox)).only("pk", "name", "slug").first()
    if workspace is None:
        raise Http404
    return workspace


def _published(workspace):
    return Article.objects.filter(workspace=workspace, status=Article.Status.PUBLISHED, internal_only=False)  # internal: agents' only


def _titles():
    """Prefetch of the versions' titles only (not their bodies)."""
    return Prefetch("versions", queryset=ArticleVersion.objects.only("id", "article_id", "locale", "title", "updated_at"))


def _pick(versions, locale):
    """The version to show for `locale`: its own, else the first of the fallback order."""
    by_locale = {v.locale: v for v in versions}
    for code in FALLBACK[locale]:
        if code in by_locale:
            return by_locale[code]
    return None


def _article_url(workspace, locale, slug):
    return reverse("knowledge:article", args=[workspace.slug, locale, slug])


def _items(articles, workspace, locale):
    """Links to articles with their title in `locale` (or a fallback locale)."""
    items = []
    for article in articles:
        version = _pick(article.versions.all(), locale)
        if version is not None:
            items.append(SimpleNamespace(title=version.title, lang=HREFLANG[version.locale], url=_article_url(workspace, locale, article.slug),
                                         other_language=version.locale != locale))
    return items


def _categories(workspace, locale):
    """All categories of the workspace (one query) with their name in `locale`, URL, own and
    total (own + subcategories') number of published articles, and subcategories."""
    categories = list(Category.objects.filter(workspace=workspace)
                      .annotate(published=Count("articles", filter=Q(articles__status=Article.Status.PUBLISHED, articles__internal_only=False))))
    by_pk = {c.pk: c for c in categories}
    for c in categories:
        c.label = c.name_for(locale)
        c.url = reverse("knowledge:category", args=[workspace.slug, locale, c.slug])
        c.total = c.published
        c.subcategories = []
        c.parent_category = by_pk.get(c.parent_id)
    for c in categories:
        if c.parent_category is not None:
            c.parent_category.subcategories.append(c)
            c.parent_category.total += c.published
    return categories


# --- pages -------------------------------------------------------------------------------


def _absolute(request, path):
    return request.build_absolute_uri(path)


def _alternates(request, urls, default_locale):
    """<link rel=alternate hreflang> entries for {locale: path} plus x-default."""
    links = [SimpleNamespace(hreflang=HREFLANG[code], href=_absolute(request, urls[code]), locale=code, name=LOCALE_NAMES[code])
             for code in LOCALE_CODES if code in urls]
    if links:
        default = urls.get(default_locale) or urls[next(code for code in LOCALE_CODES if code in urls)]
        links.append(SimpleNamespace(hreflang="x-default", href=_absolute(request, default), locale="", name=""))
    return links


def _base_context(request, workspace, locale, **extra):
    context = {
        "workspace": workspace,
        "locale": locale,
        "html_lang": HREFLANG[locale],
        "og_locale": OG_LOCALE[locale],
        "home_url": reverse("knowledge:home", args=[workspace.slug, locale]),
        "search_url": reverse("knowledge:search", args=[workspace.slug, locale]),
        "search_json_url": reverse("knowledge:search-json", args=[workspace.slug, locale]),
        "help_inbox_key": workspace.help_inbox_key or "",
        "og_type": "website",
        "robots": "",
        "canonical": "",
        "alternates": [],
    }
    context.update(extra)
    return context


def _render(request, template, context, *, cache_control):
    with translation.override(context["locale"]):
        context.setdefault("site_name", _("%(name)s help center") % {"name": context["workspace"].name})
        response = render(request, template, context)
    response["Content-Security-Policy"] = CSP
    response["Content-Language"] = context["locale"]
    response["Cache-Control"] = cache_control
    return response


def _contact_url(workspace, locale, page_url):
    """The full-page chat with this page as context (when the widget cannot load)."""
    if not workspace.help_inbox_key:
        return ""
    return reverse("chat:widget-page") + "?" + urlencode({"inbox": workspace.help_inbox_key, "page": page_url, "lang": locale})


@require_safe
def help_root(request, workspace):
    """/help/<slug>/: to the home page in ?lang=, the language cookie's or the browser's language."""
    if not Workspace.objects.filter(slug=workspace).exists():
        raise Http404
    locale = request.GET.get("lang", "").lower()
    if locale not in FALLBACK:
        locale = translation.get_language_from_request(request)
        locale = locale if locale in FALLBACK else X_DEFAULT
    response = HttpResponseRedirect(reverse("knowledge:home", args=[workspace, locale]))
    patch_vary_headers(response, ["Accept-Language"])
    response["Cache-Control"] = PUBLIC_CACHE
    return response


@require_safe
def home(request, workspace, locale):
    workspace = _workspace(workspace)
    categories = [c for c in _categories(workspace, locale) if c.parent_category is None and c.total]
    popular = _published(workspace).order_by("-view_count", "-published_at", "pk").prefetch_related(_titles())[:POPULAR_LIMIT]
    with translation.override(locale):
        description = _("Answers to common questions from %(name)s: search or browse by topic.") % {"name": workspace.name}
        title = _("Help center")
    urls = {code: reverse("knowledge:home", args=[workspace.slug, code]) for code in LOCALE_CODES}
    alternates = _alternates(request, urls, X_DEFAULT)
    alternates[-1].href = _absolute(request, reverse("knowledge:root", args=[workspace.slug]))  # x-default: by language
    context = _base_context(request, workspace, locale, categories=categories, popular=_items(popular, workspace, locale),
                            page_title=title, meta_description=description, canonical=_absolute(request, urls[locale]),
                            alternates=alternates, is_home=True)
    return _render(request, "knowledge/home.html", context, cache_control=PUBLIC_CACHE)


@require_safe
def category(request, workspace, locale, category):
    workspace = _workspace(workspace)
    categories = _categories(workspace, locale)
    current = next((c for c in categories if c.slug == category), None)
    if current is None:
        raise Http404
    articles = _published(workspace).filter(category=current).order_by("-view_count", "pk").prefetch_related(_titles())
    breadcrumbs = [SimpleNamespace(label=None, url=reverse("knowledge:home", args=[workspace.slug, locale]))]
    if current.parent_category is not None:
        breadcrumbs.append(SimpleNamespace(label=current.parent_category.label, url=current.parent_category.url))
    urls = {code: reverse("knowledge:category", args=[workspace.slug, code, current.slug]) for code in LOCALE_CODES}
    with translation.override(locale):
        description = _("Help articles about %(topic)s from %(name)s.") % {"topic": current.label, "name": workspace.name}
    context = _base_context(request, workspace, locale, category=current, articles=_items(articles, workspace, locale),
                            subcategories=[c for c in current.subcategories if c.total], breadcrumbs=breadcrumbs,
                            page_title=current.label, meta_description=description, canonical=_absolute(request, urls[locale]),
                            alternates=_alternates(request, urls, X_DEFAULT))
    return _render(request, "knowledge/category.html", context, cache_control=PUBLIC_CACHE)


def _meta_description(version):
    return version.meta_description or plain_text(version.body_html, limit=META_DESCRIPTION_CHARS)


@require_safe
def article(request, workspace, locale, article):
    workspace = _workspace(workspace)
    found = (_published(workspace).filter(slug=article).select_related("category", "category__parent")
             .prefetch_related("versions").first())
    if found is None:
        raise Http404
    versions = {v.locale: v for v in found.versions.all()}
    version = _pick(versions.values(), locale)
    if version is None:
        raise Http404
    related = []
    if found.category_id:
        related = _items(_published(workspace).filter(category_id=found.category_id).exclude(pk=found.pk)
                         .order_by("-view_count", "pk").prefetch_related(_titles())[:RELATED_LIMIT], workspace, locale)
    breadcrumbs = [SimpleNamespace(label=None, url=reverse("knowledge:home", args=[workspace.slug, locale]))]
    for c in (found.category.parent if found.category else None, found.category):
        if c is not None:
            breadcrumbs.append(SimpleNamespace(label=c.name_for(locale), url=reverse("knowledge:category", args=[workspace.slug, locale, c.slug])))
    urls = {code: _article_url(workspace, code, found.slug) for code in versions}
    updated = max(filter(None, (version.updated_at, found.published_at)))
    page_url = _absolute(request, _article_url(workspace, locale, found.slug))
    similar = [q for q in (version.similar_questions or []) if isinstance(q, str) and q.strip()]
    context = _base_context(
        request, workspace, locale, article=found, version=version, body_html=mark_safe(version.body_html),  # nh3 output
        version_lang=HREFLANG[version.locale], fallback=version.locale != locale, version_language=LOCALE_NAMES[version.locale],
        updated=updated, related=related, breadcrumbs=breadcrumbs, similar_questions=similar,
        vote_url=reverse("knowledge:vote", args=[workspace.slug, locale, found.slug]), voted=request.GET.get("voted") == "1",
        contact_url=_contact_url(workspace, locale, page_url), page_url=page_url,
        page_title=version.title, meta_description=_meta_description(version), og_type="article",
        # The shown text's own URL: a fallback page points search engines at the original.
        canonical=_absolute(request, urls[version.locale]), alternates=_alternates(request, urls, X_DEFAULT),
    )
    response = _render(request, "knowledge/article.html", context, cache_control=PRIVATE)
    if request.method == "GET":  # a HEAD (link checkers, crawlers' probes) is not a read
        visitor, new = _visitor(request)
        actions.record_view(found.pk)
        _open_help_session(workspace, visitor)
        _keep_visitor(request, response, visitor, new)
    return response


# --- search --------------------------------------------------------------------------------


def _query(request):
    # NUL: PostgreSQL refuses it in the search log (helpdesk.middleware answers 400 before this anyway).
    return " ".join(request.GET.get("q", "").replace("\x00", "").split())[:MAX_QUERY_CHARS]


def _clean_snippet(snippet):
    """The search engine's snippet (escaped text with <mark>), kept to exactly that."""
    return nh3.clean(str(snippet or ""), tags={"mark"}, attributes={}, strip_comments=True)


def _search(workspace, locale, query, limit):
    """Hits of the search engine, published articles of this workspace only, one per article."""
    hits = faq.customer_search(workspace.pk, query, locale=locale, limit=limit)
    live = dict(_published(workspace).filter(pk__in={h.article_id for h in hits}).values_list("pk", "slug")) if hits else {}
    results, seen = [], set()
    for hit in hits:
        slug = live.get(hit.article_id)
        if slug is None or hit.article_id in seen:
            continue
        seen.add(hit.article_id)
        hit_locale = hit.locale if hit.locale in FALLBACK else locale
        results.append(SimpleNamespace(title=str(hit.title), snippet=mark_safe(_clean_snippet(hit.snippet)),
                                       url=_article_url(workspace, hit_locale, slug), locale=hit_locale, lang=HREFLANG[hit_locale]))
    return results


def _log_search(workspace, query, locale, result_count, visitor):
    """One SearchLog row per search; a query extending or trimming the visitor's previous one
    (typing) within a minute updates that row instead."""
    since = timezone.now() - timedelta(seconds=SEARCH_MERGE_SECONDS)
    previous = (SearchLog.objects.filter(workspace=workspace, visitor_key=visitor, source=SearchLog.Source.HELP_CENTER, created_at__gte=since)
                .order_by("-created_at", "-pk").only("pk", "query", "locale", "result_count").first())
    if previous is not None and (query.startswith(previous.query) or previous.query.startswith(query)):
        if (previous.query, previous.locale, previous.result_count) != (query, locale, result_count):
            SearchLog.objects.filter(pk=previous.pk).update(query=query, locale=locale, result_count=result_count)
        return
    SearchLog.objects.create(workspace=workspace, query=query, locale=locale, source=SearchLog.Source.HELP_CENTER,
                             result_count=result_count, visitor_key=visitor)


def _searched(request, workspace, locale, query, limit):
    ratelimit.hit("search_ip", ratelimit.ip_key(ratelimit.request_ip(request)))  # RateLimited: see _too_fast
    results = _search(workspace, locale, query, limit)
    visitor, new = _visitor(request)
    _log_search(workspace, query, locale, len(results), visitor)
    _open_help_session(workspace, visitor)
    return results, visitor, new


@require_safe
def search_page(request, workspace, locale):
    workspace = _workspace(workspace)
    query = _query(request)
    results, visitor, new = ([], None, False)
    if query and request.method == "GET":
        try:
            results, visitor, new = _searched(request, workspace, locale, query, SEARCH_PAGE_LIMIT)
        except ratelimit.RateLimited as exc:
            return _too_fast(HttpResponse(str(exc.message), status=429, content_type="text/plain; charset=utf-8"), exc)
    page_url = _absolute(request, reverse("knowledge:search", args=[workspace.slug, locale]) + (f"?{urlencode({'q': query})}" if query else ""))
    with translation.override(locale):
        title = _("Search results for “%(query)s”") % {"query": query} if query else _("Search")
        description = _("Search the %(name)s help center.") % {"name": workspace.name}
    context = _base_context(request, workspace, locale, query=query, results=results, searched=bool(query),
                            page_title=title, meta_description=description, robots="noindex, follow",
                            contact_url=_contact_url(workspace, locale, page_url), page_url=page_url)
    response = _render(request, "knowledge/search.html", context, cache_control=PRIVATE)
    if visitor:
        _keep_visitor(request, response, visitor, new)
    return response


def _json(data, status=200):
    """JSON with <, > and & escaped (\\u003c...): the body never contains markup characters."""
    text = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    response = HttpResponse(text, status=status, content_type="application/json")
    response["Cache-Control"] = "private, no-store"
    return response


@require_safe
def search_json(request, workspace, locale):
    """Instant results as the visitor types: {query, count, results: [{title, snippet, url, locale}]}.
    title is text; snippet is escaped text with <mark> around the matches."""
    workspace = _workspace(workspace)
    query = _query(request)
    if not query or request.method != "GET":
        return _json({"query": "", "count": 0, "results": []})
    try:
        results, visitor, new = _searched(request, workspace, locale, query, INSTANT_LIMIT)
    except ratelimit.RateLimited as exc:
        return _too_fast(_json({"error": exc.as_dict()}, status=429), exc)
    response = _json({"query": query, "count": len(results),
                      "results": [{"title": r.title, "snippet": str(r.snippet), "url": r.url, "locale": r.locale} for r in results]})
    _keep_visitor(request, response, visitor, new)
    return response


# --- votes --------------------------------------------------------------------------------


def _too_fast(response, exc):
    response["Retry-After"] = str(exc.retry_after)
    return response


def _error(code, message, status):
    return _json({"error": {"code": code, "message": str(message)}}, status=status)


@require_POST
def vote(request, workspace, locale, article):
    """"Was this helpful?": JSON {"helpful": true|false} (X-CSRFToken header), or the article
    page's form (helpful=yes|no, CSRF token field; answered with a redirect back)."""
    workspace = _workspace(workspace)
    found = _published(workspace).filter(slug=article).only("pk", "slug").first()
    if found is None:
        raise Http404
    as_json = request.content_type == "application/json"
    with translation.override(locale):
        if as_json:
            try:
                data = json.loads(request.body or b"null")
            except (ValueError, RecursionError):  # RecursionError: nested too deep for the parser
                data = None
            helpful = data.get("helpful") if isinstance(data, dict) else None
        else:
            helpful = {"yes": True, "no": False}.get(request.POST.get("helpful", ""))
        if not isinstance(helpful, bool):
            return _error("invalid_vote", _("A vote is helpful or not helpful."), 400)
        visitor, new = _visitor(request)
        try:
            actions.vote(found.pk, visitor, helpful)
        except DomainError as error:
            return _error(error.code, error.message, error.status)
    _open_help_session(workspace, visitor)
    if as_json:
        counts = Article.objects.filter(pk=found.pk).values("helpful_count", "not_helpful_count").first()
        response = _json({"helpful": helpful, **counts})
    else:
        response = HttpResponseRedirect(_article_url(workspace, locale, found.slug) + "?voted=1#feedback", status=303)
    response["Cache-Control"] = "private, no-store"
    _keep_visitor(request, response, visitor, new)
    return response


# --- visitors and help sessions -------------------------------------------------------------


def _visitor(request):
    """(visitor key, is new): the random first-party hc_visitor cookie, made on first use."""
    key = request.COOKIES.get(VISITOR_COOKIE, "")
    if VISITOR_RE.match(key):
        return key, False
    key = getattr(request, "_hc_visitor", None) or secrets.token_urlsafe(18)
    request._hc_visitor = key
    return key, True


def _keep_visitor(request, response, key, new):
    if new:
        response.set_cookie(VISITOR_COOKIE, key, max_age=365 * 24 * 3600, path="/help/", secure=request.is_secure(),
                            httponly=True, samesite="Lax")


def _open_help_session(workspace, visitor):
    """A HelpSession for the visitor's first self-service action of the day (local time)."""
    today = timezone.localdate()
    if not cache.add(f"kb:hc-session:{workspace.pk}:{visitor}:{today.isoformat()}", 1, 26 * 3600):
        return
    start = timezone.make_aware(datetime.combine(today, time.min))
    if not HelpSession.objects.filter(workspace=workspace, visitor_key=visitor, source=SearchLog.Source.HELP_CENTER,
                                      started_at__gte=start).exists():
        HelpSession.objects.create(workspace=workspace, visitor_key=visitor, source=SearchLog.Source.HELP_CENTER)


# --- sitemap --------------------------------------------------------------------------------


def _lastmod(*moments):
    return max(m for m in moments if m).astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+00:00")


@require_safe
def sitemap(request, workspace):
    """Every published article version and every category with articles, in each language,
    with hreflang alternates (sitemaps.org + xhtml:link)."""
    workspace = _workspace(workspace)
    ElementTree.register_namespace("", SITEMAP_NS)
    ElementTree.register_namespace("xhtml", XHTML_NS)
    urlset = ElementTree.Element(f"{{{SITEMAP_NS}}}urlset")

    def add(urls, locales, lastmod=None, default=None):
        alternates = _alternates(request, urls, X_DEFAULT)
        if default:
            alternates[-1].href = default
        for code in locales:
            url = ElementTree.SubElement(urlset, f"{{{SITEMAP_NS}}}url")
            ElementTree.SubElement(url, f"{{{SITEMAP_NS}}}loc").text = _absolute(request, urls[code])
            if lastmod:
                ElementTree.SubElement(url, f"{{{SITEMAP_NS}}}lastmod").text = lastmod[code]
            for alt in alternates:
                ElementTree.SubElement(url, f"{{{XHTML_NS}}}link", {"rel": "alternate", "hreflang": alt.hreflang, "href": alt.href})

    home_urls = {code: reverse("knowledge:home", args=[workspace.slug, code]) for code in LOCALE_CODES}
    add(home_urls, LOCALE_CODES, default=_absolute(request, reverse("knowledge:root", args=[workspace.slug])))
    for c in _categories(workspace, X_DEFAULT):
        if c.total:
            add({code: reverse("knowledge:category", args=[workspace.slug, code, c.slug]) for code in LOCALE_CODES}, LOCALE_CODES)
    versions = Prefetch("versions", queryset=ArticleVersion.objects.only("id", "article_id", "locale", "updated_at"))
    for a in _published(workspace).order_by("pk").only("pk", "slug", "published_at").prefetch_related(versions):
        by_locale = {v.locale: v for v in a.versions.all()}
        if by_locale:
            add({code: _article_url(workspace, code, a.slug) for code in by_locale}, [c for c in LOCALE_CODES if c in by_locale],
                lastmod={code: _lastmod(v.updated_at, a.published_at) for code, v in by_locale.items()})
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(urlset, encoding="utf-8", xml_declaration=False)
    response = HttpResponse(body, content_type="application/xml; charset=utf-8")
    response["Cache-Control"] = SITEMAP_CACHE
    return response
