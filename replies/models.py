"""Canned content agents and the system send: quick phrases (快捷短语) now;
auto-replies, hosting and sensitive words join them (issue 8)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class QuickPhrase(models.Model):
    class Scope(models.TextChoices):
        WORKSPACE = "workspace", _("Whole workspace")
        GROUP = "group", _("Agent group")
        PERSONAL = "personal", _("Personal")

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="quick_phrases")
    scope = models.CharField(_("scope"), max_length=10, choices=Scope.choices, default=Scope.WORKSPACE)
    group = models.ForeignKey("routing.AgentGroup", on_delete=models.CASCADE, null=True, blank=True, related_name="quick_phrases")
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
