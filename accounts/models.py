from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Workspace(models.Model):
    """One merchant. Every domain row hangs off a workspace; nothing crosses it."""

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("workspace")
        verbose_name_plural = _("workspaces")

    def __str__(self):
        return self.name


class Role(models.TextChoices):
    FOUNDER = "founder", _("Founder")
    SENIOR_ADMIN = "senior_admin", _("Senior admin")
    ADMIN = "admin", _("Admin")
    AGENT = "agent", _("Agent")
    VERIFIER = "verifier", _("Verifier")


class Membership(models.Model):
    """A user's place in a workspace. The full role system builds on this row."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.AGENT)
    display_name = models.CharField(_("display name"), max_length=80, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="uniq_membership")]

    def __str__(self):
        return f"{self.user} @ {self.workspace} ({self.role})"
