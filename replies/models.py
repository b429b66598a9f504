"""Canned content agents and the system send: quick phrases (快捷短语) now;
auto-replies, hosting and sensitive words join them (issue 8)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from . import config
from .hosting import validate_weekdays
from .matching import keywords_of


class QuickPhrase(models.Model):
    class Scope(models.TextChoices):
        WORKSPACE = "workspace", _("Whole workspace")
        GROUP = "group", _("Agent group")
        PERSONAL = "personal", _("Personal")

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="quick_phrases")
    scope = models.CharField(_("scope"), max_length=10, choices=Scope.choices, default=Scope.WORKSPACE)
    group = models.ForeignKey("routing.AgentGroup", on_delete=models.CASCADE, null=True, blank=True, related_name="quick_phrases",
                              verbose_name=_("group"))
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="quick_phrases")
    category = models.CharField(_("category"), max_length=40, blank=True)
    title = models.CharField(_("title"), max_length=80)
    # Typed after "/" in the composer.
    shortcut = models.SlugField(_("shortcut"), max_length=30, allow_unicode=True)
    # Plain text; {customer_name} and {agent_name} are filled in when inserted.
    body = models.TextField(_("text"), max_length=2000)
    attachment = models.JSONField(_("attachment"), default=dict, blank=True)
    # Campaign phrases: hidden outside this period.
    valid_from = models.DateTimeField(_("valid from"), null=True, blank=True)
    valid_until = models.DateTimeField(_("valid until"), null=True, blank=True)
    usage_count = models.PositiveIntegerField(_("times used"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("quick phrase")
        verbose_name_plural = _("quick phrases")
        ordering = ["category", "shortcut", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(scope="workspace", group__isnull=True, owner__isnull=True)
                           | Q(scope="group", group__isnull=False, owner__isnull=True)
                           | Q(scope="personal", group__isnull=True, owner__isnull=False)),
                name="quick_phrase_scope_target",
            ),
        ]
        indexes = [models.Index(fields=["workspace", "scope"], name="phrase_ws_scope")]

    def __str__(self):
        return f"/{self.shortcut} {self.title}"


def _same_workspace(obj, **related):
    """A related row picked in the admin must belong to the row's own workspace."""
    errors = {name: _("Choose one from the same workspace.") for name, row in related.items()
              if row is not None and obj.workspace_id and row.workspace_id != obj.workspace_id}
    if errors:
        raise ValidationError(errors)


class WorkspaceConfigRow(models.Model):
    """Rows read on every message through replies.config: saving or deleting one drops this
    process's cached copy at once (other processes refresh within seconds)."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        config.invalidate(self.workspace_id)

    def delete(self, *args, **kwargs):
        workspace_id = self.workspace_id
        result = super().delete(*args, **kwargs)
        config.invalidate(workspace_id)
        return result


class ReplySettings(WorkspaceConfigRow):
    """The system's own lines and hosting (托管) for a workspace: one row for every inbox
    (inbox empty), and optionally one per inbox that replaces it for that inbox."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="reply_settings")
    inbox = models.ForeignKey("chat.Inbox", on_delete=models.CASCADE, null=True, blank=True, related_name="+",
                              verbose_name=_("inbox"), help_text=_("Empty: every inbox without its own settings."))
    welcome_message = models.TextField(_("welcome message"), max_length=1000, blank=True,
                                       help_text=_("Sent when a conversation starts. Empty: none."))
    queue_message = models.TextField(_("queue message"), max_length=1000, blank=True,
                                     help_text=_("Sent when the chat waits for an agent; {position} is the place in the queue."))
    resolved_message = models.TextField(_("resolved message"), max_length=1000, blank=True,
                                        help_text=_("Sent when the conversation is resolved."))
    hosting_enabled = models.BooleanField(_("hosting on"), default=False)
    hosting_message = models.TextField(_("hosting message"), max_length=1000, blank=True)
    # A window whose end is not after its start crosses midnight (22:00–08:00); both empty: all day.
    hosting_start = models.TimeField(_("hosting from"), null=True, blank=True)
    hosting_end = models.TimeField(_("hosting until"), null=True, blank=True)
    # 0 = Monday … 6 = Sunday, the days the window starts on; empty: every day.
    hosting_weekdays = models.JSONField(_("hosting weekdays"), default=list, blank=True)
    hosting_use_window = models.BooleanField(_("host during the window"), default=True)
    hosting_outside_business_hours = models.BooleanField(_("host outside business hours"), default=False)
    hosting_no_answer_minutes = models.PositiveIntegerField(
        _("host when unanswered for minutes"), default=0, help_text=_("0: off."))
    hosting_limit_minutes = models.PositiveIntegerField(
        _("at most once per customer every minutes"), default=60)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("reply settings")
        verbose_name_plural = _("reply settings")
        constraints = [
            models.UniqueConstraint(fields=["workspace", "inbox"], name="uniq_reply_settings_inbox"),
            models.UniqueConstraint(fields=["workspace"], condition=Q(inbox__isnull=True), name="uniq_reply_settings_default"),
        ]

    def __str__(self):
        return str(self.inbox or _("All inboxes"))

    def clean(self):
        _same_workspace(self, inbox=self.inbox)
        try:
            self.hosting_weekdays = validate_weekdays(self.hosting_weekdays)
        except ValueError:
            raise ValidationError({"hosting_weekdays": _("List the weekdays as numbers from 0 (Monday) to 6 (Sunday), e.g. [0, 1, 2, 3, 4].")}) from None
        if (self.hosting_start is None) != (self.hosting_end is None):
            raise ValidationError({"hosting_end": _("Give both ends of the hosting window, or neither (all day).")})
        if self.hosting_enabled and not self.hosting_message.strip():
            raise ValidationError({"hosting_message": _("Hosting needs a message to send.")})
        if self.hosting_limit_minutes < 1:
            raise ValidationError({"hosting_limit_minutes": _("At least one minute.")})


