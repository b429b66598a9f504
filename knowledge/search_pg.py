"""PostgreSQL full-text backend of the knowledge search (issue 17): the index lives in the
database, so every app host searches the same one and an edit is visible to all of them as
soon as its transaction commits. Used when DATABASE_URL is PostgreSQL (helpdesk.settings
haystack_connections); Whoosh (knowledge.search_backend) stays the embedded default.

Storage (knowledge.models):
  SearchDocument  one row per published ArticleVersion: workspace, article, version, locale,
                  field lengths, and `terms`, a tsvector. Its lexemes are the terms of
                  helpdesk.analysis.index_terms tagged with their field ("t" title, "s" similar
                  questions, "b" body: 't退货', 'b_退'), each with ONE position holding its term
                  frequency ('t退货':2). Written as a tsvector literal: no text-search
                  configuration re-splits Chinese terms or drops the "_" of grams.
  SearchKey       per document, what finding candidates reads, ~3× narrower (workspace, locale,
                  quantised lengths, hashtext() of each lexeme as integer[]) under a GIN index
                  keyed by workspace first ((workspace_id, hashes), btree_gin: migration 0006):
                  the heap rows visited per posting are these, not the documents' (issue 17's p95).
  SearchTerm      per workspace, the document frequency of each tagged term.
  SearchStats     per workspace, the documents and the summed length of each field.
All are changed in the transaction that changes the documents, so the statistics a query
reads are those of the documents it sees.

Ranking: the formula of the Whoosh backend's scorer (knowledge.search_scoring), so both backends rank alike:
for each (field, query term) the document gets field boost × term weight × idf × (k1 + 1) ×
tf / (tf + k1 × ((1 - b) + b × length / average length)), with whoosh's idf (log(N / (df + 1))
+ 1), its one-byte quantised field lengths and k1 = 1.2, b = 0.75; then, over the best
CANDIDATES + 4 × limit, the coordination factor over the query's word groups. Statistics are
per workspace (a tenant's ranking does not depend on other tenants' articles); in a one-
workspace index the scores equal the Whoosh backend's (knowledge/tests/test_search_pg.py).

Candidates (the common-terms idea of the Whoosh scorer's earlier cutoff, with a budget):
scoring a document means reading the query's lexemes out of its tsvector (setweight +
ts_filter keep only those, then unnest), ~5 µs each: too slow for the tens of thousands of
documents an OR of common Chinese words matches at 100,000 articles. So (1) the (field, term)
pairs are taken most valuable first (boost × weight × idf) while their document frequencies
add up to at most CANDIDATE_BUDGET, plus, of the AND_PAIRS most valuable ones left out (too
frequent), the documents having two of them (an intersection the GIN index computes: a word
in the title and the similar questions, or two words of the question) while the bounds of
those intersections (the smaller document frequency) add up to at most PAIR_BUDGET; (2) per such unit,
the GIN index gives its documents with an estimate of the score that reads no tsvector (tf
taken as 1, the length from a column), and the best RESCORE × (CANDIDATES + 4 × limit) by summed estimate are kept; (3) only
those are scored exactly, with every query term: the statement returns their query lexemes
with tf as tsvector text and exact_scores() sums them here. When every matching posting fits
in the budget and every candidate is rescored (every help center of normal size, every test),
the result is exactly the Whoosh backend's. The GIN's workspace key is used for a workspace
holding at most WORKSPACE_KEY_SHARE of the index (the others' postings are then not visited);
for a larger one, intersecting with its own long list costs more than it saves.

Writes: index_article locks the article row (FOR UPDATE) and reads its state inside the
transaction, then deletes its rows and inserts the published versions, and applies the
statistics' deltas (terms in sorted order: concurrent writers cannot deadlock). Writers hold
a shared advisory lock, rebuild an exclusive one. The unique version_id is the last guard
against a duplicate row.
"""

import math
import re

import psycopg
from django.db import connection, transaction
from haystack.backends import BaseEngine, BaseSearchBackend, BaseSearchQuery
from whoosh.util.numeric import byte_to_length, length_to_byte

from helpdesk.analysis import index_terms

from .models import Article
from .search_backend import KnowledgeWhooshBackend
from .search_scoring import BIGRAM_BIT, CANDIDATES, COORDINATION, K1, TOPIC_FIELDS, B, match_bit

