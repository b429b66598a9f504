"""Knowledge search (issue 7): analyzer across scripts and languages, OR semantics and
ranking, workspace isolation, publication state, removal, highlighting, input limits."""

import pytest

from conftest import make_workspace
from knowledge import search
from knowledge.models import Article, ArticleVersion, Category
from helpdesk import analysis
from helpdesk.analysis import QueryTerm

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def whoosh_dir(search_index, tmp_path):
    return tmp_path / "whoosh"


@pytest.fixture
def ws():
    return make_workspace()


def article(workspace, slug, versions, *, status=Article.Status.PUBLISHED, category=None, index=True):
    """versions: {locale: (title, body[, similar questions])}"""
    a = Article.objects.create(workspace=workspace, slug=slug, status=status, category=category)
    for locale, fields in versions.items():
        title, body, *rest = fields
        ArticleVersion.objects.create(article=a, locale=locale, title=title, body=body, similar_questions=rest[0] if rest else [])
    if index:
        search.index_article(a.pk)
    return a


def slugs(hits):
    return [h.slug for h in hits]


def analyze(text):
    """The word terms of text (grams aside), in order, without duplicates."""
    return list(dict.fromkeys(word for word, _start, _end in analysis.words(text)))


def test_analyzer_folds_scripts_stems_and_drops_stop_words():
    assert analyze("退貨") == analyze("退货") == ["退货"]
    assert analyze("發票怎麼開") == analyze("发票怎么开")
    assert analyze("Refunds") == analyze("refund") == ["refund"]
    assert analyze("我的快递到哪了") == ["快递"]
    assert analyze("where is my parcel?") == ["parcel"]
    assert analyze("ＡＢＣ１２３") == ["abc123"]  # full-width folded


def test_cross_script_both_ways(ws):
    article(ws, "returns", {"zh-hans": ("如何退货", "收到商品后 7 天内可以申请退货。")})
    article(ws, "invoice", {"zh-hant": ("如何開發票", "在訂單詳情頁點擊「申請發票」，電子發票會寄到您的信箱。")})
    assert slugs(search.search(ws.pk, "退貨")) == ["returns"]
    assert slugs(search.search(ws.pk, "退货", locale="zh-hant")) == ["returns"]
    assert slugs(search.search(ws.pk, "发票")) == ["invoice"]
    assert slugs(search.search(ws.pk, "电子发票怎么开")) == ["invoice"]


def test_english_stemming(ws):
    article(ws, "refund", {"en": ("Refund policy", "We refund the full amount within seven days.")})
    article(ws, "shipping", {"en": ("Shipping times", "Parcels are shipped within 48 hours.")})
    assert slugs(search.search(ws.pk, "refunds")) == ["refund"]
    assert slugs(search.search(ws.pk, "refunded orders")) == ["refund"]
    assert slugs(search.search(ws.pk, "parcel shipping")) == ["shipping"]


def test_or_semantics_and_more_terms_rank_higher(ws):
    article(ws, "returns", {"zh-hans": ("退货说明", "申请退货的步骤。")})
    article(ws, "coupons", {"zh-hans": ("优惠券使用", "优惠券在结算页使用。")})
    article(ws, "both", {"zh-hans": ("售后常见问题", "退货时优惠券会退回吗？退货后优惠券退回账户。")})
    article(ws, "unrelated", {"zh-hans": ("会员等级", "积分可以升级会员。")})
    hits = search.search(ws.pk, "退货 优惠券")
    assert set(slugs(hits)) == {"returns", "coupons", "both"}  # any term is enough (OR)
    hits = search.search(ws.pk, "退货以后优惠券还能用吗 积分")
    assert set(slugs(hits)) == {"returns", "coupons", "both", "unrelated"}


