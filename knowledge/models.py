"""The knowledge base: categories (one level of nesting), articles with one version per
locale (zh-Hans, zh-Hant, en), similar questions (相似问), revisions, views and votes,
and the search log that feeds the deflection metrics."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

LOCALES = [("zh-hans", "简体中文"), ("zh-hant", "繁體中文"), ("en", "English")]


class Category(models.Model):
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="kb_categories")
    parent = models.ForeignKey("self", on_delete=models.CASCADE, null=True, blank=True, related_name="children",
                               verbose_name=_("parent category"))
    slug = models.SlugField(_("slug"), max_length=80)
    position = models.PositiveIntegerField(_("position"), default=0)
    name_zh_hans = models.CharField(_("name (Simplified Chinese)"), max_length=120, blank=True)
    name_zh_hant = models.CharField(_("name (Traditional Chinese)"), max_length=120, blank=True)
    name_en = models.CharField(_("name (English)"), max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["position", "pk"]
        constraints = [models.UniqueConstraint(fields=["workspace", "slug"], name="uniq_kb_category_slug")]

    def __str__(self):
        return self.name_for("zh-hans")

    def name_for(self, locale):
        names = {"zh-hans": self.name_zh_hans, "zh-hant": self.name_zh_hant, "en": self.name_en}
        return names.get(locale) or self.name_zh_hans or self.name_en or self.name_zh_hant or self.slug


class Article(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="kb_articles")
    category = models.ForeignKey(Category, on_delete=models.SET_NULL, null=True, blank=True, related_name="articles",
                                 verbose_name=_("category"))
    slug = models.SlugField(_("slug"), max_length=120)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    tags = models.CharField(_("tags"), max_length=200, blank=True, help_text=_("Comma-separated."))
    # Counters: F() updates only (concurrent readers and voters never lose one).
    view_count = models.PositiveIntegerField(_("views"), default=0)
    helpful_count = models.PositiveIntegerField(_("helpful votes"), default=0)
    not_helpful_count = models.PositiveIntegerField(_("not helpful votes"), default=0)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("article")
        verbose_name_plural = _("articles")
        constraints = [models.UniqueConstraint(fields=["workspace", "slug"], name="uniq_kb_article_slug")]
        indexes = [models.Index(fields=["workspace", "status", "-view_count"], name="kb_article_popular")]

    def __str__(self):
        return self.slug


class ArticleVersion(models.Model):
    """The article in one locale. body is Markdown as written; body_html is the sanitised
    rendering (nh3) shown on pages, never the author's raw HTML."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="versions")
    locale = models.CharField(_("language"), max_length=10, choices=LOCALES)
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("text (Markdown)"), blank=True)
    body_html = models.TextField(editable=False, blank=True)
    # 相似问: other ways customers ask this; searched like titles.
    similar_questions = models.JSONField(_("similar questions"), default=list, blank=True)
    meta_description = models.CharField(_("meta description"), max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("article version")
        verbose_name_plural = _("article versions")
        constraints = [models.UniqueConstraint(fields=["article", "locale"], name="uniq_kb_article_locale")]

    def __str__(self):
        return f"{self.title} ({self.locale})"


class ArticleRevision(models.Model):
    """Every saved version of a locale's text: who changed what, and when."""

    version = models.ForeignKey(ArticleVersion, on_delete=models.CASCADE, related_name="revisions")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    similar_questions = models.JSONField(default=list, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("revision")
        verbose_name_plural = _("revisions")
        ordering = ["-created_at", "-pk"]


class ArticleVote(models.Model):
    """One "was this helpful?" answer per visitor and article (a changed mind updates it)."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="votes")
    voter_key = models.CharField(max_length=64)
    helpful = models.BooleanField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["article", "voter_key"], name="uniq_kb_vote")]


class SearchLog(models.Model):
    """Every help-center, widget and bot search: volume, zero-result queries for authors."""

    class Source(models.TextChoices):
        HELP_CENTER = "help_center", _("Help center")
        WIDGET = "widget", _("Widget")
        BOT = "bot", _("Bot")

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="kb_searches")
    query = models.CharField(max_length=200)
    locale = models.CharField(max_length=10, blank=True)
    source = models.CharField(max_length=12, choices=Source.choices, default=Source.HELP_CENTER)
    result_count = models.PositiveIntegerField(default=0)
    visitor_key = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("search")
        verbose_name_plural = _("searches")
        indexes = [models.Index(fields=["workspace", "result_count", "-created_at"], name="kb_search_zero")]


class HelpSession(models.Model):
    """A visitor's self-service session (help center or widget, or the bot): deflected when the
    visitor did not reach a human within 24 hours of its start."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="kb_sessions")
    visitor_key = models.CharField(max_length=64)
    customer = models.ForeignKey("chat.Customer", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    source = models.CharField(max_length=12, choices=SearchLog.Source.choices)
    started_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "-started_at"], name="kb_session_recent")]