FIELDS = (("title", "t"), ("similar", "s"), ("body", "b"))
NO_GRAM_FIELDS = KnowledgeWhooshBackend.NO_GRAM_FIELDS  # fields indexed by their words only, in both backends
CANDIDATE_BUDGET = 3000  # postings of the (field, term) pairs that select candidates (docs/benchmarks.md)
AND_PAIRS = 3  # most valuable left-out lexemes whose pairwise intersections are candidates too
PAIR_BUDGET = 12000  # bound on their intersections' sizes (the smaller document frequency): the worst queries
RESCORE = 1  # × (CANDIDATES + 4 × limit): candidates scored exactly, best estimates first
WORKSPACE_KEY_SHARE = 0.5  # the GIN's workspace key is used for a workspace holding at most this share of the index
MAX_TF = 16383  # the largest tsvector position
MAX_LEXEME_BYTES = 2000  # PostgreSQL refuses lexemes of 2 kB or more (a pasted URL, a hash)
LOCK_KEY = 0x6B62_5F73  # pg_advisory_xact_lock key of the knowledge index ("kb_s")
DOCS, KEYS, TERMS, STATS = "knowledge_searchdocument", "knowledge_searchkey", "knowledge_searchterm", "knowledge_searchstats"
GIN = "kb_search_key_gin"  # (workspace_id, hashes) of KEYS: migration 0006
# The KEYS rows of the DOCS rows matching a condition on DOCS ({where}): hashtext() of every lexeme.
# Computed by the server, as the queries' hashes are: one function, whatever the client.
FILL_KEYS = (f"INSERT INTO {KEYS} (document_id, workspace_id, locale, title_norm, similar_norm, body_norm, hashes) "
             "SELECT id, workspace_id, locale, title_norm, similar_norm, body_norm, "
             f"ARRAY(SELECT hashtext(lexeme) FROM unnest(tsvector_to_array(terms)) AS lexeme) FROM {DOCS} WHERE {{where}}")
COLUMNS = ("workspace_id", "article_id", "version_id", "locale", "title_len", "similar_len", "body_len",
           "title_norm", "similar_norm", "body_norm", "terms")