def test_title_and_similar_questions_rank_above_body_only(ws):
    article(ws, "body-only", {"zh-hans": ("订单常见问题", "下单后如需购买运费险，请在结算页勾选运费险选项。运费险由保险公司承保。")})
    article(ws, "title", {"zh-hans": ("运费险说明", "退货时可获得运费补偿。")})
    assert slugs(search.search(ws.pk, "运费险"))[0] == "title"

    article(ws, "tracking-body", {"zh-hans": ("配送说明", "快递一般 3 天送达，快递公司会短信通知，快递员送货上门。")})
    article(ws, "tracking-similar", {"zh-hans": ("查看物流", "在订单详情查看物流进度。", ["快递到哪了", "包裹什么时候到"])})
    assert slugs(search.search(ws.pk, "我的快递到哪了"))[0] == "tracking-similar"

    article(ws, "en-body", {"en": ("Orders", "Some customers ask about gift wrapping when they order; gift wrapping is free.")})
    article(ws, "en-title", {"en": ("Gift wrapping", "Choose it at checkout.")})
    assert slugs(search.search(ws.pk, "gift wrapping"))[0] == "en-title"


def test_workspace_isolation(ws):
    other = make_workspace()
    article(ws, "mine", {"zh-hans": ("如何退货", "退货流程。")})
    article(other, "theirs", {"zh-hans": ("退货政策", "退货退货退货。", ["怎么退货"])})
    assert slugs(search.search(ws.pk, "怎么退货")) == ["mine"]
    assert slugs(search.search(other.pk, "怎么退货")) == ["theirs"]
    search.rebuild(workspace_id=other.pk)
    assert slugs(search.search(ws.pk, "退货")) == ["mine"]


def test_unpublished_not_returned_and_unpublishing_removes(ws):
    article(ws, "draft", {"zh-hans": ("退货草稿", "退货。")}, status=Article.Status.DRAFT)
    live = article(ws, "live", {"zh-hans": ("退货说明", "退货。")})
    assert slugs(search.search(ws.pk, "退货")) == ["live"]
    Article.objects.filter(pk=live.pk).update(status=Article.Status.DRAFT)
    search.index_article(live.pk)
    assert search.search(ws.pk, "退货") == []
    assert search.backend().documents([("article_id", live.pk)]) == []


def test_unpublished_but_still_indexed_is_never_returned(ws):
    stale = article(ws, "stale", {"zh-hans": ("退货说明", "退货。")})
    Article.objects.filter(pk=stale.pk).update(status=Article.Status.DRAFT)  # hook not run yet
    assert search.search(ws.pk, "退货") == []


def test_remove_article(ws):
    a = article(ws, "returns", {"zh-hans": ("退货说明", "退货。"), "en": ("Returns", "How to return an item.")})
    assert len(search.backend().documents([("article_id", a.pk)])) == 2
    Article.objects.filter(pk=a.pk).delete()
    search.remove_article(a.pk)
    assert search.backend().documents([("article_id", a.pk)]) == []
    assert search.search(ws.pk, "退货") == search.search(ws.pk, "return") == []


def test_one_hit_per_article_preferring_the_visitors_locale(ws):
    cat = Category.objects.create(workspace=ws, slug="after-sales", name_zh_hans="售后")
    article(ws, "returns", {
        "zh-hans": ("如何退货", "退货流程说明。"),
        "zh-hant": ("如何退貨", "退貨流程說明。"),
        "en": ("How to return an item", "Return within 7 days."),
    }, category=cat)
    [hit] = search.search(ws.pk, "退货", locale="zh-hant")
    assert (hit.locale, hit.title, hit.slug, hit.category_id) == ("zh-hant", "如何退貨", "returns", cat.pk)
    [hit] = search.search(ws.pk, "退货", locale="zh-hans")
    assert hit.locale == "zh-hans"
    [hit] = search.search(ws.pk, "退貨")  # no locale: traditional characters prefer zh-Hant
    assert hit.locale == "zh-hant"
    [hit] = search.search(ws.pk, "退货", locale="en")  # the glossary's "return" matches the English text
    assert hit.locale == "en"
    [hit] = search.search(ws.pk, "return", locale="zh-hans")  # cross-language through the glossary
    assert hit.locale == "zh-hans"
    [hit] = search.search(ws.pk, "item", locale="zh-hans")  # only the English text has it
    assert hit.locale == "en"
    assert search.search(ws.pk, "item", locale="zh-hans", strict_locale=True) == []
    assert isinstance(hit, search.Hit) and isinstance(hit.score, float) and hit.article_id > 0


