"""Haystack index of the knowledge base: one document per published ArticleVersion.

Fields: text (haystack's document field: title + similar questions + body), title and
similar (相似问, boosted 4: a customer's question that matches one ranks like a title),
body, and the exact keywords workspace_id, article_id, locale, category_id. The Whoosh
backend (knowledge.search_backend) analyses the text fields with the Chinese/English
analyzer and applies the boosts at query time. Indexing is explicit (knowledge.search
hooks after commit, `manage.py kb_reindex`): HAYSTACK_SIGNAL_PROCESSOR stays the base one.
"""

import re

from haystack import indexes

from .models import Article, ArticleVersion

_MARKDOWN = [
    (re.compile(r"^\s*(```|~~~).*$", re.M), ""),  # code fences
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images → alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links → their text
    (re.compile(r"^\s{0,3}(#{1,6}|>+|[-*+]|\d+[.)])\s+", re.M), ""),  # headings, quotes, list markers
    (re.compile(r"^\s*([-*_]\s*){3,}$", re.M), ""),  # rules
    (re.compile(r"\*\*|__|~~|`|(?<!\w)\*(?=\S)|(?<=\S)\*(?!\w)"), ""),  # emphasis, inline code
    (re.compile(r"\|"), " "),  # table cells
    (re.compile(r"\s+"), " "),
]


def plain_text(markdown):
    """What a reader sees of a Markdown body, as one line of text (indexed and used for
    snippets; raw HTML in it stays text, escaped when shown)."""
    text = markdown or ""
    for pattern, replacement in _MARKDOWN:
        text = pattern.sub(replacement, text)
    return text.strip()


class KeywordField(indexes.CharField):
    """An exact, untokenised value (a Whoosh ID field): ids and the locale."""

    field_type = "keyword"


class ArticleVersionIndex(indexes.SearchIndex, indexes.Indexable):
    text = indexes.CharField(document=True)
    title = indexes.CharField(model_attr="title", boost=4.0, stored=False)
    similar = indexes.CharField(boost=4.0, stored=False)
    body = indexes.CharField(stored=False)
    workspace_id = KeywordField(stored=False)
    article_id = KeywordField()
    locale = KeywordField(model_attr="locale")
    category_id = KeywordField(null=True, stored=False)

    def get_model(self):
        return ArticleVersion

    def index_queryset(self, using=None):
        return (ArticleVersion.objects.filter(article__status=Article.Status.PUBLISHED)
                .select_related("article").order_by("pk"))

    def prepare_text(self, obj):
        return "\n".join([obj.title, self.prepare_similar(obj), self.prepare_body(obj)])

    def prepare_similar(self, obj):
        return "\n".join(q for q in (obj.similar_questions or []) if isinstance(q, str))

    def prepare_body(self, obj):
        return plain_text(obj.body)

    def prepare_workspace_id(self, obj):
        return str(obj.article.workspace_id)

    def prepare_article_id(self, obj):
        return str(obj.article_id)

    def prepare_category_id(self, obj):
        return "" if obj.article.category_id is None else str(obj.article.category_id)
