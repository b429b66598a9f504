from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import ObjectPermissionRow, RoutingVersion

from .selection import AgentStatus, Strategy


class AgentGroup(models.Model):
    """A reception group: who receives which customers (rules, priority) and how (strategy).

    The default reception group has no rules and no stored members: it is every member
    who serves chats, so it can never fall out of sync with the membership."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="agent_groups")
    name = models.CharField(_("name"), max_length=80)
    is_default = models.BooleanField(_("default reception group"), default=False)
    priority = models.PositiveIntegerField(_("priority"), default=100, help_text=_("When several groups match, the lowest number wins."))
    strategy = models.CharField(_("strategy"), max_length=20, choices=[(s.value, s.value) for s in Strategy], default=Strategy.LEAST_LOADED)
    # [{"field": "region", "values": ["浙江/杭州", "浙江/温州"]}, ...]: all rules must match (see routing.selection)
    rules = models.JSONField(_("rules"), default=list, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="agent_groups", verbose_name=_("members"))

    class Meta:
        verbose_name = _("agent group")
        verbose_name_plural = _("agent groups")
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="uniq_group_name"),
            models.UniqueConstraint(fields=["workspace"], condition=Q(is_default=True), name="one_default_group"),
        ]
        permissions = [("supervise_group", _("Can supervise this group's conversations"))]

    def __str__(self):
        return self.name

    # The routing structure each process caches (routing.actions). Member changes go through the
    # M2M manager, which no save() sees: their writers (the admin's save_related) bump themselves.
    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        RoutingVersion.bump(self.workspace_id)

    def delete(self, *args, **kwargs):
        result = super().delete(*args, **kwargs)
        RoutingVersion.bump(self.workspace_id)
        return result


class AgentGroupUserPermission(ObjectPermissionRow):
    """Guardian object permissions on an agent group (direct foreign key)."""

    content_object = models.ForeignKey(AgentGroup, on_delete=models.CASCADE, related_name="user_permissions")

    class Meta(ObjectPermissionRow.Meta):
        verbose_name = _("agent group permission")
        verbose_name_plural = _("agent group permissions")


class AgentPresence(models.Model):
    """An agent's availability in a workspace: status, capacity, and when they last got a chat."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="presences")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="presences")
    status = models.CharField(_("status"), max_length=10, choices=[(s.value, s.value) for s in AgentStatus], default=AgentStatus.OFFLINE)
    capacity = models.PositiveSmallIntegerField(_("capacity"), default=5, help_text=_("Most chats served at once."))
    # Open conversations assigned to this agent: kept with F() on every assign and release, so the
    # routing snapshot needs no count; recounted exactly under the row lock before each assignment
    # and for everyone by the sweep, so it cannot drift for long.
    open_chats = models.PositiveIntegerField(_("open chats"), default=0)
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    # A console tab of this agent is visible until then (tabs renew it while shown): Web Push
    # is sent only when no tab is, so a visible console is not doubled by notifications.
    console_visible_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("agent presence")
        verbose_name_plural = _("agent presences")
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="uniq_presence")]