class AutoReplyRule(WorkspaceConfigRow):
    class Match(models.TextChoices):
        EXACT = "exact", _("Whole message equals a keyword")
        CONTAINS = "contains", _("Message contains a keyword")

    class ReplyKind(models.TextChoices):
        TEXT = "text", _("Text")
        ARTICLE = "article", _("Help article")
        LINK = "link", _("Link")
        CARD = "card", _("Card")

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="auto_reply_rules")
    inbox = models.ForeignKey("chat.Inbox", on_delete=models.CASCADE, null=True, blank=True, related_name="+",
                              verbose_name=_("inbox"), help_text=_("Empty: every inbox."))
    name = models.CharField(_("name"), max_length=80)
    keywords = models.TextField(_("keywords"), max_length=2000, help_text=_("One per line."))
    match = models.CharField(_("match"), max_length=10, choices=Match.choices, default=Match.CONTAINS)
    ignore_script = models.BooleanField(_("traditional and simplified alike"), default=True)
    ignore_pinyin = models.BooleanField(_("same pinyin alike"), default=False,
                                        help_text=_("Contains-match only: 退火 matches 退货."))
    priority = models.PositiveIntegerField(_("priority"), default=100, help_text=_("When several rules match, the lowest number wins."))
    reply_kind = models.CharField(_("reply"), max_length=10, choices=ReplyKind.choices, default=ReplyKind.TEXT)
    reply_text = models.TextField(_("reply text"), max_length=2000, blank=True)
    article = models.ForeignKey("knowledge.Article", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("article"))
    link_url = models.URLField(_("link"), max_length=1000, blank=True)
    card_title = models.CharField(_("card title"), max_length=120, blank=True)
    card_image_url = models.URLField(_("card image"), max_length=1000, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("auto-reply rule")
        verbose_name_plural = _("auto-reply rules")
        ordering = ["priority", "pk"]
        indexes = [models.Index(fields=["workspace", "enabled"], name="autoreply_ws")]

    def __str__(self):
        return self.name

    def clean(self):
        _same_workspace(self, inbox=self.inbox, article=self.article)
        if not keywords_of(self.keywords):
            raise ValidationError({"keywords": _("Give at least one keyword.")})
        kind = self.reply_kind
        if kind == self.ReplyKind.TEXT and not self.reply_text.strip():
            raise ValidationError({"reply_text": _("A text reply needs its text.")})
        if kind == self.ReplyKind.ARTICLE and self.article_id is None:
            raise ValidationError({"article": _("Choose the article to send.")})
        if kind in (self.ReplyKind.LINK, self.ReplyKind.CARD) and not self.link_url:
            raise ValidationError({"link_url": _("Links and cards need a link.")})
        if kind == self.ReplyKind.CARD and not self.card_title.strip():
            raise ValidationError({"card_title": _("A card needs a title.")})


class SensitiveWordList(WorkspaceConfigRow):
    class AppliesTo(models.TextChoices):
        CUSTOMERS = "customers", _("Customers' messages")
        AGENTS = "agents", _("Agents' messages")
        BOTH = "both", _("Both")

    class Action(models.TextChoices):
        MASK = "mask", _("Mask the words (***)")
        BLOCK = "block", _("Refuse the message with a notice")
        ALERT = "alert", _("Deliver and alert supervisors")

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="sensitive_word_lists")
    name = models.CharField(_("name"), max_length=80)
    applies_to = models.CharField(_("applies to"), max_length=10, choices=AppliesTo.choices, default=AppliesTo.BOTH)
    action = models.CharField(_("action"), max_length=10, choices=Action.choices, default=Action.MASK)
    words = models.TextField(_("words"), max_length=20000, help_text=_("One per line. Traditional and simplified forms match alike."))
    notice = models.CharField(_("notice"), max_length=300, blank=True,
                              help_text=_("Shown to the sender of a refused message. Empty: a standard notice."))
    enabled = models.BooleanField(_("enabled"), default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("sensitive word list")
        verbose_name_plural = _("sensitive word lists")

    def __str__(self):
        return self.name

    def clean(self):
        if not keywords_of(self.words):
            raise ValidationError({"words": _("Give at least one word.")})


class HostingMark(models.Model):
    """When a customer last got a hosting reply: the once-per-M-minutes limit is one conditional UPDATE."""

    customer = models.OneToOneField("chat.Customer", on_delete=models.CASCADE, primary_key=True, related_name="+")
    last_hosted_at = models.DateTimeField(null=True, blank=True)