def test_highlight_marks_chinese_and_escapes_html(ws):
    article(ws, "returns", {"zh-hans": ("退货说明", "开头的一些文字。" * 10 + "收到商品后可以申请退貨，退货运费由卖家承担。<script>alert(1)</script> & 更多" + "结尾。" * 30)})
    [hit] = search.search(ws.pk, "怎么退货")
    assert "<mark>退貨</mark>" in hit.snippet and "<mark>退货</mark>" in hit.snippet
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; 更多" in hit.snippet
    assert "<script>" not in hit.snippet
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…")
    assert 100 <= len(hit.snippet.replace("<mark>", "").replace("</mark>", "")) <= 160
    assert hit.snippet.__html__() == hit.snippet  # safe HTML for templates

    article(ws, "xss-title", {"en": ("<b>Refunds</b> & more", "")})
    [hit] = search.search(ws.pk, "refunds")
    assert hit.title == "<b>Refunds</b> & more"  # plain text: templates escape it
    assert hit.snippet == "&lt;b&gt;<mark>Refunds</mark>&lt;/b&gt; &amp; more"


def test_english_snippet_marks_stemmed_matches(ws):
    article(ws, "refund", {"en": ("Refund policy", "Read this. " * 20 + "Refunds go back to the original payment method. We refunded 99% of orders.")})
    [hit] = search.search(ws.pk, "refund")
    assert "<mark>Refunds</mark>" in hit.snippet and "<mark>refunded</mark>" in hit.snippet


def test_empty_and_oversized_queries(ws):
    article(ws, "returns", {"zh-hans": ("退货说明", "退货。")})
    assert search.search(ws.pk, "") == []
    assert search.search(ws.pk, "   \n\t ") == []
    assert search.search(ws.pk, None) == []
    assert search.search(ws.pk, "的 了 吗 the a") == []  # stop words only
    assert search.search(ws.pk, "退货", limit=0) == []
    assert slugs(search.search(ws.pk, "退货" + "啊" * 5000)) == ["returns"]  # capped at 200 chars, still works
    assert search.search(ws.pk, "啊" * 200 + "退货") == []  # the term is past the cap


def test_the_synonyms_version_is_read_with_the_hits_and_an_edit_applies_at_once(ws):
    """A search uses this process's copy of the workspace's synonyms and reads their version with its
    hits, not in a round trip of its own; another process's edit (the rows and the version changed,
    this process's copy not) is applied to that very search, which runs again with the new groups."""
    from django.db import connection

    from knowledge import synonyms
    from knowledge.models import SynonymGroup, SynonymVersion

    article(ws, "invoice", {"zh-hans": ("如何开发票", "在订单详情申请电子发票。")})
    assert slugs(search.search(ws.pk, "发票")) == ["invoice"]  # this process reads (and keeps) the synonyms
    sent = []
    with connection.execute_wrapper(lambda execute, sql, *args: sent.append(sql) or execute(sql, *args)):
        assert slugs(search.search(ws.pk, "发票")) == ["invoice"]
    assert [sql for sql in sent if "knowledge_synonymversion" in sql] == [sent[-1]]  # only in the hits' query
    assert "knowledge_articleversion" in sent[-1]
    SynonymGroup.objects.create(workspace=ws, phrases="发票\n报销凭证")  # as another process's save does
    SynonymVersion.bump(ws.pk)
    assert slugs(search.search(ws.pk, "报销凭证")) == ["invoice"]  # nothing found with the old ones: version read alone
    assert synonyms.cached(ws.pk)[1] == [["发票", "报销凭证"]]
    SynonymGroup.objects.filter(workspace=ws).delete()
    SynonymVersion.bump(ws.pk)
    assert search.search(ws.pk, "报销凭证") == []  # found with the old ones: the version read with the hits
    assert synonyms.cached(ws.pk)[1] == []


