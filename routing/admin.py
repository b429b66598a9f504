from django.contrib import admin
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from accounts.admin_scope import WorkspaceScopedAdmin
from accounts.models import RoutingVersion
from chat.admin import ObjectAccessInline, save_access_formset

from .actions import drain
from .models import AgentGroup, AgentGroupUserPermission, AgentPresence
from .staff import set_group_supervision


class SupervisorInline(ObjectAccessInline):
    model = AgentGroupUserPermission
    verbose_name = _("supervisor")
    verbose_name_plural = _("supervisors")


@admin.register(AgentGroup)
class AgentGroupAdmin(WorkspaceScopedAdmin):
    list_display = ["name", "workspace", "is_default", "priority", "strategy", "enabled"]
    fields = ["workspace", "name", "is_default", "priority", "strategy", "rules", "enabled", "members"]
    filter_horizontal = ["members"]
    inlines = [SupervisorInline]
    audit_name = "group"

    def get_readonly_fields(self, request, obj=None):
        return ["workspace"] if obj is not None else []

    def save_formset(self, request, form, formset, change):
        save_access_formset(request, formset, form.instance, set_group_supervision)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        RoutingVersion.bump(form.instance.workspace_id)  # members are saved by the M2M manager: no save() sees them

    def delete_queryset(self, request, queryset):
        workspace_ids = set(queryset.values_list("workspace_id", flat=True))
        super().delete_queryset(request, queryset)  # a queryset delete: AgentGroup.delete() is not called
        for workspace_id in workspace_ids:
            RoutingVersion.bump(workspace_id)


@admin.register(AgentPresence)
class AgentPresenceAdmin(WorkspaceScopedAdmin):
    """Admins set each agent's capacity; agents set their status themselves."""

    list_display = ["user", "workspace", "status", "capacity", "last_assigned_at"]
    list_filter = ["status", "workspace"]
    fields = ["workspace", "user", "status", "capacity"]
    readonly_fields = ["status"]
    audit_name = "presence"

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        transaction.on_commit(lambda: drain(obj.workspace_id))  # more capacity may serve the queue now
