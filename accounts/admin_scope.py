"""Role-aware Django admin: the site, and a base ModelAdmin that shows and accepts
only rows of workspaces where the user holds the page's capability.

- Admin access needs the `use_admin` capability in some workspace (founder,
  senior admin, admin) or a superuser; is_staff is not consulted.
- Another workspace's object id in a URL is a 404 (never a redirect or 403) and
  is audited; a tampered workspace/role/user field is a form error and audited.
- Every relation field of every form (inlines included) offers only rows of the user's
  workspaces, a typed id of another's shows no label, and a save that names a row
  outside the object's own workspace is a form error on that field.
"""

import copy
from contextlib import contextmanager
from functools import wraps

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.widgets import ForeignKeyRawIdWidget
from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist, PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from helpdesk.errors import DomainError

from . import access, actions, roles
from .models import AuditLog, Membership, Workspace, shown_name

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

    def get_app_list(self, request, app_label=None):
        # Installation-level apps (users and groups, axes, TOTP devices: superusers only, see admin_view)
        # read as one translated section instead of AXES, OTP_TOTP, 认证和授权.
        apps = super().get_app_list(request, app_label)
        if app_label is not None:
            return apps
        security = [model for app in apps for model in app["models"]
                    if model.get("model") in self._registry and not isinstance(self._registry[model["model"]], WorkspaceScopedAdmin)]
        if not security:
            return apps
        kept = [{**app, "models": [m for m in app["models"] if m not in security]} for app in apps]
        kept = [app for app in kept if app["models"]]
        for model in security:  # django-otp names its model in untranslatable English
            model["name"] = _("TOTP devices") if model["object_name"] == "TOTPDevice" else model["name"]
        security.sort(key=lambda model: str(model["name"]))
        return [*kept, {"name": _("Security"), "app_label": "security", "app_url": security[0]["admin_url"], "has_module_perms": True,
                        "models": security}]

    def _build_app_dict(self, request, label=None):
        # The team and roles page (a view of the members admin, no model of its own) is listed with
        # the accounts models, so the index and the app page link to it for those who manage members.
        app_dict = super()._build_app_dict(request, label)
        accounts = app_dict if label == "accounts" else (app_dict or {}).get("accounts")
        if accounts and any(m["object_name"] == "Membership" for m in accounts["models"]):
            accounts["models"].append({
                "model": None, "name": _("Team and roles"), "object_name": "TeamAndRoles", "perms": {"view": True},
                "admin_url": reverse("admin:accounts_membership_team", current_app=self.name), "add_url": None, "view_only": True,
            })
        return app_dict

    def admin_view(self, view, cacheable=False):
        # Installation-level admins (auth, axes, otp: not workspace-scoped) are for superusers only,
        # refused before any lookup: their stock views answer a missing id unlike an existing one
        # (history: a redirect, TOTP config/qrcode: a 500), which let workspace admins probe ids.
        owner = getattr(view, "__self__", None)
        if isinstance(owner, admin.ModelAdmin) and not isinstance(owner, WorkspaceScopedAdmin):
            installation_view = view

            @wraps(installation_view)
            def view(request, *args, **kwargs):
                if not request.user.is_superuser:
                    raise PermissionDenied
                return installation_view(request, *args, **kwargs)

        return super().admin_view(view, cacheable)

    def logout(self, request, extra_context=None):
        # As the site's logout (accounts.views.LogoutView): the ended session's sockets close.
        user_id = request.user.pk if request.user.is_authenticated else None
        response = super().logout(request, extra_context)
        if user_id is not None and request.method == "POST":
            actions.sign_in_changed(user_id)
        return response

    def password_change(self, request, extra_context=None):
        # As the site's password change: the sockets of the user's other sessions close.
        response = super().password_change(request, extra_context)
        if request.method == "POST" and response.status_code == 302:  # stored (a refused form renders 200)
            actions.sign_in_changed(request.user.pk)
        return response


