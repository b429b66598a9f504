"""Knowledge-base search engine: django-haystack's Whoosh backend with a Chinese + English
analyzer, serialised index writes and a ranked OR query.

Analyzer: helpdesk.analysis (index_terms when indexing; the query's weighted terms from
query_terms), the same for the PostgreSQL backend, the bot and synonyms.

Writes: every index change (publish, unpublish, delete, rebuild, haystack's own
update/remove/clear) runs inside an exclusive fcntl.flock on `<PATH>.lock`, a file next to
the index directory, and commits one Whoosh writer while holding it. Haystack's stock
backend uses AsyncWriter / a lock-free `delete_by_query`, which drops writes when several
processes write at once; here writers queue instead. Readers take no lock: each backend
(haystack keeps one per thread) reuses one searcher and refreshes it when the index's
generation changed.
"""

import fcntl
import logging
import os
from contextlib import contextmanager

from django.core.exceptions import ImproperlyConfigured
from haystack.backends.whoosh_backend import WhooshEngine, WhooshSearchBackend
from haystack.constants import DJANGO_CT, DJANGO_ID, ID
from haystack.exceptions import SkipDocument
from whoosh import index as whoosh_index
from whoosh import writing
from whoosh.analysis import Token, Tokenizer
from whoosh.fields import ID as WHOOSH_ID
from whoosh.fields import TEXT, Schema
from whoosh.filedb.filestore import FileStorage
from whoosh.qparser import QueryParser
from whoosh.query import And, Every, Term

from helpdesk.analysis import index_terms
from helpdesk.text import fold

from .search_scoring import VectorScorer

log = logging.getLogger(__name__)

# --- analysis (helpdesk.analysis, shared with the PostgreSQL backend and the bot) ----------------


class ShopTokenizer(Tokenizer):
    """The terms of helpdesk.analysis.index_terms as whoosh tokens (no positions: the fields
    are indexed without them)."""

    def __init__(self, with_grams=True):
        self.with_grams = with_grams

    def __eq__(self, other):
        return other.__class__ is self.__class__ and other.with_grams == self.with_grams

    def __call__(self, value, positions=False, chars=False, keeporiginal=False, removestops=True,
                 start_pos=0, start_char=0, tokenize=True, mode="", **kwargs):
        t = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        terms = [fold(value)] if not tokenize else index_terms(value, self.with_grams)
        for pos, term in enumerate(terms, start_pos):
            t.text = t.original = term
            t.boost = 1.0
            t.stopped = False
            if positions:
                t.pos = pos
            if chars:
                t.startchar, t.endchar = start_char, start_char + len(value)
            yield t


def shop_analyzer(with_grams=True):
    return ShopTokenizer(with_grams)


# --- serialised writes ------------------------------------------------------------------------


