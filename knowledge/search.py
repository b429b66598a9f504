"""Knowledge-base search: the index hooks the knowledge actions call after commit, the search
the help center, the widget and the bot use, and a rebuild.

    search(workspace_id, query, *, locale=None, limit=10) -> list[Hit]
    index_article(article_id)      # after publish / edit / unpublish: the index follows the database
    remove_article(article_id)     # after delete
    rebuild(workspace_id=None)     # everything, or one workspace (manage.py kb_reindex)

Engine (settings.HAYSTACK_CONNECTIONS, from SEARCH_URL): django-haystack with the Whoosh
backend of knowledge.search_backend on the embedded default (Chinese/English analyzer,
writes serialised by a file lock); the ranking and highlighting below are built here so
they work for Chinese. See docs/knowledge.md, "Search".
"""

import html
import logging
import re
import threading
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings
from django.db import connection
from django.utils.safestring import mark_safe

from helpdesk import analysis
from helpdesk.settings import haystack_connections
from helpdesk.text import fold, to_simplified

from . import synonyms
from .models import LOCALES, Article, ArticleVersion, SynonymVersion
from .search_backend import KnowledgeWhooshBackend
from .search_pg import PostgresSearchBackend, server_bound_cursor
from .search_indexes import plain_text

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 200
MAX_LIMIT = 50
SNIPPET_CHARS = 120
# A matching version in the visitor's language lifts its article a little over an equally
# relevant one only available in another language.
PREFERRED_LOCALE_BONUS = 1.1
LOCALE_CODES = {code for code, _name in LOCALES}
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class Hit:
    article_id: int
    locale: str
    title: str
    snippet: str  # safe HTML: the text is escaped, matches are wrapped in <mark>
    score: float
    slug: str
    category_id: int | None


# --- engine access --------------------------------------------------------------------------

_reset_lock = threading.Lock()
_path_override = {}  # {"settings": the HAYSTACK_CONNECTIONS it replaced, "info": the connections used}


def use_index_path(path):
    """Point the Whoosh engine at another directory (tests, scripts) until called again with
    None or until settings.HAYSTACK_CONNECTIONS is replaced (the `settings` fixture wins).
    With pytest, prefer `settings.HAYSTACK_CONNECTIONS = {...}`: it is undone after the test."""
    _path_override.clear()
    if path is not None:
        _path_override.update(settings=settings.HAYSTACK_CONNECTIONS, info=haystack_connections("", str(path)))


def _connection():
    from haystack import connections

    wanted = settings.HAYSTACK_CONNECTIONS
    if _path_override and _path_override["settings"] is wanted:
        wanted = _path_override["info"]
    # Tests (and scripts) replace settings.HAYSTACK_CONNECTIONS: follow it.
    if connections.connections_info is not wanted:
        with _reset_lock:
            if connections.connections_info is not wanted:
                connections.connections_info = wanted
                connections.thread_local = threading.local()
    return connections["default"]


def backend():
    return _connection().get_backend()


def _search_index():
    return _connection().get_unified_index().get_index(ArticleVersion)


def _published(**filters):
    return _search_index().index_queryset().filter(**filters)


# --- index hooks ----------------------------------------------------------------------------


def index_article(article_id):
    """(Re)index every published version of the article; remove unpublished ones. The
    database is read inside the index lock, so the last call after the last change wins."""
    engine = backend()
    if isinstance(engine, PostgresSearchBackend):
        engine.index_article(_search_index(), article_id)
    else:
        engine.replace(_search_index(), delete_terms=[("article_id", article_id)], objects=_published(article_id=article_id))


def remove_article(article_id):
    """Remove every version of the article from the index."""
    engine = backend()
    if isinstance(engine, PostgresSearchBackend):
        engine.remove_article(article_id)
    else:
        engine.replace(_search_index(), delete_terms=[("article_id", article_id)])


def rebuild(workspace_id=None):
    """Reindex every published version (of one workspace, or all: the index is then replaced
    in one commit, so searches see the old index until the new one is complete). Returns the
    number of documents written."""
    engine = backend()
    if isinstance(engine, PostgresSearchBackend):
        scope = {} if workspace_id is None else {"article__workspace_id": workspace_id}
        return engine.rebuild(_search_index(), _published(**scope).iterator(chunk_size=2000), workspace_id)
    if workspace_id is None:
        return engine.replace(_search_index(), objects=_published().iterator(chunk_size=2000), clear=True)
    return engine.replace(_search_index(), delete_terms=[("workspace_id", workspace_id)],
                          objects=_published(article__workspace_id=workspace_id).iterator(chunk_size=2000))


# --- search ---------------------------------------------------------------------------------


class _Version(NamedTuple):
    article_id: int
    locale: str
    title: str
    body: str
    slug: str
    category_id: int | None