class ScopedRelatedFilter(admin.RelatedFieldListFilter):
    """A sidebar filter that lists only the user's workspaces (or their rows, or members), never another's names."""

    def field_choices(self, field, request, model_admin):
        rows = rows_in(field.related_model, model_admin.workspace_ids(request), model_admin.admin_site)
        return [(row.pk, str(row)) for row in rows]


# --- relation fields: offered, shown and saved only within the workspace ---------------------


def workspace_path_of(model, admin_site):
    """The lookup from `model` to its workspace, or None when its rows are nobody's (auth permissions)."""
    try:
        if model._meta.get_field("workspace").related_model is Workspace:
            return "workspace"
    except FieldDoesNotExist:
        pass
    model_admin = admin_site._registry.get(model)
    return model_admin.workspace_path if isinstance(model_admin, WorkspaceScopedAdmin) else None


def is_workspace_data(model, admin_site):
    return model is Workspace or model is get_user_model() or workspace_path_of(model, admin_site) is not None


def rows_in(model, workspace_ids, admin_site):
    """The rows of `model` that belong to these workspaces (users: their members); None if not workspace data."""
    if model is Workspace:
        return model._default_manager.filter(pk__in=workspace_ids)
    if model is get_user_model():
        return model._default_manager.filter(pk__in=Membership.objects.filter(workspace_id__in=workspace_ids).values("user_id"))
    path = workspace_path_of(model, admin_site)
    return None if path is None else model._default_manager.filter(**{f"{path}__in": workspace_ids})


class ScopedRawIdWidget(ForeignKeyRawIdWidget):
    """A typed id is labelled (and linked) only if it is a row the field may offer: the stock
    widget names any row of the installation."""

    def __init__(self, widget, offered):
        super().__init__(widget.rel, widget.admin_site, widget.attrs, widget.db)
        self.offered = offered

    def label_and_url_for_value(self, value):
        try:
            offered = self.offered.filter(**{self.rel.get_related_field().name: value}).exists()
        except (ValueError, TypeError, forms.ValidationError):
            offered = False
        return super().label_and_url_for_value(value) if offered else ("", "")


class MemberNames:
    """A user picker shows members by the name their workspace knows them by (Membership.display_name),
    looked up once per page when the picker first renders, not by login name."""

    def __init__(self, workspace_ids):
        self.workspace_ids, self.names = list(workspace_ids), None

    def __call__(self, user):
        if self.names is None:
            self.names = {}
            for user_id, name in Membership.objects.filter(workspace_id__in=self.workspace_ids).order_by("-pk").values_list(
                    "user_id", "display_name"):
                self.names[user_id] = name or self.names.get(user_id, "")
        return shown_name(self.names.get(user.pk, ""), user)


def scope_relation_fields(fields, workspace_ids, admin_site):
    """Restrict every relation field (FK, one-to-one, many-to-many) to rows of these workspaces;
    user pickers name members by display name."""
    for name, field in list(fields.items()):
        if not isinstance(field, forms.ModelChoiceField):
            continue
        if field.queryset.model is get_user_model() and not isinstance(field.label_from_instance, MemberNames):
            fields[name] = field = copy.deepcopy(field)
            field.label_from_instance = MemberNames(workspace_ids)
        allowed = rows_in(field.queryset.model, workspace_ids, admin_site)
        if allowed is None:
            continue
        # A copy: a field declared on a form class is shared by every request (and user).
        fields[name] = field = copy.deepcopy(field)
        field.queryset = field.queryset.filter(pk__in=allowed.values("pk"))
        if type(field.widget) is ForeignKeyRawIdWidget:  # the many-to-many raw-id widget names nothing
            field.widget = ScopedRawIdWidget(field.widget, field.queryset)


