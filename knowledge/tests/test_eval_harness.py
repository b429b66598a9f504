"""The honest-evaluation harness of issue 17 itself (knowledge/quality/eval_harness.py,
baseline_bm25.py, the question files): the split, the sizes, the references, the metrics.
No quality thresholds here: the figures are reported by `make eval-search`, not asserted."""

import json
from collections import Counter

import pytest

from knowledge.quality import baseline_bm25 as bm25
from knowledge.quality import eval_harness as ev

TARGET = {"zh-Hans": 60, "zh-Hant": 35, "en": 35, "mixed": 35}  # per half; the whole set has twice that


@pytest.fixture(scope="module")
def halves():
    return ev.load_questions(ev.DEV), ev.load_questions(ev.TEST)


def test_split_is_disjoint_and_stratified(halves):
    dev, test = halves
    assert not {q["id"] for q in dev} & {q["id"] for q in test}
    assert not {q["q"] for q in dev} & {q["q"] for q in test}
    counts = Counter(q["script"] for q in dev), Counter(q["script"] for q in test)
    for script in (*ev.SCRIPTS, ev.NONE):
        assert abs(counts[0][script] - counts[1][script]) <= 1, script


def test_sizes(halves):
    everything = halves[0] + halves[1]
    answerable = [q for q in everything if q["expect"]]
    assert len(answerable) >= 330
    per_script = Counter(q["script"] for q in answerable)
    for script, n in TARGET.items():
        assert per_script[script] >= 2 * n, (script, per_script[script])
    assert {q["script"] for q in everything} == {*ev.SCRIPTS, ev.NONE}
    assert sum(q["kind"] == "pinyin" for q in everything) >= 15
    assert sum(q["kind"] == "typo" for q in everything) >= 5


def test_no_answer_set(halves):
    for half in halves:
        none = [q for q in half if q["script"] == ev.NONE]
        assert none and all(q["expect"] == [] for q in none)
    assert sum(q["script"] == ev.NONE for half in halves for q in half) >= 30
    assert all(q["expect"] for half in halves for q in half if q["script"] != ev.NONE)


def test_every_expected_article_exists_and_the_set_is_large_enough(halves):
    articles = ev.article_set()["articles"]
    slugs = [a["slug"] for a in articles]
    assert len(slugs) == len(set(slugs)) >= 60
    assert all(a["versions"]["zh-hans"]["title"] and a["versions"]["zh-hans"]["body"] for a in articles if "zh-hans" in a["versions"])
    for half in halves:
        for q in half:
            assert set(q["expect"]) <= set(slugs), q


def test_the_test_half_is_marked_frozen():
    first = ev.TEST.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# FROZEN: never tune on this file")
    assert len(ev.sha256(ev.TEST)) == 64


def test_search_metrics_on_a_hand_made_example():
    q = [
        {"q": "a", "script": "zh-Hans", "expect": ["x"]},       # rank 1
        {"q": "b", "script": "zh-Hans", "expect": ["y", "z"]},  # rank 2 (z)
        {"q": "c", "script": "en", "expect": ["x"]},            # rank 4: not in the top 3
        {"q": "d", "script": "en", "expect": ["x"]},            # not found
        {"q": "e", "script": "none", "expect": []},             # got a result
        {"q": "f", "script": "none", "expect": []},             # got nothing
    ]
    ranked = [["x", "y"], ["w", "z", "y"], ["a", "b", "c", "x"], ["a"], ["x"], []]
    m = ev.search_metrics(list(zip(q, ranked)))
    assert m["all"] == {"n": 4, "top1": 0.25, "top3": 0.5, "mrr": pytest.approx((1 + 1 / 2 + 1 / 4) / 4)}
    assert m["zh-Hans"] == {"n": 2, "top1": 0.5, "top3": 1.0, "mrr": 0.75}
    assert m["en"]["top3"] == 0.0 and m["en"]["mrr"] == pytest.approx(1 / 8)
    assert "mixed" not in m
    assert m["none_with_results"] == 0.5


def test_bot_metrics_on_a_hand_made_example():
    q = [
        {"script": "zh-Hans", "expect": ["x"]},  # answered right
        {"script": "zh-Hans", "expect": ["x"]},  # answered wrong
        {"script": "en", "expect": ["y"]},       # not answered
        {"script": "en", "expect": ["y", "x"]},  # answered right (second acceptable article)
        {"script": "none", "expect": []},        # answered: a false answer
        {"script": "none", "expect": []},        # not answered
    ]
    m = ev.bot_metrics(list(zip(q, ["x", "z", None, "x", "x", None])))
    assert (m["answerable"], m["answered"], m["correct"]) == (4, 3, 2)
    assert m["coverage"] == 0.5
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["false_answer_rate"] == 0.5
    assert m["overall_precision"] == 0.5
    assert m["coverage_zh-Hans"] == 0.5 and m["coverage_en"] == 0.5


def test_bm25_baseline_on_a_tiny_corpus():
    docs = [("refund", "退款多久到账 退款 原路退回"), ("invoice", "如何开发票 电子发票"), ("ship", "发货时间 48 小时内发货")]
    for tokenize in (bm25.jieba_tokens, bm25.bigram_tokens):
        engine = bm25.BM25(docs, tokenize)
        assert engine.search("退款要多久", 3)[0] == "refund"
        assert engine.search("發票怎麼開", 3)[0] == "invoice"  # traditional folded to simplified
        assert engine.search("zzz", 3) == []
    assert bm25.bigram_tokens("退款 refund!") == ["退款", "refund"]
    assert bm25.bigram_tokens("開發票") == ["开发", "发票"]


def test_rank_uses_the_first_acceptable_article():
    assert ev.rank(["b", "c"], ["a", "c", "b"]) == 2
    assert ev.rank(["z"], ["a"]) is None
    assert json.loads(json.dumps(ev.article_set()))["categories"]
