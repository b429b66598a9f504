import secrets
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _
from guardian.models import UserObjectPermissionBase


def validate_time_zone(value):
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(_("Unknown time zone %(zone)s."), params={"zone": value}) from None


class Workspace(models.Model):
    """One merchant. Every domain row hangs off a workspace; nothing crosses it."""

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    # Hosting windows, weekdays and other local-time rules are read in this zone.
    timezone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai", validators=[validate_time_zone])
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("workspace")
        verbose_name_plural = _("workspaces")
        permissions = [("view_all_history", _("Can view every conversation of the workspace"))]

    def __str__(self):
        return self.name

    @classmethod
    def zone_of(cls, workspace_id):
        """The workspace's own time zone (the installation's when unreadable): one query."""
        name = cls.objects.filter(pk=workspace_id).values_list("timezone", flat=True).first()
        try:
            return ZoneInfo(name or settings.TIME_ZONE)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo(settings.TIME_ZONE)


class Role(models.TextChoices):
    FOUNDER = "founder", _("Founder")
    SENIOR_ADMIN = "senior_admin", _("Senior admin")
    ADMIN = "admin", _("Admin")
    AGENT = "agent", _("Agent")
    VERIFIER = "verifier", _("Verifier")


class ObjectPermissionRow(UserObjectPermissionBase):
    """Base of the direct-foreign-key guardian tables (workspace, inbox, group): cheap joins,
    and a label that needs no permission lookup (admin change messages use it)."""

    class Meta(UserObjectPermissionBase.Meta):
        abstract = True

    def __str__(self):
        return f"{self.user} · {self.content_object}"

    # Inbox access decides who serves an inbox (routing's cached structure). guardian's
    # remove_perm deletes through a queryset: accounts.actions bumps for that path.
    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        RoutingVersion.bump(self._workspace_id())

    def delete(self, *args, **kwargs):
        workspace_id = self._workspace_id()
        result = super().delete(*args, **kwargs)
        RoutingVersion.bump(workspace_id)
        return result

    def _workspace_id(self):
        target = self.content_object
        return target.pk if isinstance(target, Workspace) else target.workspace_id


class WorkspaceUserPermission(ObjectPermissionRow):
    """Guardian object permissions on a workspace (direct foreign key: cheap joins)."""

    content_object = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="user_permissions")

    class Meta(ObjectPermissionRow.Meta):
        verbose_name = _("workspace permission")
        verbose_name_plural = _("workspace permissions")


class CustomRole(models.Model):
    """A named set of extra capabilities a founder or senior admin defines (see accounts.roles)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="custom_roles")
    name = models.CharField(_("name"), max_length=60)
    capabilities = models.JSONField(_("capabilities"), default=list, blank=True)

    class Meta:
        verbose_name = _("custom role")
        verbose_name_plural = _("custom roles")
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="uniq_custom_role_name")]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        RoutingVersion.bump(self.workspace_id)  # capabilities decide who serves chats

    def delete(self, *args, **kwargs):
        result = super().delete(*args, **kwargs)
        RoutingVersion.bump(self.workspace_id)
        return result


def shown_name(display_name, user):
    """How a workspace names a member: their display name there, else full name, else username."""
    return display_name or user.get_full_name() or user.get_username()


class Membership(models.Model):
    """A user's place in a workspace: a base role, optionally a custom role on top."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("user"))
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.AGENT)
    custom_role = models.ForeignKey(CustomRole, on_delete=models.SET_NULL, null=True, blank=True, related_name="members",
                                    verbose_name=_("custom role"))
    display_name = models.CharField(_("display name"), max_length=80, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Onboarding(models.TextChoices):
        """A founder's 开始使用 card on the console (surfaces.onboarding): shown until they put it off,
        gone for good once the console has seen all five steps done."""

        SHOWN = "", _("shown")
        HIDDEN = "hidden", _("hidden for now")
        DONE = "done", _("done")

    onboarding = models.CharField(_("onboarding checklist"), max_length=8, choices=Onboarding.choices, blank=True, default="")

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="uniq_membership")]

    def __str__(self):
        return f"{self.display_name or self.user} @ {self.workspace} ({self.get_role_display()})"

    @property
    def shown_name(self):
        return shown_name(self.display_name, self.user)

    ROUTING_FIELDS = {"workspace", "workspace_id", "user", "user_id", "role", "custom_role", "custom_role_id"}

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        update_fields = kwargs.get("update_fields")
        if update_fields is None or self.ROUTING_FIELDS & set(update_fields):
            RoutingVersion.bump(self.workspace_id)  # who serves chats (a display name does not change it)

    def delete(self, *args, **kwargs):
        result = super().delete(*args, **kwargs)
        RoutingVersion.bump(self.workspace_id)
        return result