def refuse_other_workspaces(form, workspace_id, admin_site, new_member_fields=()):
    """A field error on every relation field naming a row outside `workspace_id` (for users: a
    non-member, unless the field names who is becoming one). An owner of several workspaces is
    offered rows of all of them; one object must not mix them."""
    for name, field in form.fields.items():
        value = form.cleaned_data.get(name)  # absent once the field has an error of its own
        if not isinstance(field, forms.ModelChoiceField) or not value:
            continue
        chosen = {row.pk for row in value} if isinstance(field, forms.ModelMultipleChoiceField) else {value.pk}
        model = field.queryset.model
        if model is get_user_model() and name in new_member_fields:
            continue
        allowed = rows_in(model, [workspace_id], admin_site)
        if allowed is not None and allowed.filter(pk__in=chosen).count() != len(chosen):
            message = _("Select a member of this workspace.") if model is get_user_model() else _("Select an item of this workspace.")
            form.add_error(name, forms.ValidationError(message, code="other_workspace"))


class SameWorkspaceRelationsForm:
    """Mixed into each admin page's form by WorkspaceScopedAdmin.get_form."""

    scope_admin = None

    def clean(self):
        cleaned = super().clean()
        workspace_id = self.scope_admin.form_workspace_id(self)
        if workspace_id is not None:
            refuse_other_workspaces(self, workspace_id, self.scope_admin.admin_site, self.scope_admin.new_member_fields)
        return cleaned


def _without_field(fields, name):
    kept = []
    for entry in fields:
        if isinstance(entry, list | tuple):
            entry = type(entry)(f for f in entry if f != name)
            if entry:
                kept.append(entry)
        elif entry != name:
            kept.append(entry)
    return kept


class SameWorkspaceRelationsFormSet:
    """Mixed into each inline formset: its rows relate only to the parent object's workspace."""

    scope_admin = None

    def clean(self):
        super().clean()
        workspace_id = self.scope_admin.workspace_id_or_none(self.instance)
        if workspace_id is None:
            return
        for form in self.forms:
            if hasattr(form, "cleaned_data") and not (self.can_delete and self._should_delete_form(form)):
                refuse_other_workspaces(form, workspace_id, self.scope_admin.admin_site)


# Django 5.2 admin strings its zh-Hans and zh-Hant catalogues lack (the app list's hidden table headers):
# named here so our catalogue translates them.
DJANGO_ADMIN_STRINGS = (gettext_noop("Model name"), gettext_noop("Add link"), gettext_noop("Change or view list link"))
# django-axes' model names, which it translates into neither Chinese (the 安全 section).
AXES_STRINGS = (gettext_noop("access attempt"), gettext_noop("access attempts"), gettext_noop("access failure"),
                gettext_noop("access failures"), gettext_noop("access log"), gettext_noop("access logs"))


def label_split_date_times(fields):
    """Django's date-and-time widget labels only its first input: name both (axe-core: label)."""
    for field in fields.values():
        widget = getattr(field.widget, "widget", field.widget)
        if isinstance(widget, forms.SplitDateTimeWidget):
            date_input, time_input = widget.widgets
            date_input.attrs = {**date_input.attrs, "aria-label": _("%(field)s: date") % {"field": field.label}}
            time_input.attrs = {**time_input.attrs, "aria-label": _("%(field)s: time") % {"field": field.label}}


class LabelledRowsMixin:
    """A tabular inline shows one column header, no label per row: each input gets an accessible name
    with its row number, so screen readers (and axe-core's `label` rule) know what it is."""

    def add_fields(self, form, index):
        super().add_fields(form, index)
        row = _("row %(n)s") % {"n": index + 1} if index is not None else _("new row")
        for name, field in form.fields.items():
            if field.widget.is_hidden:
                continue
            label = _("Delete") if name == "DELETE" else field.label
            widget = getattr(field.widget, "widget", field.widget)  # the select inside admin's related-object wrapper
            widget.attrs = {**widget.attrs, "aria-label": f"{label} ({row})"}


