"""The PostgreSQL search backend (issue 17): the knowledge search suites run again on it (the
same tests as the Whoosh backend), plus what is its own: equal scores to the Whoosh backend,
statistics kept exact through edits, concurrent writers of one article, workspace isolation
of the statistics, the candidate budget. PostgreSQL only (marker engine_db: the second pass of
scripts/test.sh)."""

import pytest
from django.db import connection

from conftest import make_workspace, run_threads
from knowledge import search, search_pg
from knowledge.models import Article, ArticleVersion, SearchDocument, SearchStats, SearchTerm
from knowledge.tests.test_bot import *  # noqa: F403 (the bot's suite, on this backend)
from knowledge.tests.test_search import *  # noqa: F403 (the search suite, on this backend)
from knowledge.tests.test_search import article, slugs
from knowledge.tests.test_search_quality import *  # noqa: F403 (the quality fixture, on this backend)
from knowledge.tests.test_search_analysis import *  # noqa: F403 (what the analyser finds, on this backend)
from knowledge.tests.test_bot_confidence import *  # noqa: F403 (when the bot answers, on this backend)

PG_ENGINE = {"default": {"ENGINE": "knowledge.search_pg.PostgresSearchEngine"}}
WHOOSH = "knowledge.search_backend.KnowledgeWhooshEngine"

# Whoosh internals, not a behaviour of search: nothing to run on PostgreSQL.
del test_vector_scores_equal_whooshs_own_bm25f  # noqa: F821
del test_warm_decodes_the_frequent_lists_and_changes_no_result  # noqa: F821


def _on_postgres(settings):
    if connection.vendor != "postgresql":
        pytest.skip("the PostgreSQL search backend needs DATABASE_URL=postgres://...")
    settings.HAYSTACK_CONNECTIONS = PG_ENGINE


@pytest.fixture(autouse=True)
def whoosh_dir(request, settings):
    """Replaces the Whoosh index of the imported suites: every test here uses PostgreSQL."""
    _on_postgres(settings)
    return None


@pytest.fixture
def search_index(settings):
    """The bot suite's index fixture, on PostgreSQL."""
    _on_postgres(settings)


# After the star imports (they bring the suites' own pytestmark).
pytestmark = [pytest.mark.django_db, pytest.mark.engine_db, pytest.mark.postgres_only]


def recomputed_statistics():
    """SearchTerm and SearchStats as a rebuild would make them from the documents."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT workspace_id, lexeme, count(*) FROM knowledge_searchdocument, unnest(tsvector_to_array(terms)) AS lexeme GROUP BY 1, 2")
        terms = {(w, lex): n for w, lex, n in cursor.fetchall()}
        cursor.execute("SELECT workspace_id, count(*), sum(title_len), sum(similar_len), sum(body_len) FROM knowledge_searchdocument GROUP BY 1")
        stats = {w: tuple(int(v) for v in rest) for w, *rest in cursor.fetchall()}
    return terms, stats


def assert_keys_mirror_documents():
    """Every document has exactly one key row, whose columns are its own and whose hashes are
    hashtext() of its lexemes, and no key row is left without its document."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE k.document_id IS NULL OR d.id IS NULL OR k.workspace_id <> d.workspace_id "
            "OR k.locale <> d.locale OR (k.title_norm, k.similar_norm, k.body_norm) <> (d.title_norm, d.similar_norm, d.body_norm) "
            "OR k.hashes <> ARRAY(SELECT hashtext(x) FROM unnest(tsvector_to_array(d.terms)) AS x)), count(*) "
            "FROM knowledge_searchkey k FULL JOIN knowledge_searchdocument d ON d.id = k.document_id")
        mismatched, rows = cursor.fetchone()
    assert (mismatched, rows) == (0, SearchDocument.objects.count())


def kept_statistics():
    terms = {(t.workspace_id, t.lexeme): t.df for t in SearchTerm.objects.filter(df__gt=0)}
    stats = {s.workspace_id: (s.documents, s.title_terms, s.similar_terms, s.body_terms) for s in SearchStats.objects.filter(documents__gt=0)}
    return terms, stats