def test_rebuild_everything(ws):
    a = article(ws, "returns", {"zh-hans": ("退货说明", "退货。")}, index=False)
    article(ws, "draft", {"zh-hans": ("退货草稿", "退货。")}, status=Article.Status.DRAFT, index=False)
    assert search.search(ws.pk, "退货") == []
    assert search.rebuild() == 1
    assert slugs(search.search(ws.pk, "退货")) == ["returns"]
    ArticleVersion.objects.filter(article=a).update(title="换货说明", body="换货。")
    assert search.rebuild(workspace_id=ws.pk) == 1
    assert search.search(ws.pk, "退货") == [] and slugs(search.search(ws.pk, "换货")) == ["returns"]


def test_kb_reindex_command(ws):
    from io import StringIO

    from django.core.management import call_command

    article(ws, "returns", {"zh-hans": ("退货说明", "退货。")}, index=False)
    out = StringIO()
    call_command("kb_reindex", stdout=out)
    assert "1" in out.getvalue()
    assert slugs(search.search(ws.pk, "退货")) == ["returns"]


def test_vector_scores_equal_whooshs_own_bm25f(ws, monkeypatch):
    """The array scorer reads whoosh internals: its scores must stay those of whoosh's own
    query evaluation (same BM25F, boosts and idf), here without the coordination factor, and
    after a write that adds a segment (decoded lists are kept per segment)."""
    from whoosh.query import Or, Term

    from knowledge import search_scoring

    for i in range(12):
        article(ws, f"a{i}", {"zh-hans": (f"退货说明{i}" if i % 3 else "发票", "退货运费。" * (i + 1) + "优惠券" * (i % 4), ["怎么退货"] if i % 2 else [])})
    engine = search.backend()
    ArticleVersion.objects.filter(article__slug="a5").delete()
    search.index_article(Article.objects.get(slug="a5").pk)  # a deletion inside the segment
    monkeypatch.setattr(search_scoring, "COORDINATION", 0.0)
    fields = engine.field_boosts()
    for round_ in (1, 2):
        searcher = engine.searcher()
        for terms in (["退货"], ["退货", "优惠券"], ["发票", "运费", "怎么"]):
            weighted = [QueryTerm(term, 1.0, group) for group, term in enumerate(terms)]
            mine = dict(search_scoring.VectorScorer(searcher).top(weighted, fields, None, 50))
            query = Or([Or([Term(name, term, boost=boost) for name, boost in fields]) for term in terms])
            theirs = {hit.docnum: hit.score for hit in searcher.search(query, limit=50)}
            assert theirs and mine.keys() >= theirs.keys()  # (mine may include deleted documents: `allowed` drops them)
            assert all(abs(mine[doc] - score) < 1e-4 * max(1.0, score) for doc, score in theirs.items())
        article(ws, f"later{round_}", {"zh-hans": ("退货运费说明", "退货运费优惠券。")})  # a new segment beside the cached ones


def test_warm_decodes_the_frequent_lists_and_changes_no_result(ws):
    """search.warm() at server start decodes posting lists ahead of the questions (Whoosh)."""
    from knowledge import search_scoring

    for i in range(6):
        article(ws, f"w{i}", {"zh-hans": (f"退货运费说明{i}", "退货运费" * (i + 1), ["怎么退货"])})
    before = [(h.slug, h.score) for h in search.search(ws.pk, "退货运费怎么算")]
    search_scoring.POSTINGS.lists.clear()
    search_scoring.POSTINGS.size = 0
    decoded = search.backend().warm()
    assert decoded > 0 and search_scoring.POSTINGS.size == decoded
    assert [(h.slug, h.score) for h in search.search(ws.pk, "退货运费怎么算")] == before