def quote(lexeme):
    """A lexeme as a quoted tsvector / tsquery token (PostgreSQL writes it so too)."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


# One entry of a tsvector's text: the quoted lexeme (quotes doubled) and its first position ('t退货':2).
_VECTOR_ENTRY = re.compile(r"'(?:[^']+|'')*':\d+")


def quantised(length):
    """The field length whoosh scores with (it keeps one byte per length)."""
    return byte_to_length(length_to_byte(length))


def document_row(index, obj):
    """The SearchDocument columns of one ArticleVersion (select_related article), and its
    lexemes."""
    data = index.full_prepare(obj)
    counts, lengths = {}, []
    for field, tag in FIELDS:
        terms = index_terms(data.get(field) or "", with_grams=field not in NO_GRAM_FIELDS)
        lengths.append(len(terms))
        for term in terms:
            counts[tag + term] = counts.get(tag + term, 0) + 1
    lexemes = sorted(lex for lex in counts if len(lex.encode()) < MAX_LEXEME_BYTES)
    vector = " ".join(f"{quote(lex)}:{min(counts[lex], MAX_TF)}" for lex in lexemes)
    row = (obj.article.workspace_id, obj.article_id, obj.pk, obj.locale, *lengths, *(quantised(n) for n in lengths), vector)
    return row, lexemes


def server_bound_cursor():
    """Django binds parameters client-side, so PostgreSQL would plan the search statements on every
    search; bound server-side, psycopg prepares them after a few executions on a connection (as
    chat.fast_send does), behind Django's wrapper (query log, execute wrappers, error translation).
    (knowledge.search reads the hits through it too.)"""
    connection.ensure_connection()
    raw = psycopg.Cursor(connection.connection)
    return connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw)


def exact_scores(rows, lexemes, factors, fields, bits, norms):
    """[(BM25F score, OR of the match bits)] of candidate rows (version, article, locale, title, similar
    and body lengths, the query's lexemes of the row as tsvector text): for each (field, term) matched,
    factor × tf / (tf + k1 (1 - b) + norm × the field's length), summed. ~1,000-5,000 entries a question
    at 100,000 articles: each distinct entry ('t退货':1) is parsed once, and the arithmetic is operation
    for operation that of the SQL this replaced (the scores did not move by a bit)."""
    index = {quote(lex)[1:-1]: i for i, lex in enumerate(lexemes)}  # as the tsvector text spells them
    k1b = K1 * (1 - B)
    known = {}  # entry text -> (factor, field, bit, tf, tf + k1 (1 - b))
    scored = []
    for _version, _article, _locale, *lengths, text in rows:
        scaled = [norm * length for norm, length in zip(norms, lengths)]
        score, matched = 0.0, 0
        for entry in _VECTOR_ENTRY.findall(text):
            term = known.get(entry)
            if term is None:
                lex, _colon, tf = entry[1:].rpartition("':")
                i = index[lex]
                tf = int(tf)
                term = known[entry] = (factors[i], fields[i], bits[i], tf, tf + k1b)
            factor, field, bit, tf, tf_k1b = term
            score += factor * tf / (tf_k1b + scaled[field])
            matched |= bit
        scored.append((score, matched))
    return scored


class PostgresSearchBackend(BaseSearchBackend):
    """The knowledge index in PostgreSQL tables (no haystack query support: knowledge.search
    calls index_article / remove_article / rebuild / search_documents)."""

    # Index maintenance --------------------------------------------------------------------

    def index_article(self, index, article_id):
        """Make the article's rows those of its published versions (none when it is not
        published or no longer exists). Returns the number of documents written."""
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [LOCK_KEY])
            # The article's state is read after its row lock: a later writer waits for this one.
            article = Article.objects.select_for_update().filter(pk=article_id).first()
            versions = []
            if article is not None and article.status == Article.Status.PUBLISHED:
                versions = list(index.index_queryset().filter(article_id=article_id))
            return self._replace(cursor, "article_id = %s", [article_id], [document_row(index, v) for v in versions])

    def remove_article(self, article_id):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock_shared(%s)", [LOCK_KEY])
            self._replace(cursor, "article_id = %s", [article_id], [])

    def _replace(self, cursor, where, params, rows):
        """Delete the documents matching `where` (and their keys), insert `rows` (and theirs), apply the
        statistics' deltas."""
        cursor.execute(f"DELETE FROM {KEYS} WHERE document_id IN (SELECT id FROM {DOCS} WHERE {where})", params)
        cursor.execute(f"DELETE FROM {DOCS} WHERE {where} RETURNING workspace_id, title_len, similar_len, body_len, "
                       "tsvector_to_array(terms)", params)
        deltas, totals = {}, {}
        for workspace_id, *lengths, lexemes in cursor.fetchall():
            self._count(deltas, totals, workspace_id, lengths, lexemes, -1)
        for (workspace_id, _a, _v, _l, *lengths), lexemes in rows:
            self._count(deltas, totals, workspace_id, lengths[:3], lexemes, 1)
        if rows:
            cursor.executemany(f"INSERT INTO {DOCS} ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * (len(COLUMNS) - 1))}, %s::tsvector)",
                               [row for row, _lexemes in rows])
            cursor.execute(FILL_KEYS.format(where=where), params)
        for workspace_id in sorted(totals):
            changed = sorted((lex, d) for lex, d in deltas[workspace_id].items() if d)
            if changed:
                cursor.execute(
                    f"INSERT INTO {TERMS} (workspace_id, lexeme, df) SELECT %s, lexeme, delta "
                    "FROM unnest(%s::text[], %s::int[]) AS x(lexeme, delta) ORDER BY lexeme "
                    f"ON CONFLICT (workspace_id, lexeme) DO UPDATE SET df = {TERMS}.df + EXCLUDED.df",
                    [workspace_id, [lex for lex, _d in changed], [d for _lex, d in changed]])
            docs, title, similar, body = totals[workspace_id]
            cursor.execute(
                f"INSERT INTO {STATS} (workspace_id, documents, title_terms, similar_terms, body_terms) VALUES (%s, %s, %s, %s, %s) "
                f"ON CONFLICT (workspace_id) DO UPDATE SET documents = {STATS}.documents + EXCLUDED.documents, "
                f"title_terms = {STATS}.title_terms + EXCLUDED.title_terms, similar_terms = {STATS}.similar_terms + EXCLUDED.similar_terms, "
                f"body_terms = {STATS}.body_terms + EXCLUDED.body_terms",
                [workspace_id, docs, title, similar, body])
        return len(rows)

    @staticmethod
    def _count(deltas, totals, workspace_id, lengths, lexemes, sign):
        delta = deltas.setdefault(workspace_id, {})
        for lex in lexemes:
            delta[lex] = delta.get(lex, 0) + sign
        total = totals.setdefault(workspace_id, [0, 0, 0, 0])
        total[0] += sign
        for i, n in enumerate(lengths, 1):
            total[i] += sign * n

    def rebuild(self, index, objects, workspace_id=None):
        """Replace the whole index (or one workspace's part) with `objects`, in one transaction:
        searches see the old documents until it commits. Returns the documents written."""
        scope, params = ("workspace_id = %s", [workspace_id]) if workspace_id is not None else ("TRUE", [])
        count = 0
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
            for table in (KEYS, DOCS, TERMS, STATS):
                cursor.execute(f"DELETE FROM {table} WHERE {scope}", params)
            batch = []
            for obj in objects:
                batch.append(document_row(index, obj)[0])
                if len(batch) == 2000:
                    count += self._copy(cursor, batch)
            count += self._copy(cursor, batch)
            cursor.execute(FILL_KEYS.format(where=scope), params)
            cursor.execute(f"INSERT INTO {TERMS} (workspace_id, lexeme, df) SELECT workspace_id, lexeme, count(*) "
                           f"FROM {DOCS}, unnest(tsvector_to_array(terms)) AS lexeme WHERE {scope} GROUP BY 1, 2", params)
            cursor.execute(f"INSERT INTO {STATS} (workspace_id, documents, title_terms, similar_terms, body_terms) "
                           f"SELECT workspace_id, count(*), sum(title_len), sum(similar_len), sum(body_len) FROM {DOCS} "
                           f"WHERE {scope} GROUP BY 1", params)
        with connection.cursor() as cursor:  # merge the GIN pending list now, not in the next searches
            cursor.execute(f"SELECT gin_clean_pending_list('{GIN}'::regclass)")
            if connection.in_atomic_block:  # (a caller's transaction: tests) VACUUM cannot run in one
                cursor.execute(f"ANALYZE {DOCS}, {KEYS}, {TERMS}, {STATS}")
            else:
                # The deleted rows reclaimed now, and every new page's hint bits and visibility set here
                # rather than by the first search reading it (which would dirty it: writes during searches).
                cursor.execute(f"VACUUM (ANALYZE) {DOCS}, {KEYS}, {TERMS}, {STATS}")
        return count

    @staticmethod
    def _copy(cursor, rows):
        # One COPY per batch: `objects` (a server-side cursor on PostgreSQL) is read between them.
        with cursor.copy(f"COPY {DOCS} ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        count = len(rows)
        rows.clear()
        return count

    # haystack's own write API (not used by knowledge.search) ---------------------------------

    def update(self, index, iterable, commit=True):
        for obj in iterable:
            self.index_article(index, obj.article_id)

    def remove(self, obj_or_string, commit=True):
        raise NotImplementedError("knowledge.search.remove_article removes documents")

    def clear(self, models=None, commit=True):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
            for table in (KEYS, DOCS, TERMS, STATS):
                cursor.execute(f"DELETE FROM {table}")

    def search(self, query_string, **kwargs):
        raise NotImplementedError("knowledge.search.search queries this backend")

    # Reads --------------------------------------------------------------------------------

    def field_boosts(self):
        from haystack import connections

        fields = connections[self.connection_alias].get_unified_index().all_searchfields()
        return [(name, tag, fields[name].boost) for name, tag in FIELDS if name in fields]

    def search_documents(self, terms, filters, limit):
        """([(version_id, article_id, locale, score)] best first, the set of query groups some
        candidate matched), like the Whoosh backend's; terms: [QueryTerm]; filters: (column,
        value) pairs, workspace_id always among them (every query is filtered by it)."""
        filters = dict(filters)
        workspace_id = int(filters.pop("workspace_id"))
        if not terms:
            return [], set()
        pairs = {}  # lexeme → [field index, boost × weight, match bit]
        topic_tags = set()
        for field_index, (name, tag, boost) in enumerate(self.field_boosts()):
            if name in TOPIC_FIELDS:
                topic_tags.add(tag)
            for q in terms:
                pairs.setdefault(tag + q.term, [field_index, boost * q.weight, match_bit(q.group, q.term)])
        with server_bound_cursor() as cursor:
            # The workspace's statistics (the row without a lexeme, with the planner's count of all the
            # documents: reltuples, -1 before the first ANALYZE) and the query lexemes' document
            # frequencies in one round trip. One index probe per lexeme (LIMIT 1: not flattened into
            # a scan of the workspace's terms, which the planner chooses when its statistics undercount them).
            cursor.execute(f"SELECT NULL, documents, title_terms, similar_terms, body_terms, (SELECT reltuples::int8 FROM pg_class "
                           f"WHERE oid = '{KEYS}'::regclass) FROM {STATS} WHERE workspace_id = %s "
                           f"UNION ALL SELECT x.lexeme, t.df, 0, 0, 0, 0 FROM unnest(%s::text[]) AS x(lexeme), LATERAL (SELECT df FROM {TERMS} "
                           "WHERE workspace_id = %s AND lexeme = x.lexeme LIMIT 1) AS t WHERE t.df > 0",
                           [workspace_id, list(pairs), workspace_id])
            stats, frequencies, indexed = None, {}, -1
            for lexeme, count, *totals, all_documents in cursor.fetchall():
                if lexeme is None:
                    stats, indexed = (count, *totals), all_documents
                else:
                    frequencies[lexeme] = count
            if not stats or not stats[0] or not frequencies:
                return [], set()
            # As the Whoosh scorer: a word is known when some article of the workspace is about it
            # (the word or an equivalent in a title or similar question).
            known = 0
            for lex in frequencies:
                if lex[:1] in topic_tags:
                    known |= pairs[lex][2]
            known_groups = {q.group for q in terms if q.group >= 0 and known >> q.group & 1}
            documents = stats[0]
            norms = [K1 * B / (total / documents or 1.0) for total in stats[1:]]
            lexemes, factors, fields, bits, value = [], [], [], [], []
            for lex, df in frequencies.items():
                field_index, weight, bit = pairs[lex]
                idf = math.log(documents / (df + 1)) + 1
                lexemes.append(lex)
                factors.append(weight * idf * (K1 + 1))
                fields.append(field_index)
                bits.append(bit)
                value.append((weight * idf, df, lex))
            position = {lex: i for i, lex in enumerate(lexemes)}
            units = self.candidate_units(value)
            first = [position[unit[0]] for unit in units]
            second = [position[unit[-1]] if len(unit) > 1 else None for unit in units]
            base = 1 + K1 * (1 - B)
            length = "CASE {f} WHEN 0 THEN title_norm WHEN 1 THEN similar_norm ELSE body_norm END"
            where, params = "", []
            if "locale" in filters:
                where, params = " AND locale = %s", [filters.pop("locale")]
            if filters:
                raise ValueError(f"unsupported filters: {sorted(filters)}")
            columns = f"document_id AS id, {length.format(f='p.f1')} AS n1, {length.format(f='p.f2')} AS n2"
            if documents <= WORKSPACE_KEY_SHARE * indexed:
                # A workspace among others: the GIN's workspace key leaves their postings out (no heap visit).
                postings = f"SELECT {columns} FROM {KEYS} WHERE hashes && p.h1 AND hashes && p.h2 AND workspace_id = %s::int8{where}"
                params = [workspace_id, *params]
            else:
                # Most of the index (or no statistics yet): intersecting with the workspace's own long list in the
                # GIN costs more than it saves; OFFSET 0 keeps the condition out of the index scan (the planner
                # would put it in), a filter on the rows.
                postings = f"SELECT id, n1, n2 FROM (SELECT {columns}, workspace_id FROM {KEYS} WHERE hashes && p.h1 AND hashes && p.h2{where} OFFSET 0) AS s WHERE workspace_id = %s"
                params = [*params, workspace_id]
            # 1. Candidates: per unit (a chosen lexeme, or two left-out ones ANDed), its documents
            #    from the GIN index of the narrow key rows (the unit's lexemes' hashes all present)
            #    with an estimate of its score that reads no tsvector (tf taken as 1): factor /
            #    (1 + k1 (1 - b) + norm × the field's length), the best RESCORE × (CANDIDATES + 4 ×
            #    limit) by summed estimate. Equal estimates are common (tf 1, same quantised length):
            #    the id decides which are kept, so a query's candidates do not depend on the plan.
            #    (Two lexemes sharing a hash only add a candidate: stage 2 scores with the lexemes
            #    themselves.) 2. Of each candidate's document, only the query's lexemes with their tf
            #    (the position), as tsvector text, summed by exact_scores(): unnested and joined to the
            #    query's terms in SQL they were about a fifth of the statement's time, work the database
            #    every app host shares now does not do (docs/benchmarks.md).
            cursor.execute(
                f"""WITH approx AS (
                    SELECT d.id, sum(p.a1 / (%s::float8 + p.m1 * d.n1) + p.a2 / (%s::float8 + p.m2 * d.n2)) AS estimate
                    FROM (SELECT ARRAY[hashtext(u.l1)] AS h1, ARRAY[hashtext(coalesce(u.l2, u.l1))] AS h2,
                                 u.a1, u.m1, u.f1, u.a2, u.m2, u.f2
                          FROM unnest(%s::text[], %s::text[], %s::float8[], %s::float8[], %s::int[], %s::float8[], %s::float8[], %s::int[])
                               AS u(l1, l2, a1, m1, f1, a2, m2, f2)) AS p,
                         LATERAL ({postings}) AS d
                    GROUP BY d.id ORDER BY estimate DESC, d.id LIMIT %s)
                SELECT c.version_id, c.article_id, c.locale, c.title_norm, c.similar_norm, c.body_norm,
                       ts_filter(setweight(c.terms, 'A', %s::text[]), '{{a}}')::text
                FROM approx JOIN {DOCS} c ON c.id = approx.id""",
                [base, base, [unit[0] for unit in units], [unit[1] if len(unit) > 1 else None for unit in units],
                 [factors[i] for i in first], [norms[fields[i]] for i in first], [fields[i] for i in first],
                 [0.0 if j is None else factors[j] for j in second], [0.0 if j is None else norms[fields[j]] for j in second],
                 [0 if j is None else fields[j] for j in second], *params, RESCORE * (CANDIDATES + limit * 4), lexemes])
            rows = cursor.fetchall()
        # As the Whoosh scorer (search_scoring.VectorScorer.top_and_known): single characters alone are no
        # match; the best CANDIDATES + 4 × limit get the coordination over the query's words; ties go to
        # the lower version id (whoosh's document order after a rebuild).
        scored = [(version_id, article_id, locale, score, matched)
                  for (version_id, article_id, locale, *_rest), (score, matched) in zip(rows, exact_scores(rows, lexemes, factors, fields, bits, norms))
                  if matched]
        scored.sort(key=lambda row: (-row[3], row[0]))
        del scored[CANDIDATES + limit * 4:]
        groups = len({q.group for q in terms if q.group >= 0})
        results = []
        for version_id, article_id, locale, score, matched in scored:
            if groups > 1:
                score *= (1 - COORDINATION) + COORDINATION * (matched & ~BIGRAM_BIT).bit_count() / groups
            results.append((version_id, article_id, locale, score))
        results.sort(key=lambda row: (-row[3], row[0]))
        return results[:limit], known_groups

    @staticmethod
    def candidate_units(value):
        """What finds the candidates: [(lexeme,) or (lexeme, lexeme)] from [(boost × weight ×
        idf, df, lexeme)]. Lexemes taken most valuable first while their document frequencies
        fit in CANDIDATE_BUDGET (the most valuable one always); of the AND_PAIRS most valuable
        ones left out (too frequent), the documents having two of them (a word in the title and
        the similar questions, or two words of the question): an intersection the GIN index
        computes, where the best-scoring documents of frequent words are. An intersection can be
        as large as the smaller list (two words that go together, a word and its own grams), so
        pairs are taken while those bounds fit in PAIR_BUDGET: no query reads more than both budgets."""
        chosen, left, total = [], [], 0
        for _value, df, lex in sorted(value, key=lambda v: (-v[0], v[1])):
            if not chosen or total + df <= CANDIDATE_BUDGET:
                chosen.append((lex,))
                total += df
            else:
                left.append((lex, df))
        top, paired, bound = left[:AND_PAIRS], [], 0
        for i, (a, df_a) in enumerate(top):
            for b, df_b in top[i + 1:]:
                if bound + min(df_a, df_b) <= PAIR_BUDGET:
                    paired.append((a, b))
                    bound += min(df_a, df_b)
        return chosen + paired

    def documents(self, field_filters=()):
        """Every indexed document (tests and checks): [{field: value}] like the Whoosh backend's."""
        where, params = "TRUE", []
        for field, value in field_filters:
            if field not in ("workspace_id", "article_id", "version_id", "locale"):
                raise ValueError(field)
            where += f" AND {field} = %s"
            params.append(value if field == "locale" else int(value))
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT version_id, article_id, workspace_id, locale FROM {DOCS} WHERE {where} ORDER BY version_id", params)
            return [{"django_id": str(v), "article_id": str(a), "workspace_id": str(w), "locale": loc}
                    for v, a, w, loc in cursor.fetchall()]


class PostgresSearchEngine(BaseEngine):
    backend = PostgresSearchBackend
    query = BaseSearchQuery
