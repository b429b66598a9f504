"""Owners' admin pages: members and roles, custom roles, the audit log, workspaces.
Every write goes through accounts.actions, so the role rules and the audit apply
exactly as in the API."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.html import format_html
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from chat import staff as chat_staff
from lifecycle import invite_email
from helpdesk.errors import DomainError
from helpdesk.validation import int_or_none

from . import actions, audit_text, roles, team
from . import admin_auth  # noqa: F401 (re-registers the user and TOTP device pages)
from .admin_scope import WorkspaceScopedAdmin, acting
from .invite_views import invite_url
from .models import AuditLog, CustomRole, Invite, Membership, Role, RoutingVersion, Workspace, shown_name


@admin.register(Workspace)
class WorkspaceAdmin(WorkspaceScopedAdmin):
    capability = roles.MANAGE_MEMBERS
    workspace_path = "pk"
    list_display = ["name", "slug", "created_at"]
    fields = ["name", "slug"]
    audit_name = "workspace"

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



class MembershipForm(forms.ModelForm):
    view_all_history = forms.BooleanField(
        label=_("View all history"), required=False,
        help_text=_("Agents see only their own conversations unless this is ticked (admin roles always see all)."),
    )

    class Meta:
        model = Membership
        fields = ["workspace", "user", "role", "custom_role", "display_name", "view_all_history"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["view_all_history"].initial = actions.holds(self.instance.user, actions.VIEW_ALL_HISTORY_PERM, self.instance.workspace)

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


class ManageableRoleChoices:
    """The role field offers only roles the user may give (a tampered value is a form error)."""

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "role":
            allowed = set()
            for workspace_id in self.workspace_ids(request):
                allowed |= roles.MANAGEABLE_ROLES.get(acting(request, workspace_id).role, frozenset())
            kwargs["choices"] = [(value, label) for value, label in Role.choices if value in allowed]
        return super().formfield_for_choice_field(db_field, request, **kwargs)


@admin.register(Membership)
class MembershipAdmin(ManageableRoleChoices, WorkspaceScopedAdmin):
    capability = roles.MANAGE_MEMBERS
    form = MembershipForm
    new_member_fields = ("user",)  # the user being added is not a member of the workspace yet
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
            if "view_all_history" in form.changed_data:
                actions.set_view_all_history(actor, obj.pk, form.cleaned_data["view_all_history"])
        except DomainError as exc:
            messages.error(request, exc.message)

    def delete_model(self, request, obj):
        try:
            actions.remove_member(acting(request, obj.workspace_id), obj.pk)
        except DomainError as exc:
            messages.error(request, exc.message)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    # --- bulk creation from CSV ---------------------------------------------------

    def get_urls(self):
        extra = [path("import/", self.admin_site.admin_view(self.import_csv), name="accounts_membership_import"),
                 path("team/", self.admin_site.admin_view(self.team_view), name="accounts_membership_team")]
        return extra + super().get_urls()

    def team_view(self, request):
        """团队与角色: what each role may do, as one table generated from accounts.roles."""
        ids = self.workspace_ids(request)
        if not ids:
            raise PermissionDenied
        workspaces = list(Workspace.objects.filter(pk__in=ids).order_by("pk"))
        chosen = int_or_none(request.GET.get("workspace"))
        if request.GET.get("workspace") and chosen not in ids:
            raise Http404  # another workspace's id looks like one that does not exist
        workspace = next((w for w in workspaces if w.pk == chosen), workspaces[0])
        actor = acting(request, workspace.pk)
        custom_roles = list(CustomRole.objects.filter(workspace=workspace).order_by("name"))
        columns, rows = team.permission_matrix(custom_roles)
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "title": _("Team and roles"),
            "workspace": workspace, "workspaces": workspaces if len(workspaces) > 1 else [],
            "columns": columns, "rows": rows, "may_define_roles": roles.can(actor, roles.MANAGE_ROLES),
            "managing": [(label, team.manageable_roles_text(value)) for value, label in Role.choices if value in team.ADMIN_ROLES],
            "grantable": [roles.CAPABILITY_LABELS[c] for c in roles.CAPABILITY_LABELS if c in roles.GRANTABLE_BY_CUSTOM_ROLE],
        }
        return TemplateResponse(request, "admin/accounts/team.html", context)

    def import_csv(self, request):
        ids = self.workspace_ids(request)
        if not ids:
            return redirect("admin:index")
        form = CsvImportForm(request.POST or None, request.FILES or None, workspaces=Workspace.objects.filter(pk__in=ids))
        created = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                text = upload.read(2_000_000).decode("utf-8-sig")
                rows = chat_staff.bulk_create_agents(acting(request, form.cleaned_data["workspace"].pk), text)
                created = [(m, invite_url(request, secret)) for m, secret in rows]
                messages.success(request, _("%(n)s members created. Send each one their link to choose a password.") % {"n": len(created)})
            except UnicodeDecodeError:
                form.add_error("file", _("The file must be UTF-8 text."))
            except DomainError as exc:
                form.add_error("file", exc.message)
        context = {**self.admin_site.each_context(request), "form": form, "created": created, "opts": self.model._meta,
                   "title": _("Import members from CSV"), "columns": ",".join(chat_staff.CSV_COLUMNS)}
        return TemplateResponse(request, "admin/accounts/membership/import_csv.html", context)


class CsvImportForm(forms.Form):
    workspace = forms.ModelChoiceField(queryset=Workspace.objects.none(), label=_("workspace"))
    file = forms.FileField(label=_("CSV file"))

    def __init__(self, *args, workspaces, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workspace"].queryset = workspaces
        if len(workspaces) == 1:
            self.fields["workspace"].initial = workspaces[0].pk


class InviteForm(forms.ModelForm):
    class Meta:
        model = Invite
        fields = ["workspace", "email", "phone", "role", "display_name"]


@admin.register(Invite)
class InviteAdmin(ManageableRoleChoices, WorkspaceScopedAdmin):
    """Invitations by e-mail (sent) or phone (the link is shown to share, e.g. in WeChat)."""

    capability = roles.MANAGE_MEMBERS
    form = InviteForm
    list_display = ["__str__", "workspace", "role", "inviter", "created", "expires_at", "accepted_at"]

    def get_queryset(self, request):
        inviter = Membership.objects.filter(workspace_id=OuterRef("workspace_id"), user_id=OuterRef("invited_by_id"))
        return super().get_queryset(request).annotate(inviter_name=Subquery(inviter.values("display_name")[:1]))

    @admin.display(description=_("invited by"))
    def inviter(self, obj):
        if obj.invited_by is None:
            return "—"
        return getattr(obj, "inviter_name", "") or shown_name("", obj.invited_by)

    @admin.display(description=_("created at"), ordering="created_at")
    def created(self, obj):
        return obj.created_at
    list_filter = ["role", "workspace"]
    list_select_related = ["workspace", "invited_by"]

    def has_change_permission(self, request, obj=None):
        return obj is None and super().has_change_permission(request, obj)  # invitations are not edited

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        try:
            invite, secret = actions.invite_member(acting(request, obj.workspace_id), role=obj.role, email=obj.email,
                                                   phone=obj.phone, display_name=obj.display_name)
        except DomainError as exc:
            messages.error(request, exc.message)
            return
        obj.pk = invite.pk
        link = invite_url(request, secret)
        if invite.email:  # sent by a follow-up job once the admin's transaction commits
            invite_email.enqueue(invite, link, get_language())
        request._invite_link = link  # only the digest is stored: the page after the save shows it once

    def response_add(self, request, obj, post_url_continue=None):
        link = getattr(request, "_invite_link", None)
        if link is None:  # refused: the message says why
            return super().response_add(request, obj, post_url_continue)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "invite": obj, "link": link,
                   "title": _("Invitation created")}
        return TemplateResponse(request, "admin/accounts/invite/created.html", context)


class CustomRoleForm(forms.ModelForm):
    capabilities = forms.MultipleChoiceField(
        label=_("capabilities"),
        choices=[(c, label) for c, label in roles.CAPABILITY_LABELS.items() if c in roles.GRANTABLE_BY_CUSTOM_ROLE],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = CustomRole
        fields = ["workspace", "name", "capabilities"]

    def clean_name(self):
        name = (self.cleaned_data.get("name") or "").strip()
        if not name:
            raise forms.ValidationError(_("A name is required."))
        return name

    def clean(self):
        cleaned = super().clean()
        workspace = cleaned.get("workspace") or (self.instance.workspace if self.instance.pk else None)
        name = cleaned.get("name")
        if workspace is not None and name:
            taken = CustomRole.objects.filter(workspace=workspace, name=name).exclude(pk=self.instance.pk)
            if taken.exists():  # the database constraint still decides a race; this says it next to the field
                self.add_error("name", _("This workspace already has a custom role with this name."))
        return cleaned


@admin.register(CustomRole)
class CustomRoleAdmin(WorkspaceScopedAdmin):
    capability = roles.MANAGE_ROLES
    form = CustomRoleForm
    list_display = ["name", "workspace", "capabilities_in_words"]

    class Media:
        css = {"all": ["accounts/admin/team.css"]}

    @admin.display(description=_("capabilities"))
    def capabilities_in_words(self, obj):
        return "、".join(str(roles.CAPABILITY_LABELS[c]) for c in obj.capabilities or () if c in roles.CAPABILITY_LABELS) or "—"

    def get_readonly_fields(self, request, obj=None):
        return ["workspace"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        try:
            role = actions.define_custom_role(
                acting(request, obj.workspace_id), form.cleaned_data["name"], form.cleaned_data["capabilities"], role_id=obj.pk if change else None
            )
            obj.pk = role.pk
        except DomainError as exc:
            messages.error(request, exc.message)

    def delete_queryset(self, request, queryset):
        workspace_ids = set(queryset.values_list("workspace_id", flat=True))
        super().delete_queryset(request, queryset)  # a queryset delete: CustomRole.delete() is not called
        for workspace_id in workspace_ids:
            RoutingVersion.bump(workspace_id)


class NamedAuditChangeList(ChangeList):
    """Looks up the names of one page of rows at once (describe() itself is pure)."""

    def get_results(self, request):
        super().get_results(request)
        names = audit_text.names_for(self.result_list)
        for log in self.result_list:
            log._audit_names = names


@admin.register(AuditLog)
class AuditLogAdmin(WorkspaceScopedAdmin):
    """Founders read who changed what; nobody edits or deletes it here."""

    capability = roles.VIEW_AUDIT_LOG
    read_only = True
    list_display = ["created_at", "workspace", "sentence", "outcome"]
    list_filter = ["denied", "workspace"]
    search_fields = ["actor__username", "target_id"]
    list_select_related = ["workspace", "actor"]
    # The sentence says what changed; the stored before/after (codes) stay in the database for exports.
    fields = readonly_fields = ["created_at", "workspace", "sentence", "outcome"]

    def get_changelist(self, request, **kwargs):
        return NamedAuditChangeList

    @admin.display(description=_("what happened"))
    def sentence(self, obj):
        names = getattr(obj, "_audit_names", None)
        return audit_text.describe(obj, names if names is not None else audit_text.names_for([obj]))

    @admin.display(description=_("outcome"))
    def outcome(self, obj):
        # Words, not a red icon on every row: a refusal is marked, an allowed change is plain.
        if obj.denied:
            return format_html('<strong class="audit-refused">{}</strong>', _("Refused"))
        return _("Done")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
