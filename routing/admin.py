from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from accounts import actions as account_actions
from accounts.admin_scope import WorkspaceScopedAdmin
from chat.admin import ObjectAccessInline, save_access_formset

from .models import AgentGroup, AgentGroupUserPermission


class SupervisorInline(ObjectAccessInline):
    model = AgentGroupUserPermission
    verbose_name = _("supervisor")
    verbose_name_plural = _("supervisors")


@admin.register(AgentGroup)
class AgentGroupAdmin(WorkspaceScopedAdmin):
    list_display = ["name", "workspace", "is_default"]
    fields = ["workspace", "name", "is_default"]
    inlines = [SupervisorInline]
    audit_name = "group"

    def get_readonly_fields(self, request, obj=None):
        return ["workspace"] if obj is not None else []

    def save_formset(self, request, form, formset, change):
        save_access_formset(request, formset, form.instance, account_actions.set_group_supervision)