_HITS_SQL = (
    "SELECT v.id, v.article_id, v.locale, v.title, v.body, a.slug, a.category_id, "
    f"(SELECT s.version FROM {SynonymVersion._meta.db_table} s WHERE s.workspace_id = %s) "
    f"FROM {ArticleVersion._meta.db_table} v JOIN {Article._meta.db_table} a ON a.id = v.article_id "
    "WHERE v.id {ids} AND a.workspace_id = %s AND a.status = %s"
)


def _hit_versions(workspace_id, version_ids):
    """({version id: _Version} of those still published in the workspace, the workspace's synonyms'
    version or None) in one query of the columns shown: through the ORM (select_related, model
    instances) the same read cost about five times as much (docs/benchmarks.md). On PostgreSQL one
    statement text whatever the number of hits, prepared by psycopg (its planning, 0.5 ms, saved)."""
    if connection.vendor == "postgresql":
        sql, ids, opened = _HITS_SQL.format(ids="= ANY(%s::int8[])"), [list(version_ids)], server_bound_cursor()
    else:
        sql, ids, opened = _HITS_SQL.format(ids=f"IN ({', '.join(['%s'] * len(version_ids))})"), list(version_ids), connection.cursor()
    with opened as cursor:
        cursor.execute(sql, [workspace_id, *ids, workspace_id, Article.Status.PUBLISHED.value])
        rows = cursor.fetchall()
    return {version_id: _Version(*rest) for version_id, *rest, _synonyms in rows}, rows[0][-1] if rows else None


def query_terms(text, synonyms=()):
    """The weighted terms of a query (helpdesk.analysis.query_terms)."""
    return analysis.query_terms(text, synonyms)


def guess_locale(text):
    """The visitor's probable language from the query: Chinese with traditional characters,
    Chinese, or English."""
    if not _CJK.search(text):
        return "en"
    return "zh-hant" if to_simplified(text) != text else "zh-hans"


def search(workspace_id, query, *, locale=None, limit=10, strict_locale=False):
    """Published articles of the workspace matching the query, best first, one hit per
    article (the version in `locale` when it matches, else the best matching version).
    All locales are searched unless strict_locale; without a locale the query's script
    decides the preference. Terms are ORed; title and similar questions weigh 4× the body."""
    return explained_search(workspace_id, query, locale=locale, limit=limit, strict_locale=strict_locale)[0]


def explained_search(workspace_id, query, *, locale=None, limit=10, strict_locale=False, synonym_groups=None):
    """search() and the words of the query no article of the workspace is about (title, similar
    questions; nor any of their equivalents): [] when every word is known. `synonym_groups`: the
    workspace's synonyms when the caller has read them already (the bot uses them again)."""
    text = " ".join((query or "").split())[:MAX_QUERY_CHARS]
    limit = max(0, min(int(limit), MAX_LIMIT))
    if not text or not limit:
        return [], []
    # Without synonym_groups: this process's copy of the synonyms, whose version is read with the
    # hits (one round trip less than synonyms.groups()); an edit since then means searching again.
    unchecked = synonyms.cached(workspace_id) if synonym_groups is None else None
    if synonym_groups is None and unchecked is None:
        synonym_groups = synonyms.groups(workspace_id)
    terms = query_terms(text, synonym_groups if unchecked is None else unchecked[1])
    if not terms:  # no word to expand: the synonyms cannot matter
        return [], []
    prefer = locale if locale in LOCALE_CODES else guess_locale(text)
    filters = [("workspace_id", int(workspace_id))]
    if strict_locale and locale:
        filters.append(("locale", locale))
    documents, known = backend().search_documents(terms, filters, limit * 3 + 5)  # an article can match in up to three languages
    unknown = list(dict.fromkeys(q.source for q in terms if q.group >= 0 and q.group not in known and q.source == q.term))

    articles = {}  # article_id → [score, version_id, locale of the shown version]
    for version_id, article_id, doc_locale, score in documents:
        best = articles.get(article_id)
        if best is None:
            articles[article_id] = [score, version_id, doc_locale]
            continue
        best[0] = max(best[0], score)
        if doc_locale == prefer and best[2] != prefer:
            best[1], best[2] = version_id, doc_locale
    ranked = sorted(
        articles.items(),
        key=lambda item: -item[1][0] * (PREFERRED_LOCALE_BONUS if item[1][2] == prefer else 1.0),
    )[:limit]
    versions, version = _hit_versions(workspace_id, [best[1] for _, best in ranked]) if ranked else ({}, None)
    if unchecked is not None:
        if not versions:
            version = SynonymVersion.current(workspace_id)
        if (version or 0) != unchecked[0]:  # edited since this process read them (rare): search with the new ones
            return explained_search(workspace_id, query, locale=locale, limit=limit, strict_locale=strict_locale,
                                    synonym_groups=synonyms.groups(workspace_id))
    termset = frozenset(q.term for q in terms if q.group >= 0)  # words are marked, grams are not
    hits = []
    for article_id, (score, version_id, doc_locale) in ranked:
        version = versions.get(version_id)
        if version is None or version.article_id != article_id:  # changed since indexed: its hook is on the way
            continue
        body = plain_text(version.body)
        hits.append(Hit(
            article_id=article_id,
            locale=version.locale,
            title=version.title,
            snippet=highlight(body or version.title, termset),
            score=round(score * (PREFERRED_LOCALE_BONUS if doc_locale == prefer else 1.0), 4),
            slug=version.slug,
            category_id=version.category_id,
        ))
    return hits, unknown