class ParentRightsInline:
    """For an inline: the rights of the page it sits on (that page's capability), not Django's
    per-model permissions. Adding rows to a new parent follows the right to add the parent."""

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        return type(formset.__name__, (LabelledRowsMixin, formset), {})

    def parent_admin(self):
        return self.admin_site._registry[self.parent_model]

    def has_view_permission(self, request, obj=None):
        return self.parent_admin().has_view_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self.parent_admin().has_change_permission(request, obj)

    def has_add_permission(self, request, obj=None):
        return self.parent_admin().has_add_permission(request) if obj is None else self.has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)


class WorkspaceScopedAdmin(admin.ModelAdmin):
    """Rows are visible and editable only in workspaces where the user holds `capability`."""

    capability = roles.CONFIGURE
    workspace_path = "workspace"  # lookup from the model to its workspace
    read_only = False
    audit_name = None  # e.g. "inbox": saves are audited as inbox.add / inbox.change with before/after
    new_member_fields = ()  # user fields naming who becomes a member (not one yet): the membership page's "user"

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

    def single_workspace_id(self, request):
        """The workspace of a member who configures exactly one (most merchants): their pages show
        no workspace field, column or filter; a new object's field is hidden and preset."""
        ids = self.workspace_ids(request)
        return ids[0] if len(ids) == 1 and self.workspace_path == "workspace" else None

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.single_workspace_id(request) is None:  # a new object's field is hidden (get_form)
            return fieldsets
        return [(name, {**options, "fields": _without_field(options["fields"], "workspace")}) for name, options in fieldsets]

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        return [f for f in shown if f != "workspace"] if self.single_workspace_id(request) is not None else shown

    def get_list_filter(self, request):
        scoped = []
        entries = super().get_list_filter(request)
        if self.single_workspace_id(request) is not None:
            entries = [e for e in entries if e != "workspace"]
        for entry in entries:
            field = self.model._meta.get_field(entry) if isinstance(entry, str) and "__" not in entry else None
            related = getattr(field, "related_model", None)
            if related is not None and is_workspace_data(related, self.admin_site):
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

    # Relation fields are scoped on the finished form classes, so a subclass's own formfield_for_*
    # (or a declared form field) cannot widen them, and inlines need nothing of their own.
    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form = type(form)(form.__name__, (SameWorkspaceRelationsForm, form), {"__module__": form.__module__, "scope_admin": self})
        if "workspace" in form.base_fields:
            form.base_fields["workspace"].label = _("workspace")  # the models' foreign keys carry no translated name
        label_split_date_times(form.base_fields)
        single = self.single_workspace_id(request)
        if single is not None and "workspace" in form.base_fields:  # set for them, still validated (tampering is refused)
            form.base_fields["workspace"].widget = forms.HiddenInput()
            form.base_fields["workspace"].initial = single
        scope_relation_fields(form.base_fields, self.workspace_ids(request), self.admin_site)
        return form

    def get_formsets_with_inlines(self, request, obj=None):
        for formset, inline in super().get_formsets_with_inlines(request, obj):
            scope_relation_fields(formset.form.base_fields, self.workspace_ids(request), self.admin_site)
            yield type(formset.__name__, (SameWorkspaceRelationsFormSet, formset), {"scope_admin": self}), inline

    def workspace_id_or_none(self, obj):
        try:
            return self.workspace_of(obj)
        except (ObjectDoesNotExist, AttributeError):  # an object not built yet (its own form is invalid)
            return None

    def form_workspace_id(self, form):
        """The workspace of the object a form saves: its own once stored, else the one chosen on the form."""
        if not form.instance._state.adding:
            return self.workspace_id_or_none(form.instance)
        first, *rest = self.workspace_path.split("__")
        value = form.cleaned_data.get(first)
        for part in rest:
            value = getattr(value, part, None)
        return getattr(value, "pk", value)

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
