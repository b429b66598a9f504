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

    def get_readonly_fields(self, request, obj=None):
        return ["workspace"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        actor = account_actions.acting_member(request.user, obj.workspace_id)
        account_actions.audit(actor, "group.change" if change else "group.add", target=obj,
                              after={f: str(form.cleaned_data.get(f)) for f in form.changed_data})

    def save_formset(self, request, form, formset, change):
        save_access_formset(request, formset, form.instance, account_actions.set_group_supervision)