def test_scores_equal_the_whoosh_backends(ws, settings, tmp_path):
    """Both backends rank with one formula: the same articles give the same scores (BM25F with
    the field boosts, query weights and coordination) in Whoosh and in PostgreSQL."""
    for i in range(14):
        article(ws, f"a{i}", {"zh-hans": (f"退货说明{i}" if i % 3 else "发票", "退货运费。" * (i + 1) + "优惠券" * (i % 4),
                                          ["怎么退货"] if i % 2 else []),
                              **({"en": ("Refund policy", "We refund the shipping fee. " * (i % 3 + 1))} if i % 4 == 0 else {})})
    queries = ["退货", "退货 优惠券", "发票怎么开", "退貨運費", "refund shipping", "优惠券退回吗 tuihuo"]
    pg_scores = {q: search.backend().search_documents(search.query_terms(q), [("workspace_id", ws.pk)], 40) for q in queries}
    settings.HAYSTACK_CONNECTIONS = {"default": {"ENGINE": WHOOSH, "PATH": str(tmp_path / "whoosh")}}
    assert search.rebuild() == ArticleVersion.objects.count()
    for q in queries:
        whoosh = search.backend().search_documents(search.query_terms(q), [("workspace_id", ws.pk)], 40)
        mine = {version: score for version, _a, _l, score in pg_scores[q][0]}
        theirs = {version: score for version, _a, _l, score in whoosh[0]}
        assert pg_scores[q][1] == whoosh[1], q  # the query words some article knows
        assert mine.keys() == theirs.keys(), q
        assert all(abs(mine[v] - theirs[v]) < 1e-6 * max(1.0, theirs[v]) for v in theirs), (q, mine, theirs)


def test_statistics_follow_edits_unpublishing_and_deletes(ws):
    other = make_workspace()
    a = article(ws, "returns", {"zh-hans": ("退货说明", "退货流程。", ["怎么退货"]), "en": ("Returns", "Return within 7 days.")})
    b = article(other, "returns", {"zh-hans": ("退货政策", "七天无理由退货。")})
    assert kept_statistics() == recomputed_statistics()
    assert_keys_mirror_documents()
    assert search.rebuild() == 3
    assert kept_statistics() == recomputed_statistics()
    assert_keys_mirror_documents()
    ArticleVersion.objects.filter(article=a, locale="zh-hans").update(title="换货说明", body="换货流程。换货。")
    search.index_article(a.pk)
    assert kept_statistics() == recomputed_statistics()
    assert_keys_mirror_documents()
    ArticleVersion.objects.filter(article=a, locale="en").delete()
    search.index_article(a.pk)
    Article.objects.filter(pk=b.pk).update(status=Article.Status.DRAFT)
    search.index_article(b.pk)
    assert kept_statistics() == recomputed_statistics()
    assert_keys_mirror_documents()
    assert SearchStats.objects.get(workspace=other).documents == 0
    Article.objects.filter(pk=a.pk).delete()
    search.remove_article(a.pk)
    search.remove_article(a.pk)  # twice (two hooks racing): counted once
    assert kept_statistics() == recomputed_statistics() == ({}, {})
    assert_keys_mirror_documents()
    assert search.rebuild() == 0


def test_a_workspaces_ranking_and_results_ignore_other_workspaces(ws):
    """Every query is filtered by workspace, and idf / lengths are the workspace's own: another
    tenant's articles neither appear nor move the scores."""
    article(ws, "mine", {"zh-hans": ("退货说明", "退货流程。")})
    article(ws, "coupons", {"zh-hans": ("优惠券", "优惠券在结算页使用。")})
    before = search.search(ws.pk, "退货 优惠券")
    other = make_workspace()
    for i in range(5):
        article(other, f"theirs-{i}", {"zh-hans": ("退货政策", "退货退货。" * (i + 1), ["怎么退货"])})
    after = search.search(ws.pk, "退货 优惠券")
    assert [(h.slug, h.score) for h in after] == [(h.slug, h.score) for h in before]
    assert slugs(search.search(other.pk, "说明 结算页")) == []
    with pytest.raises(KeyError):
        search.backend().search_documents(search.query_terms("退货"), [], 10)


