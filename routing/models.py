from django.db import models
from django.utils.translation import gettext_lazy as _
from guardian.models import UserObjectPermissionBase


class AgentGroup(models.Model):
    """A reception group. Rules, strategies and membership come with the routing issue."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="agent_groups")
    name = models.CharField(_("name"), max_length=80)
    is_default = models.BooleanField(_("default reception group"), default=False)

    class Meta:
        verbose_name = _("agent group")
        verbose_name_plural = _("agent groups")
        constraints = [models.UniqueConstraint(fields=["workspace", "name"], name="uniq_group_name")]
        permissions = [("supervise_group", _("Can supervise this group's conversations"))]

    def __str__(self):
        return self.name


class AgentGroupUserPermission(UserObjectPermissionBase):
    """Guardian object permissions on an agent group (direct foreign key)."""

    content_object = models.ForeignKey(AgentGroup, on_delete=models.CASCADE, related_name="user_permissions")

    def __str__(self):
        return f"{self.user} · {self.content_object}"

    class Meta(UserObjectPermissionBase.Meta):
        verbose_name = _("agent group permission")
        verbose_name_plural = _("agent group permissions")