# --- highlighting ---------------------------------------------------------------------------


_LATIN_WORD = re.compile(r"[a-z0-9]+")


def match_spans(text, terms, stop=None):
    """(start, end) spans of text where a query word occurs, merged where they overlap: a
    Chinese word wherever its characters occur in the folded text (so 「退貨」 is marked for
    退货), a latin word where a word of the text stems to it ("refunds" for refund). No
    segmentation: snippets are built for every hit of every search. `stop`: look no further
    than this offset for the first match (None: the whole text)."""
    folded = fold(text)
    if stop is not None:
        folded = folded[:stop]
    spans = []
    for term in terms:
        if term.isascii():
            continue
        at = folded.find(term)
        while at >= 0:
            spans.append((at, at + len(term)))
            at = folded.find(term, at + 1)
    if any(term.isascii() for term in terms):
        for found in _LATIN_WORD.finditer(folded):
            if analysis.normalise_word(found.group()) in terms:
                spans.append(found.span())
    spans.sort()
    merged = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _first_match(text, terms, stop=3000):
    """Offset of the first place in text (its first `stop` characters) where one of the query words
    occurs: the start of match_spans(text, terms, stop)'s first span, without finding every
    occurrence (built for every hit of every search)."""
    folded = fold(text)[:stop]
    first = None
    for term in terms:
        if not term.isascii():
            at = folded.find(term)
            if at >= 0 and (first is None or at < first):
                first = at
    if any(term.isascii() for term in terms):
        for found in _LATIN_WORD.finditer(folded):
            if first is not None and found.start() >= first:
                break
            if analysis.normalise_word(found.group()) in terms:
                return found.start()
    return first


def highlight(text, terms, width=SNIPPET_CHARS):
    """About `width` characters of text around the first match, HTML-escaped, with every
    match wrapped in <mark>. Matches are found by analysing the text like the index does
    (so 「退貨」 in the text is marked for the query 「退货」, "refunds" for "refund")."""
    if not text:
        return mark_safe("")
    first = _first_match(text, terms)
    start = 0 if first is None else max(0, first - width // 4)
    if start and text[start - 1].isascii() and text[start - 1].isalnum():
        space = text.find(" ", start, start + 15)  # don't start inside an English word
        if space != -1:
            start = space + 1
    end = min(len(text), start + width)
    if end < len(text) and text[end - 1].isascii() and text[end - 1].isalnum():
        space = text.rfind(" ", end - 15, end)
        if space > start:
            end = space
    window = text[start:end]
    out = ["…" if start else ""]
    cursor = 0
    for span_start, span_end in match_spans(window, terms):
        out.append(html.escape(window[cursor:span_start]))
        out.append("<mark>" + html.escape(window[span_start:span_end]) + "</mark>")
        cursor = span_end
    out.append(html.escape(window[cursor:]))
    out.append("…" if end < len(text) else "")
    return mark_safe("".join(out))


def warm():
    """Pay at start-up what the first search would (~4 s: jieba's dictionary and the shop words, the
    engine's modules and index files, the synonyms query; on Whoosh also the decoding of the posting
    lists questions meet most, ~1 s at 100,000 articles), so the first help-center search and the
    first bot answer are as fast as the rest. Run on a background thread by the server's lifespan
    (helpdesk.asgi) and run_scheduler, never in AppConfig.ready: every command and test would pay."""
    import time

    started = time.monotonic()
    try:
        explained_search(0, "怎么退货 退款 refund", limit=1)  # no workspace 0: nothing found, everything loaded
        engine = backend()
        decoded = engine.warm() if isinstance(engine, KnowledgeWhooshBackend) else 0
        log.info("search warmed up in %.1f s (%s postings decoded)", time.monotonic() - started, decoded)
    except Exception:  # a missing index or an absent database must not stop the server
        log.warning("search warm-up failed", exc_info=True)
    finally:
        connection.close()  # this thread's own connection