def test_the_workspace_key_is_used_for_a_workspace_among_others_only(ws, monkeypatch):
    """The GIN index (on the narrow key rows) is keyed by workspace (btree_gin, migration 0006). A query of a workspace holding
    at most half of the index uses the key (other workspaces' rows are not visited); one holding most
    of it filters the rows instead (intersecting with its own long list would cost more). Either way
    the results are the same."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", [search_pg.GIN])
        assert "knowledge_searchkey USING gin (workspace_id, hashes)" in cursor.fetchone()[0]
    small = make_workspace()
    for i in range(6):
        article(ws, f"big-{i}", {"zh-hans": (f"退货说明{i}", "退货运费。" * (i + 1), ["怎么退货"])})
    for i in range(2):
        article(small, f"small-{i}", {"zh-hans": (f"退货政策{i}", "退货。" * (i + 1))})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE knowledge_searchkey")  # the planner's count of all the documents (8)

    def statement(workspace):
        sent = []
        with connection.execute_wrapper(lambda execute, sql, *args: sent.append(sql) or execute(sql, *args)):
            hits = [(h.slug, h.score) for h in search.search(workspace.pk, "怎么退货")]
        return hits, next(sql for sql in sent if "approx" in sql)

    big_hits, big_sql = statement(ws)
    small_hits, small_sql = statement(small)
    assert "OFFSET 0" in big_sql and "OFFSET 0" not in small_sql
    assert len(big_hits) == 6 and len(small_hits) == 2
    monkeypatch.setattr(search_pg, "WORKSPACE_KEY_SHARE", 1.0)  # the key for every workspace
    assert statement(ws)[0] == big_hits and "OFFSET 0" not in statement(ws)[1]
    monkeypatch.setattr(search_pg, "WORKSPACE_KEY_SHARE", 0.0)  # for none
    assert statement(small)[0] == small_hits and "OFFSET 0" in statement(small)[1]


def test_exact_scores_read_the_tsvector_text_postgresql_writes(ws):
    """Stage 2 reads each candidate's matched lexemes and tf from PostgreSQL's text form of a
    tsvector (quotes doubled, backslashes doubled): lexemes the analyser never makes today parse too."""
    lexemes = ["t退货", "bit's", "ba\\b", "b'", "b:1 'x'", "s_退货"]
    vector = " ".join(f"{search_pg.quote(lex)}:{tf}" for tf, lex in enumerate(sorted(lexemes), 2))
    with connection.cursor() as cursor:
        cursor.execute("SELECT ts_filter(setweight(%s::tsvector, 'A', %s::text[]), '{a}')::text", [vector, lexemes])
        text = cursor.fetchone()[0]
    tf = {lex: n for n, lex in enumerate(sorted(lexemes), 2)}
    factors = [float(2 ** i) for i in range(len(lexemes))]  # each term's share of the score is told apart
    [(score, matched)] = search_pg.exact_scores([(1, 1, "en", 3, 0, 0, text)], lexemes, factors, [0] * len(lexemes),
                                                [1 << i for i in range(len(lexemes))], [0.0, 0.0, 0.0])
    k1b = search_pg.K1 * (1 - search_pg.B)
    assert matched == (1 << len(lexemes)) - 1
    assert score == pytest.approx(sum(f * tf[lex] / (tf[lex] + k1b) for f, lex in zip(factors, lexemes)))


def test_frequent_terms_only_rescore_the_candidates_of_rarer_ones(ws, monkeypatch):
    """With more postings than the candidate budget, the documents are found through the rarer,
    more valuable terms (and the intersections of the frequent ones); the frequent ones still
    add to their scores."""
    for i in range(12):
        article(ws, f"common-{i}", {"zh-hans": (f"订单说明{i}", "订单。" * (i + 1))})
    article(ws, "both", {"zh-hans": ("发票和订单", "开发票。订单。")})
    article(ws, "rare", {"zh-hans": ("发票", "开发票。")})
    exact = search.search(ws.pk, "订单 发票", limit=20)
    monkeypatch.setattr(search_pg, "CANDIDATE_BUDGET", 3)
    monkeypatch.setattr(search_pg, "AND_PAIRS", 0)
    budgeted = search.search(ws.pk, "订单 发票", limit=20)
    assert slugs(budgeted)[:2] == slugs(exact)[:2] == ["both", "rare"]
    assert budgeted[0].score == exact[0].score  # 「订单」 still counted for the candidates
    assert len(budgeted) < len(exact)  # documents with only 「订单」 were not candidates
    # The intersections of the most valuable left-out lexemes add candidates, scored exactly.
    monkeypatch.setattr(search_pg, "CANDIDATE_BUDGET", 2)
    monkeypatch.setattr(search_pg, "AND_PAIRS", 3)
    assert search_pg.PostgresSearchBackend.candidate_units([(9.0, 2, "t发票"), (8.0, 13, "t订单"), (7.0, 2, "b发票"),
                                                            (6.0, 13, "b订单"), (1.0, 1, "b_x")]) == [
        ("t发票",), ("t订单", "b发票"), ("t订单", "b订单"), ("b发票", "b订单")]
    monkeypatch.setattr(search_pg, "CANDIDATE_BUDGET", 10)  # every 「发票」 lexeme (df 2 each), no 「订单」 one (df 13)
    paired = search.search(ws.pk, "订单 发票", limit=20)
    scores = {h.slug: h.score for h in exact}
    assert [h.slug for h in paired] == [h.slug for h in exact] and all(scores[h.slug] == h.score for h in paired)
    # An intersection is as large as its smaller list at most: pairs are taken while those bounds fit.
    monkeypatch.setattr(search_pg, "CANDIDATE_BUDGET", 2)
    monkeypatch.setattr(search_pg, "PAIR_BUDGET", 4)
    assert search_pg.PostgresSearchBackend.candidate_units([(9.0, 2, "t发票"), (8.0, 13, "t订单"), (7.0, 2, "b发票"),
                                                            (6.0, 13, "b订单"), (1.0, 1, "b_x")]) == [
        ("t发票",), ("t订单", "b发票"), ("b发票", "b订单")]


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_of_one_article_leave_one_current_row_per_version(settings):
    """Threads (each its own connection) edit, publish, unpublish and re-index the same two
    articles at once: afterwards there is one row per published version, with the latest text,
    and the statistics equal a recount."""
    _on_postgres(settings)
    ws = make_workspace()
    ids = [article(ws, f"a{i}", {"zh-hans": ("退货说明", "退货。"), "en": ("Returns", "Return it.")}).pk for i in range(2)]

    def work(n):
        for step in range(12):
            article_id = ids[(n + step) % 2]
            if step % 4 == 3:
                Article.objects.filter(pk=article_id).update(status=Article.Status.DRAFT if (n + step) % 3 else Article.Status.PUBLISHED)
            else:
                ArticleVersion.objects.filter(article_id=article_id, locale="zh-hans").update(title=f"换货说明 {n} {step}")
            search.index_article(article_id)

    run_threads(4, work)
    for article_id in ids:  # the last hook after the last change, as on_commit guarantees
        search.index_article(article_id)
    published = set(ArticleVersion.objects.filter(article__status=Article.Status.PUBLISHED).values_list("pk", flat=True))
    rows = list(SearchDocument.objects.values_list("version_id", flat=True))
    assert sorted(rows) == sorted(published)
    assert kept_statistics() == recomputed_statistics()
    assert_keys_mirror_documents()
    for version in ArticleVersion.objects.filter(pk__in=published, locale="zh-hans"):
        assert version.article_id in {h.article_id for h in search.search(ws.pk, version.title, limit=5)}


