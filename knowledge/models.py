"""The knowledge base: categories (one level of nesting), articles with one version per
locale (zh-Hans, zh-Hant, en), similar questions (相似问), revisions, views and votes,
and the search log that feeds the deflection metrics."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import WorkspaceVersion

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
    # For agents only (the console's FAQ picker): never in the help center, the widget's search or the bot.
    internal_only = models.BooleanField(_("internal only"), default=False, help_text=_(
        "Shown to agents in the console only: never in the help center, the customers' search or the bot."))
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
        indexes = [
            models.Index(fields=["workspace", "status", "-view_count"], name="kb_article_popular"),
            # Every customer search drops the workspace's internal-only articles (knowledge.faq):
            # one probe of this small index, not a scan of the workspace's published articles.
            models.Index(fields=["workspace"], condition=models.Q(internal_only=True), name="kb_article_internal"),
        ]

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


# --- the bot's conversation and the merchant's tools (issue 17) -----------------------------


class BotAnswer(models.Model):
    """One answer of the bot and the customer's 「是否解决了您的问题？」 feedback on it (given once:
    a conditional update from empty, so repeats and races record nothing more)."""

    class Feedback(models.TextChoices):
        NONE = "", _("No feedback")
        RESOLVED = "resolved", _("Resolved")
        UNRESOLVED = "unresolved", _("Not resolved")

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey("chat.Conversation", on_delete=models.CASCADE, related_name="+")
    event = models.OneToOneField("chat.ConversationEvent", on_delete=models.CASCADE, related_name="+")  # its bot_answered event
    prompt = models.OneToOneField("chat.Message", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    article = models.ForeignKey(Article, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    question = models.CharField(max_length=200)
    locale = models.CharField(max_length=10, blank=True)
    feedback = models.CharField(max_length=10, choices=Feedback.choices, default=Feedback.NONE, blank=True)
    feedback_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)


class UnansweredQuestion(models.Model):
    """未解决问题: what customers asked that the bot could not answer (only suggested, handed off
    after misses, or answered and marked 未解决), one row per normalised text with a count."""

    class Reason(models.TextChoices):
        SUGGESTED = "suggested", _("Only suggestions")
        HANDED_OFF = "handed_off", _("Handed to a person")
        UNRESOLVED = "unresolved", _("Answered, not resolved")

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="kb_unanswered")
    normalised = models.CharField(_("normalised text"), max_length=200)
    text = models.CharField(_("question"), max_length=200)  # the latest wording asked
    locale = models.CharField(_("language"), max_length=10, choices=LOCALES, default="zh-hans")
    reason = models.CharField(_("last outcome"), max_length=12, choices=Reason.choices)
    count = models.PositiveIntegerField(_("times asked"), default=0)  # F() updates only
    first_asked_at = models.DateTimeField(_("first asked"), auto_now_add=True)
    last_asked_at = models.DateTimeField(_("last asked"), db_index=True)
    handled_at = models.DateTimeField(_("handled at"), null=True, blank=True)
    handled_article = models.ForeignKey(Article, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                        verbose_name=_("added to article"))

    class Meta:
        verbose_name = _("unanswered question")
        verbose_name_plural = _("unanswered questions")
        constraints = [models.UniqueConstraint(fields=["workspace", "normalised"], name="uniq_kb_unanswered")]
        indexes = [models.Index(fields=["workspace", "handled_at", "-last_asked_at"], name="kb_unanswered_open")]

    def __str__(self):
        return self.text


class SynonymGroup(models.Model):
    """同义词: phrases a workspace's customers use for the same thing (退货 = 退掉 = 退回), one
    phrase per line; search treats them as one word."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="kb_synonyms")
    phrases = models.TextField(_("equivalent words"))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("synonym group")
        verbose_name_plural = _("synonyms")
        ordering = ["pk"]

    def __str__(self):
        return " = ".join(self.phrase_list())

    def phrase_list(self):
        return [p for p in self.phrases.splitlines() if p.strip()]


class SynonymVersion(WorkspaceVersion):
    """Bumped in the transaction of every synonym change (knowledge.actions, which also lock the
    row to serialise a workspace's saves): each process compares this one small row with the
    version it cached (knowledge.synonyms), so an edit applies at once everywhere."""

    workspace = models.OneToOneField("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    version = models.PositiveBigIntegerField(default=0)


class TsVectorField(models.TextField):
    """A PostgreSQL `tsvector` (text elsewhere: the SQLite default never writes it). Values are
    written as tsvector literals built by knowledge.search_pg, never parsed by a text-search
    configuration, so Chinese terms and the "_" of grams stay as the analyser made them."""

    def db_type(self, connection):
        return "tsvector" if connection.vendor == "postgresql" else super().db_type(connection)


class SearchDocument(models.Model):
    """One published ArticleVersion in the PostgreSQL search index (knowledge/search_pg.py).
    Ids, not foreign keys, for the article and version: a row lives until the index hook removes
    it (and takes its counts out of SearchTerm), like a Whoosh document."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    article_id = models.BigIntegerField(db_index=True)
    version_id = models.BigIntegerField(unique=True)
    locale = models.CharField(max_length=10)
    # Term counts (raw, for the workspace's average field lengths) and whoosh's one-byte
    # quantised lengths (for BM25's length norm: the Whoosh backend scores with those).
    title_len = models.PositiveIntegerField(default=0)
    similar_len = models.PositiveIntegerField(default=0)
    body_len = models.PositiveIntegerField(default=0)
    title_norm = models.PositiveIntegerField(default=0)
    similar_norm = models.PositiveIntegerField(default=0)
    body_norm = models.PositiveIntegerField(default=0)
    terms = TsVectorField(blank=True)  # field-tagged terms, term frequency as the position (found through SearchKey)


class HashArrayField(models.TextField):
    """A PostgreSQL `integer[]` (text elsewhere: the SQLite default never writes it)."""

    def db_type(self, connection):
        return "integer[]" if connection.vendor == "postgresql" else super().db_type(connection)


class SearchKey(models.Model):
    """What the first stage of a PostgreSQL search reads of a SearchDocument, in a row about a third
    as wide: the GIN index (workspace first) is over `hashes`, hashtext() of each of its lexemes,
    so finding candidates visits these rows rather than the wide ones (docs/knowledge.md). Written
    and removed with its document, in the same transaction (knowledge/search_pg.py)."""

    document = models.OneToOneField(SearchDocument, on_delete=models.CASCADE, primary_key=True, related_name="+")
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+", db_index=False)
    locale = models.CharField(max_length=10)
    title_norm = models.PositiveIntegerField(default=0)
    similar_norm = models.PositiveIntegerField(default=0)
    body_norm = models.PositiveIntegerField(default=0)
    hashes = HashArrayField(blank=True)  # GIN index (migration 0006)


class SearchTerm(models.Model):
    """Document frequency of one field-tagged term in a workspace (BM25's idf, and which terms
    are rare enough to find candidates with), kept in the transaction of each index write."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+", db_index=False)
    lexeme = models.TextField()
    df = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "lexeme"], name="uniq_kb_search_term")]


class SearchStats(models.Model):
    """Per workspace: documents indexed and the summed term counts of each field."""

    workspace = models.OneToOneField("accounts.Workspace", on_delete=models.CASCADE, primary_key=True, related_name="+")
    documents = models.BigIntegerField(default=0)
    title_terms = models.BigIntegerField(default=0)
    similar_terms = models.BigIntegerField(default=0)
    body_terms = models.BigIntegerField(default=0)
