"""Search quality (issue 7): the shop help-center fixture and its 100+ customer questions in
zh-Hans, zh-Hant and English reach ≥ 90% top-3 hit rate, through the management command."""

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from knowledge import quality, search
from knowledge.models import Article

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def whoosh_dir(search_index):
    return search_index


def test_fixture_shape():
    articles = quality.load_json(quality.ARTICLES)["articles"]
    questions = quality.load_json(quality.QUESTIONS)
    assert len(articles) >= 30
    assert sum({"zh-hans", "en"} <= set(a["versions"]) for a in articles) >= 30
    assert any("zh-hant" in a["versions"] for a in articles)
    assert all(a["versions"].get("zh-hans", a["versions"].get("zh-hant", {})).get("similar_questions") for a in articles)
    assert len(questions) >= 60
    assert {q["lang"] for q in questions} == {"zh-hans", "zh-hant", "en"}
    slugs = {a["slug"] for a in articles}
    assert all(q["expect"] in slugs for q in questions)


def test_top3_hit_rate_at_least_90_percent():
    out = StringIO()
    call_command("kb_search_quality", "--verbose", stdout=out)
    text = out.getvalue()
    print(text)
    overall = float(re.search(r"(\d+\.\d)%", text).group(1))  # the first rate printed is the top-3 rate
    assert overall >= 90.0
    for lang in ("zh-hans", "zh-hant", "en"):
        assert float(re.search(rf"{lang}: (\d+\.\d)%", text).group(1)) >= 80.0, text
    # The throwaway workspace and its documents are gone.
    assert not Article.objects.exists()
    assert search.backend().documents() == []


def test_command_fails_below_the_threshold():
    with pytest.raises(CommandError):
        call_command("kb_search_quality", "--min-rate", "1.01", stdout=StringIO())
