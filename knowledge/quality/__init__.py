"""Search quality check: a realistic shop help center (articles.json: 40+ articles in
zh-Hans and English, some in zh-Hant, similar questions) and questions customers ask
(questions.json: question → expected article slug, in zh-Hans, zh-Hant and English,
colloquial, paraphrased, cross-script). `manage.py kb_search_quality` loads the articles
into a throwaway workspace, indexes them and reports the top-3 hit rate."""

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.utils import timezone

from accounts.models import Workspace
from knowledge import search
from knowledge.models import Article, ArticleVersion, Category

HERE = Path(__file__).resolve().parent
ARTICLES = HERE / "articles.json"
QUESTIONS = HERE / "questions.json"
TOP = 3


def load_json(path):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def create_workspace():
    token = uuid.uuid4().hex[:10]
    return Workspace.objects.create(name=f"Search quality {token}", slug=f"kb-quality-{token}")


def load_articles(workspace, path=ARTICLES):
    """Create the fixture's categories and published articles in the workspace (not indexed)."""
    data = load_json(path)
    categories = {}
    for position, c in enumerate(data["categories"]):
        categories[c["slug"]] = Category.objects.create(
            workspace=workspace, slug=c["slug"], position=position,
            name_zh_hans=c.get("zh-hans", ""), name_zh_hant=c.get("zh-hant", ""), name_en=c.get("en", ""),
        )
    now = timezone.now()
    for a in data["articles"]:
        article = Article.objects.create(workspace=workspace, slug=a["slug"], category=categories.get(a.get("category")),
                                         status=Article.Status.PUBLISHED, published_at=now)
        ArticleVersion.objects.bulk_create([
            ArticleVersion(article=article, locale=locale, title=v["title"], body=v.get("body", ""),
                           similar_questions=v.get("similar_questions", []))
            for locale, v in a["versions"].items()
        ])
    return len(data["articles"])


@dataclass
class Report:
    total: int = 0
    hits: int = 0
    first: int = 0  # expected article ranked first
    by_lang: dict = field(default_factory=dict)  # lang → [hits, total]
    misses: list = field(default_factory=list)  # (question, expected, [top slugs])

    @property
    def rate(self):
        return self.hits / self.total if self.total else 0.0

    def lang_rate(self, lang):
        hits, total = self.by_lang[lang]
        return hits / total if total else 0.0


def evaluate(workspace_id, questions, top=TOP):
    """Run every question through knowledge.search.search with its language as the
    visitor's locale; a hit when the expected article is among the first `top` results."""
    report = Report()
    for item in questions:
        slugs = [h.slug for h in search.search(workspace_id, item["q"], locale=item["lang"], limit=top)]
        ok = item["expect"] in slugs[:top]
        report.total += 1
        report.hits += ok
        report.first += bool(slugs) and slugs[0] == item["expect"]
        counts = report.by_lang.setdefault(item["lang"], [0, 0])
        counts[0] += ok
        counts[1] += 1
        if not ok:
            report.misses.append((item, slugs))
    return report
