"""Owners' admin pages: members and roles, custom roles, the audit log, workspaces.
Every write goes through accounts.actions, so the role rules and the audit apply
exactly as in the API."""

from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from chat.errors import ChatError

from . import actions, roles
from .admin_scope import WorkspaceScopedAdmin
from .models import AuditLog, CustomRole, Membership, Role, Workspace


def acting(request, workspace_id):
    return actions.acting_member(request.user, workspace_id)


@admin.register(Workspace)
class WorkspaceAdmin(WorkspaceScopedAdmin):
    capability = roles.MANAGE_MEMBERS
    workspace_path = "pk"
    list_display = ["name", "slug", "created_at"]
    fields = ["name", "slug"]

    def get_queryset(self, request):
        return Workspace.objects.filter(pk__in=self.workspace_ids(request))

    def workspace_of(self, obj):
        return obj.pk

    def has_add_permission(self, request):
        return request.user.is_superuser  # new workspaces are an installation-level decision

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser

    def get_readonly_fields(self, request, obj=None):
        return [] if request.user.is_superuser or obj is None else ["slug"]

    def save_model(self, request, obj, form, change):
        before = {f: form.initial.get(f) for f in form.changed_data}
        super().save_model(request, obj, form, change)
        if change and form.changed_data:
            actor = acting(request, obj.pk)
            actions.audit(actor, "workspace.change", target=obj, before=before, after={f: form.cleaned_data[f] for f in form.changed_data})


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["workspace", "user", "role", "custom_role", "display_name"]

    def clean(self):
        cleaned = super().clean()
        workspace, role = cleaned.get("workspace") or getattr(self.instance, "workspace", None), cleaned.get("role")
        if workspace is None or role is None:
            return cleaned
        actor = acting(self.request, workspace.pk)
        if not roles.can(actor, roles.MANAGE_MEMBERS):
            raise forms.ValidationError(_("You cannot manage members of this workspace."))
        old_role = self.instance.role if self.instance.pk else role
        if not (roles.can_manage_role(actor, role) and roles.can_manage_role(actor, old_role)):
            self.add_error("role", _("You cannot give or take away this role."))
        custom_role = cleaned.get("custom_role")
        if custom_role is not None and (custom_role.workspace_id != workspace.pk or not roles.can(actor, roles.MANAGE_ROLES)):
            self.add_error("custom_role", _("You cannot assign this custom role."))
        if self.instance.pk and old_role == Role.FOUNDER and role != Role.FOUNDER:
            if not Membership.objects.filter(workspace=workspace, role=Role.FOUNDER).exclude(pk=self.instance.pk).exists():
                self.add_error("role", _("A workspace must keep at least one founder."))
        return cleaned


@admin.register(Membership)
class MembershipAdmin(WorkspaceScopedAdmin):
    capability = roles.MANAGE_MEMBERS
    form = MembershipForm
    list_display = ["user", "display_name", "workspace", "role", "custom_role"]
    list_filter = ["role", "workspace"]
    search_fields = ["user__username", "display_name", "user__email"]
    list_select_related = ["user", "workspace", "custom_role"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        form.request = request
        return form

    def get_readonly_fields(self, request, obj=None):
        return ["workspace", "user"] if obj is not None else []

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "role":
            allowed = set()
            for workspace_id in self.workspace_ids(request):
                allowed |= roles.MANAGEABLE_ROLES.get(acting(request, workspace_id).role, frozenset())
            kwargs["choices"] = [(value, label) for value, label in Role.choices if value in allowed]
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        if not super().has_change_permission(request, obj):
            return False
        return obj is None or roles.can_manage_role(acting(request, obj.workspace_id), obj.role)

    def save_model(self, request, obj, form, change):
        actor = acting(request, obj.workspace_id)
        try:
            if not change:
                created = actions.add_member(actor, user=obj.user, role=obj.role, display_name=obj.display_name)
                obj.pk = created.pk
            elif "role" in form.changed_data:
                actions.change_role(actor, obj.pk, obj.role)
            if "custom_role" in form.changed_data and (change or obj.custom_role_id):
                actions.set_custom_role(actor, obj.pk, obj.custom_role_id)
            if "display_name" in form.changed_data and change:
                Membership.objects.filter(pk=obj.pk).update(display_name=obj.display_name)
        except ChatError as exc:
            messages.error(request, exc.message)

    def delete_model(self, request, obj):
        try:
            actions.remove_member(acting(request, obj.workspace_id), obj.pk)
        except ChatError as exc:
            messages.error(request, exc.message)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


class CustomRoleForm(forms.ModelForm):
    capabilities = forms.MultipleChoiceField(
        label=_("capabilities"),
        choices=[(c, roles.CAPABILITY_LABELS[c]) for c in sorted(roles.GRANTABLE_BY_CUSTOM_ROLE)],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = CustomRole
        fields = ["workspace", "name", "capabilities"]


@admin.register(CustomRole)
class CustomRoleAdmin(WorkspaceScopedAdmin):
    capability = roles.MANAGE_ROLES
    form = CustomRoleForm
    list_display = ["name", "workspace", "capabilities"]

    def get_readonly_fields(self, request, obj=None):
        return ["workspace"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        try:
            role = actions.define_custom_role(
                acting(request, obj.workspace_id), form.cleaned_data["name"], form.cleaned_data["capabilities"], role_id=obj.pk if change else None
            )
            obj.pk = role.pk
        except ChatError as exc:
            messages.error(request, exc.message)


@admin.register(AuditLog)
class AuditLogAdmin(WorkspaceScopedAdmin):
    """Founders read who changed what; nobody edits or deletes it here."""

    capability = roles.VIEW_AUDIT_LOG
    read_only = True
    list_display = ["created_at", "workspace", "actor", "action", "target_type", "target_id", "denied"]
    list_filter = ["denied", "action", "workspace"]
    search_fields = ["action", "actor__username", "target_id"]
    list_select_related = ["workspace", "actor"]
    readonly_fields = ["created_at", "workspace", "actor", "action", "target_type", "target_id", "before", "after", "denied"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
