"""When the bot answers (knowledge.bot.is_sure / coverage): a title or similar question of the
best article covers the question, the best article stands out from the next, and no word of
the question is unknown to the knowledge base. Chosen on the development half of the
evaluation set (docs/benchmarks.md, issue 17)."""

import pytest

from knowledge import bot, search
from knowledge.models import ArticleVersion
from knowledge.quality import create_workspace
from knowledge.tests.test_search import article

pytestmark = pytest.mark.django_db


def test_coverage_counts_words_equivalents_and_whole_parts():
    assert bot.coverage("怎么退货", ["如何退货"]) == 1.0
    assert bot.coverage("有保固嗎", ["保修政策"]) == 1.0  # the glossary's regional word
    assert bot.coverage("how do i get a refund", ["退款多久到账"]) == 1.0  # cross-language
    assert bot.coverage("退货运费", ["退货说明", "运费标准"]) == 0.5  # the best single candidate
    assert bot.coverage("手机信号不好", ["换手机号"]) == 0.0  # 手机 alone is not 手机信号
    assert bot.coverage("", ["如何退货"]) == bot.coverage("退货", []) == 0.0


@pytest.fixture
def kb(search_index):
    ws = create_workspace()
    article(ws, "returns", {"zh-hans": ("如何退货", "收到商品 7 天内可以申请退货。", ["怎么退货", "我要退货"])})
    article(ws, "shipping", {"zh-hans": ("发货时间", "付款后 48 小时内发货。", ["什么时候发货"])})
    article(ws, "exchange", {"zh-hans": ("如何换货", "尺码不合适可以换货。", ["怎么换货"])})
    return ws


def sure(ws, question):
    hits, unknown = search.explained_search(ws.pk, question, limit=3)
    versions = list(ArticleVersion.objects.filter(article_id=hits[0].article_id)) if hits else []
    return bot.is_sure(question, hits, versions, unknown)


def test_answers_a_covered_question_that_stands_out(kb):
    assert sure(kb, "我想退货怎么弄")
    assert sure(kb, "什么时候发货呀")


def test_does_not_answer_a_question_with_a_word_no_article_knows(kb):
    hits, unknown = search.explained_search(kb.pk, "淘宝买的怎么退货", limit=3)
    assert hits[0].slug == "returns" and "淘宝" in unknown
    assert not sure(kb, "淘宝买的怎么退货")
    assert not sure(kb, "amazon return")


def test_a_single_unknown_character_does_not_veto(kb):
    hits, unknown = search.explained_search(kb.pk, "退货咋弄", limit=3)
    assert unknown == ["弄"] and sure(kb, "退货咋弄")


def test_does_not_answer_when_two_articles_are_as_good(kb):
    hits, _ = search.explained_search(kb.pk, "退货还是换货", limit=3)
    assert {h.slug for h in hits[:2]} == {"returns", "exchange"}
    assert not sure(kb, "退货还是换货")


def test_nothing_to_answer_with(kb):
    assert search.explained_search(kb.pk, "今天天气", limit=3) == ([], ["今天天气"]) or not sure(kb, "今天天气")
    assert not sure(kb, "在吗")