@contextmanager
def exclusive_lock(path):
    """Blocks until this process holds the exclusive flock on `path` (released on exit, or by
    the kernel if the process dies). Threads of one process also exclude each other: each
    acquisition opens its own file description."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


# --- haystack backend -------------------------------------------------------------------------


class KnowledgeWhooshBackend(WhooshSearchBackend):
    """Whoosh backend with the shop analyzer, locked writers and a ranked OR query.

    Options (HAYSTACK_CONNECTIONS): PATH (index directory), LOCK_PATH (default PATH + ".lock"),
    WRITER_LIMIT_MB (memory a writer buffers before spilling runs to disk, default 256)."""

    # Set on the index documents only: `text` (haystack's document field) is the union of
    # title, similar and body, which are indexed on their own; indexing it again would double
    # the postings for nothing the ranked query uses.
    SKIP_FIELDS = frozenset({"text"})
    NO_GRAM_FIELDS = frozenset({"body"})

    def __init__(self, connection_alias, **connection_options):
        if connection_options.get("STORAGE", "file") != "file":
            raise ImproperlyConfigured("The knowledge search backend needs a file index (STORAGE='file').")
        super().__init__(connection_alias, **connection_options)
        self.path = os.path.abspath(self.path)
        self.lock_path = connection_options.get("LOCK_PATH") or self.path.rstrip(os.sep) + ".lock"
        self.writer_limit_mb = int(connection_options.get("WRITER_LIMIT_MB", 256))
        self._searcher = None
        self._filter_cache = {}
        self._scorers = {}

    # Schema ------------------------------------------------------------------------------

    def build_schema(self, fields):
        schema_fields = {
            ID: WHOOSH_ID(stored=True, unique=True),
            DJANGO_CT: WHOOSH_ID(stored=True),
            DJANGO_ID: WHOOSH_ID(stored=True),
        }
        content_field_name = ""
        for field in fields.values():
            name = field.index_fieldname
            if field.document:
                content_field_name = name
            if name in self.SKIP_FIELDS or not field.indexed and not field.stored:
                continue
            if field.field_type == "keyword":
                schema_fields[name] = WHOOSH_ID(stored=field.stored)
            elif field.field_type in ("string", "text"):
                # No positions (no phrase queries here): a smaller, faster index. Boosts are
                # applied at query time (field_boost would only raise BM25's saturated tf).
                schema_fields[name] = TEXT(analyzer=shop_analyzer(with_grams=name not in self.NO_GRAM_FIELDS), phrase=False, stored=field.stored)
            else:
                raise ImproperlyConfigured(f"Field type {field.field_type!r} ({name}) is not supported by the knowledge backend.")
        return content_field_name, Schema(**schema_fields)

    def setup(self):
        from haystack import connections

        os.makedirs(self.path, exist_ok=True)
        self.storage = FileStorage(self.path)
        self.content_field_name, self.schema = self.build_schema(
            connections[self.connection_alias].get_unified_index().all_searchfields()
        )
        self.parser = QueryParser(self.content_field_name or "title", schema=self.schema)
        # Under the lock: two processes starting on an empty directory must not both create
        # (create_index wipes whatever the other one already committed).
        with exclusive_lock(self.lock_path):
            if whoosh_index.exists_in(self.path):
                self.index = self.storage.open_index(schema=self.schema)
            else:
                self.index = self.storage.create_index(self.schema)
        self.setup_complete = True

    # Writes ------------------------------------------------------------------------------

    def prepare_document(self, index, obj):
        doc = index.full_prepare(obj)
        return {key: self._from_python(value) for key, value in doc.items()
                if key in self.schema.names() and key != "boost"}

    @contextmanager
    def locked_writer(self, clear=False):
        """One Whoosh writer committed under the exclusive file lock. clear=True replaces the
        whole index with what the writer added (atomically for readers)."""
        if not self.setup_complete:
            self.setup()
        with exclusive_lock(self.lock_path):
            if not whoosh_index.exists_in(self.path):  # deleted under us (clear of another process)
                self.index = self.storage.create_index(self.schema)
            writer = self.index.writer(timeout=30.0, limitmb=self.writer_limit_mb)
            try:
                yield writer
            except BaseException:
                writer.cancel()
                raise
            writer.commit(mergetype=writing.CLEAR) if clear else writer.commit()

    def replace(self, index, delete_terms=(), objects=(), clear=False):
        """In one locked commit: delete every document matching one of `delete_terms`
        ((field, value) pairs), then add `objects`. `objects` may be a lazy queryset: it is
        evaluated inside the lock, so it reads the database state after any earlier writer."""
        added = 0
        with self.locked_writer(clear=clear) as writer:
            for field, value in delete_terms:
                writer.delete_by_term(field, str(value))
            for obj in objects:
                try:
                    doc = self.prepare_document(index, obj)
                except SkipDocument:
                    continue
                writer.add_document(**doc)
                added += 1
        return added

    def update(self, index, iterable, commit=True):
        with self.locked_writer() as writer:
            for obj in iterable:
                try:
                    writer.update_document(**self.prepare_document(index, obj))
                except SkipDocument:
                    continue

    def remove(self, obj_or_string, commit=True):
        from haystack.utils import get_identifier

        with self.locked_writer() as writer:
            writer.delete_by_term(ID, get_identifier(obj_or_string))

    def clear(self, models=None, commit=True):
        from haystack.utils import get_model_ct

        with self.locked_writer(clear=models is None) as writer:
            for model in models or ():
                writer.delete_by_term(DJANGO_CT, get_model_ct(model))

    def delete_index(self):
        self.clear()

    # Reads -------------------------------------------------------------------------------

    def searcher(self):
        """This backend's searcher (haystack keeps a backend per thread), refreshed when a
        writer (any process) committed a newer generation."""
        if not self.setup_complete:
            self.setup()
        searcher = self._searcher
        if searcher is not None and not searcher.up_to_date():
            # Not Searcher.refresh(): in whoosh-reloaded 2.7.5 it reuses segment readers with
            # their old deletion sets and keeps merged-away segments (deleted documents come
            # back). A new searcher opens the current segments; it is only needed after a write.
            searcher.close()
            searcher = None
        if searcher is None:
            searcher = self._searcher = self.index.searcher()
        return searcher

    def filter_docs(self, searcher, filters):
        """The document numbers matching every (field, value) filter, computed once per
        searcher (i.e. until the next write). Restricts without scoring. (A Require/And
        query would too, but whoosh-reloaded 2.7.5 asserts inside IntersectionMatcher when
        the top-N optimisation skips blocks under a Require.)"""
        cache = self._filter_cache
        if cache.get("searcher") is not searcher:
            cache.clear()
            cache["searcher"] = searcher
        key = tuple(filters)
        docs = cache.get(key)
        if docs is None:
            if len(cache) > 64:
                cache.clear()
                cache["searcher"] = searcher
            query = And([Term(field, str(value)) for field, value in filters]) if len(filters) > 1 else Term(filters[0][0], str(filters[0][1]))
            docs = cache[key] = set(searcher.docs_for_query(query))
        return docs

    def reset_searcher(self):
        if self._searcher is not None:
            self._searcher.close()
        self._searcher = None

    def field_boosts(self):
        from haystack import connections

        fields = connections[self.connection_alias].get_unified_index().all_searchfields()
        return [(name, fields[name].boost) for name in ("title", "similar", "body") if name in fields]

    def search_documents(self, terms, filters, limit):
        """([(version_id, article_id, locale, score)] best first, the set of query groups some
        document of `filters` matched); terms: [QueryTerm]."""
        if not terms:
            return [], set()
        for attempt in (1, 2):
            try:
                searcher = self.searcher()
                allowed = self.filter_docs(searcher, filters) if filters else None
                scorer = self._scorers.get(searcher)
                if scorer is None:
                    self._scorers = {searcher: (scorer := VectorScorer(searcher))}
                ranked, known = scorer.top_and_known(terms, self.field_boosts(), allowed, limit)
                results = []
                for docnum, score in ranked:
                    fields = searcher.stored_fields(docnum)
                    results.append((int(fields[DJANGO_ID]), int(fields["article_id"]), fields["locale"], score))
                return results, known
            except OSError:
                # A segment file merged away between reading the TOC and opening it: reopen.
                if attempt == 2:
                    raise
                self.reset_searcher()
        return [], set()

    def warm(self):
        """Decode the posting lists questions meet most (knowledge.search.warm, at start-up)."""
        searcher = self.searcher()
        scorer = self._scorers.get(searcher)
        if scorer is None:
            self._scorers = {searcher: (scorer := VectorScorer(searcher))}
        return scorer.warm([name for name, _boost in self.field_boosts()])

    def documents(self, field_filters=()):
        """Every stored document (tests and checks): [{field: value}]."""
        query = And([Term(field, str(value)) for field, value in field_filters]) if field_filters else Every()
        return [hit.fields() for hit in self.searcher().search(query, limit=None, scored=False)]


class KnowledgeWhooshEngine(WhooshEngine):
    backend = KnowledgeWhooshBackend