class WorkspaceVersion(models.Model):
    """A per-workspace value that changes with every change to some structure, for per-process
    caches that compare it on each read, so every process sees a change at once.

    Written after the change, in its transaction: a reader then never pairs the new value with
    the old structure. A fresh random value rather than a counter, so a rolled-back change or a
    test's rolled-back workspace cannot bring back a value a cache already holds. Subclasses
    declare `workspace` (one row per workspace) and `version` (a big integer, default 0)."""

    class Meta:
        abstract = True

    @classmethod
    def bump(cls, workspace_id):
        if workspace_id is None:
            return
        value = secrets.randbits(62) + 1
        if not cls.objects.filter(workspace_id=workspace_id).update(version=value):
            _row, created = cls.objects.get_or_create(workspace_id=workspace_id, defaults={"version": value})
            if not created:  # a concurrent first bump created it: ours must still change it
                cls.objects.filter(workspace_id=workspace_id).update(version=value)

    @classmethod
    def current(cls, workspace_id):
        """The value, or None before the workspace's first change (then nothing may be cached)."""
        return cls.objects.filter(workspace_id=workspace_id).values_list("version", flat=True).first()


class RoutingVersion(WorkspaceVersion):
    """Changes with every change to who serves what in a workspace (memberships, roles, custom
    roles, inbox access, agent groups and their members): the routing structure cache
    (routing.actions) compares it on each read."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, primary_key=True, related_name="+")
    version = models.BigIntegerField(default=0)

    @classmethod
    def bump_for_user(cls, user_id):
        """Every workspace the user is a member of (their account changed)."""
        for workspace_id in Membership.objects.filter(user_id=user_id).values_list("workspace_id", flat=True):
            cls.bump(workspace_id)


class UserPreferences(models.Model):
    """Per-person settings that follow the agent across workspaces and devices."""

    class Language(models.TextChoices):
        BROWSER = "", _("Browser language")
        ZH_HANS = "zh-hans", "简体中文"
        ZH_HANT = "zh-hant", "繁體中文"
        EN = "en", "English"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferences")
    language = models.CharField(_("language"), max_length=10, choices=Language.choices, blank=True, default="")
    sound = models.BooleanField(_("sound on new messages"), default=True)

    class Meta:
        verbose_name = _("preferences")
        verbose_name_plural = _("preferences")


class AuditLog(models.Model):
    """Who changed which member, role, permission or setting, from what to what, and when.
    Refused attempts (escalation, other workspace's ids) are recorded too."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="audit_log")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    action = models.CharField(_("action"), max_length=60)
    target_type = models.CharField(_("target type"), max_length=60, blank=True)
    target_id = models.CharField(_("target id"), max_length=60, blank=True)
    before = models.JSONField(_("before"), default=dict, blank=True)
    after = models.JSONField(_("after"), default=dict, blank=True)
    denied = models.BooleanField(_("denied"), default=False)
    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("audit log entry")
        verbose_name_plural = _("audit log")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor or ''}".strip()  # a title: the action's sentence is on the page


class ApiToken(models.Model):
    """A member's credential for the REST API: acts exactly as that member (same
    workspace, same role and permissions). Only a hash is stored; the key is shown once."""

    membership = models.ForeignKey(Membership, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=60)
    prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"


class Invite(models.Model):
    """An expiring, single-use link that makes its holder a member with a given role.
    Only a digest of the link's secret is stored."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="invites")
    email = models.EmailField(_("e-mail"), blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.AGENT)
    display_name = models.CharField(_("display name"), max_length=80, blank=True)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    # Set for members created in bulk: the link lets that account choose its first password.
    for_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")

    def __str__(self):
        return self.email or self.phone

