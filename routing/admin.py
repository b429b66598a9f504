from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _

from accounts import access, actions
from accounts.admin_scope import ParentRightsInline, WorkspaceScopedAdmin
from accounts.models import RoutingVersion
from chat.admin import ObjectAccessInline, save_access_formset

from . import rules_form
from .actions import drain
from .preview import RoutingPreviewForm
from .selection import Strategy
from .models import AgentGroup, AgentGroupUserPermission, AgentPresence, ServiceAlertBreach, ServiceAlertRule
from .staff import set_group_supervision


class SupervisorInline(ObjectAccessInline):
    model = AgentGroupUserPermission
    verbose_name = _("supervisor")
    verbose_name_plural = _("supervisors")


class ServiceAlertRuleInline(ParentRightsInline, admin.StackedInline):
    """预警 thresholds on the group's own page: one form, empty fields are not watched."""

    model = ServiceAlertRule
    can_delete = False
    max_num = 1
    fields = ["enabled", "max_queue_length", "max_wait_seconds", "max_first_response_seconds", "max_unanswered", "min_csat", "min_ratings"]


STRATEGY_LABELS = {
    Strategy.LEAST_LOADED: _("Least busy agent first"),
    Strategy.ROUND_ROBIN: _("Take turns"),
    Strategy.FAMILIAR_FIRST: _("Returning customers to their last agent (熟客优先)"),
    Strategy.CLAIM: _("Agents claim chats from the pool (抢单)"),
}


class AgentGroupForm(forms.ModelForm):
    strategy = forms.ChoiceField(label=_("strategy"), choices=list(STRATEGY_LABELS.items()), initial=Strategy.LEAST_LOADED)
    rules = rules_form.RulesField(
        label=_("routing conditions"),
        help_text=_("A customer comes to this group when every condition matches (any of its values). Values are separated by "
                    "commas or 、; regions like 上海 or 浙江/杭州, entry pages like */pre-sale/*, times like 21:00-08:00, languages "
                    "like zh or en. The default group needs none."))

    class Meta:
        model = AgentGroup
        fields = "__all__"
        widgets = {"members": forms.CheckboxSelectMultiple}  # a shop's agents fit as ticks; works on a tablet
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["rules"].keep_stored_fields(self.instance.rules)
        if not self.is_bound:
            self.initial["rules"] = rules_form.shown(self.instance.rules, self.instance.workspace_id)

    def clean(self):
        cleaned = super().clean()
        workspace = cleaned.get("workspace")
        workspace_id = workspace.pk if workspace is not None else self.instance.workspace_id
        if "rules" in cleaned:
            cleaned["rules"], error = rules_form.resolve(cleaned["rules"], workspace_id)
            if error:
                self.add_error("rules", error)
        return cleaned


@admin.register(AgentGroup)
class AgentGroupAdmin(WorkspaceScopedAdmin):
    form = AgentGroupForm
    change_list_template = "admin/routing/agentgroup/change_list.html"
    list_display = ["name", "workspace", "is_default", "priority", "strategy_label", "enabled"]
    fields = ["workspace", "name", "is_default", "priority", "strategy", "rules", "enabled", "members"]
    inlines = [SupervisorInline, ServiceAlertRuleInline]
    audit_name = "group"

    def get_readonly_fields(self, request, obj=None):
        return ["workspace"] if obj is not None else []

    def save_formset(self, request, form, formset, change):
        if formset.model is ServiceAlertRule:
            for rule_form in formset.forms:
                if rule_form.has_changed():
                    actions.audit(access.acting_membership(request, form.instance.workspace_id), "group.alerts", target=form.instance,
                                  before={f: str(rule_form.initial.get(f)) for f in rule_form.changed_data},
                                  after={f: str(rule_form.cleaned_data.get(f)) for f in rule_form.changed_data})
            formset.save()
            return
        save_access_formset(request, formset, form.instance, set_group_supervision)

    @admin.display(description=_("strategy"), ordering="strategy")
    def strategy_label(self, group):
        return STRATEGY_LABELS.get(group.strategy, group.strategy)

    def get_urls(self):
        return [path("try/", self.admin_site.admin_view(self.try_view), name="routing_agentgroup_try"), *super().get_urls()]

    def try_view(self, request):
        """试一试: which group a customer with these details goes to, by the groups as saved now."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = RoutingPreviewForm(request.GET or None, workspace_ids=self.workspace_ids(request))
        outcome = form.outcome() if form.is_valid() else None
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form, "outcome": outcome,
                   "title": _("Try the routing")}
        return TemplateResponse(request, "admin/routing/agentgroup/try.html", context)

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


@admin.register(ServiceAlertBreach)
class ServiceAlertBreachAdmin(WorkspaceScopedAdmin):
    """The event log of breaches (预警记录): read only, written by the scheduler."""

    list_display = ["group", "metric", "value", "threshold", "opened_at", "cleared_at"]
    list_filter = ["metric", "group"]
    date_hierarchy = "opened_at"
    fields = ["workspace", "group", "metric", "value", "threshold", "opened_at", "cleared_at", "push"]
    readonly_fields = fields
    read_only = True
