"""Role-aware Django admin: the site, and a base ModelAdmin that shows and accepts
only rows of workspaces where the user holds the page's capability.

- Admin access needs the `use_admin` capability in some workspace (founder,
  senior admin, admin) or a superuser; is_staff is not consulted.
- Another workspace's object id in a URL is a 404 (never a redirect or 403) and
  is audited; a tampered workspace/role/user field is a form error and audited.
"""

from contextlib import contextmanager

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.http import Http404, HttpResponseRedirect
from django.utils.translation import gettext_lazy as _

from helpdesk.errors import DomainError

from . import access, actions, roles
from .models import AuditLog

PROTECTED_FIELDS = ("workspace", "role", "user", "custom_role", "inbox", "customer")


class UnknownObject(Http404):
    def __init__(self, detail):
        super().__init__()
        self.detail = detail


class RoleAwareLoginForm(AdminAuthenticationForm):
    def confirm_login_allowed(self, user):
        if not user.is_active or not user_may_use_admin(user):
            raise forms.ValidationError(self.error_messages["invalid_login"], code="invalid_login", params={"username": self.username_field.verbose_name})


def user_may_use_admin(user):
    return user.is_active and (user.is_superuser or bool(access.workspace_ids_where(user, roles.USE_ADMIN)))


class HelpdeskAdminSite(admin.AdminSite):
    site_header = _("Helpdesk administration")
    site_title = _("Helpdesk")
    index_title = _("Workspace settings")
    login_form = RoleAwareLoginForm

    def has_permission(self, request):
        return user_may_use_admin(request.user)


class ScopedRelatedFilter(admin.RelatedFieldListFilter):
    """A sidebar filter that lists only the user's workspaces (or their rows), never another's names."""

    def field_choices(self, field, request, model_admin):
        ids = model_admin.workspace_ids(request)
        related = field.related_model
        if related._meta.label_lower == "accounts.workspace":
            rows = related.objects.filter(pk__in=ids)
        else:
            rows = related.objects.filter(workspace_id__in=ids)
        return [(row.pk, str(row)) for row in rows]


class WorkspaceScopedAdmin(admin.ModelAdmin):
    """Rows are visible and editable only in workspaces where the user holds `capability`."""

    capability = roles.CONFIGURE
    workspace_path = "workspace"  # lookup from the model to its workspace
    read_only = False
    audit_name = None  # e.g. "inbox": saves are audited as inbox.add / inbox.change with before/after

    def save_model(self, request, obj, form, change):
        before = {f: str(form.initial.get(f)) for f in form.changed_data} if change else {}
        super().save_model(request, obj, form, change)
        if self.audit_name and (form.changed_data or not change):
            actor = access.acting_membership(request, self.workspace_of(obj))
            actions.audit(actor, f"{self.audit_name}.{'change' if change else 'add'}", target=obj, before=before,
                          after={f: str(form.cleaned_data.get(f)) for f in form.changed_data})

    def workspace_ids(self, request, capability=None):
        capability = capability or self.capability
        cache = request.__dict__.setdefault("_workspace_ids", {})
        if capability not in cache:
            cache[capability] = access.workspace_ids_where(request.user, capability)
        return cache[capability]

    def workspace_of(self, obj):
        value = obj
        for part in self.workspace_path.split("__"):
            value = getattr(value, part)
        return value.pk if hasattr(value, "pk") else value

    def get_queryset(self, request):
        return super().get_queryset(request).filter(**{f"{self.workspace_path}__in": self.workspace_ids(request)})

    def get_list_filter(self, request):
        scoped = []
        for entry in super().get_list_filter(request):
            field = self.model._meta.get_field(entry) if isinstance(entry, str) and "__" not in entry else None
            related = getattr(field, "related_model", None)
            if related is not None and (related._meta.label_lower == "accounts.workspace" or any(f.name == "workspace" for f in related._meta.get_fields())):
                entry = (entry, ScopedRelatedFilter)
            scoped.append(entry)
        return scoped

    def has_module_permission(self, request):
        return bool(self.workspace_ids(request))

    def has_view_permission(self, request, obj=None):
        return bool(self.workspace_ids(request)) and (obj is None or self.workspace_of(obj) in self.workspace_ids(request))

    def has_change_permission(self, request, obj=None):
        return not self.read_only and self.has_view_permission(request, obj)

    def has_add_permission(self, request):
        return not self.read_only and bool(self.workspace_ids(request))

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        ids = self.workspace_ids(request)
        if related._meta.label_lower == "accounts.workspace":
            kwargs["queryset"] = related.objects.filter(pk__in=ids)
        elif any(f.name == "workspace" for f in related._meta.get_fields()):
            kwargs["queryset"] = related.objects.filter(workspace_id__in=ids)
        elif related._meta.label_lower == "auth.user":
            kwargs["queryset"] = related.objects.filter(memberships__workspace_id__in=ids).distinct()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Django would redirect with a message; an id from another workspace must look
        # exactly like one that does not exist. Audited by the view, outside its transaction.
        raise UnknownObject({"model": opts.label_lower, "id": str(object_id)[:60]})

    def delete_view(self, request, object_id, extra_context=None):
        with self.auditing_unknown_objects(request):
            return super().delete_view(request, object_id, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        with self.auditing_unknown_objects(request):
            return super().history_view(request, object_id, extra_context)

    @contextmanager
    def auditing_unknown_objects(self, request):
        try:
            yield
        except UnknownObject as exc:
            self.audit_refusal(request, "admin.unknown_object", exc.detail)
            raise Http404 from None

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        with self.auditing_unknown_objects(request):
            response = super().changeform_view(request, object_id, form_url, extra_context)
        context = getattr(response, "context_data", None) or {}
        adminform = context.get("adminform")
        if request.method == "POST" and adminform is not None:
            tampered = [name for name in PROTECTED_FIELDS if name in adminform.form.errors]
            if tampered:
                posted = {name: request.POST.get(name, "")[:60] for name in tampered}
                self.audit_refusal(request, "admin.rejected_field", {"model": self.model._meta.label_lower, "fields": posted})
        return response

    def audit_refusal(self, request, action, detail):
        ids = self.workspace_ids(request) or access.workspace_ids_where(request.user, roles.SERVE_CHATS)
        if ids:
            AuditLog.objects.create(workspace_id=ids[0], actor=request.user, action=action, after={"refused": detail}, denied=True)


# --- admins whose writes go through an app's actions ------------------------------------------


def acting(request, workspace_id):
    """The membership an admin page acts as in the workspace of the object it changes."""
    return access.acting_membership(request, workspace_id)


class Refused(Exception):
    """A DomainError from an action after the forms were valid (e.g. a slug taken meanwhile):
    the admin's transaction is rolled back and the page shows the message."""

    def __init__(self, error, action):
        super().__init__(error.code)
        self.error, self.action = error, action


class ActionValidatedForm(forms.ModelForm):
    """Uniqueness is checked by the action's validators in clean() (and the database
    constraint), not by ModelForm's generic unique check."""

    def validate_unique(self):
        pass

    def workspace_id(self):
        if self.instance.pk:
            return self.instance.workspace_id
        workspace = self.cleaned_data.get("workspace")
        return workspace.pk if workspace is not None else None


class ActionSavedAdmin(WorkspaceScopedAdmin):
    """Saves and deletes go through the app's actions; a refusal raised after validation
    rolls the admin's transaction back, is audited, and the page shows why."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except Refused as exc:
            return self._refused(request, exc)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except Refused as exc:
            return self._refused(request, exc)

    delete_action = None  # actions.delete_<kind>(actor, id), set by each admin
    delete_audit_name = ""

    def delete_model(self, request, obj):
        try:
            self.delete_action(acting(request, obj.workspace_id), obj.pk)
        except DomainError as exc:
            raise Refused(exc, self.delete_audit_name) from None

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            try:
                self.delete_action(acting(request, obj.workspace_id), obj.pk)
            except DomainError as exc:
                messages.error(request, f"{obj}: {exc.message}")

    def _refused(self, request, exc):
        self.audit_refusal(request, exc.action, {"code": exc.error.code})  # the action's own audit row was rolled back
        messages.error(request, exc.error.message)
        return HttpResponseRedirect(request.get_full_path())
