"""Workspace and group quick phrases in the role-aware admin (the `configure` capability).
Personal phrases are each agent's own (managed in the console) and are not listed here.
Every write goes through replies.actions (validation, authorisation, audit); the form runs
the same validation first, so each error shows next to its input and nothing is stored."""

from types import SimpleNamespace

from django import forms
from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.admin_scope import ActionSavedAdmin, ActionValidatedForm, Refused, acting
from chat import uploads
from helpdesk.errors import DomainError

from . import actions as phrase_actions
from . import admin_replies  # noqa: F401  registers the auto-reply, hosting and sensitive-word pages
from .access import valid_at
from .access import validity as validity_of
from .models import QuickPhrase

SHARED_SCOPE_CHOICES = [(value, label) for value, label in QuickPhrase.Scope.choices if value != QuickPhrase.Scope.PERSONAL]
FORM_FIELD = {"attachment": "attachment_file"}  # action field -> form field, where they differ


class QuickPhraseForm(ActionValidatedForm):
    attachment_file = forms.FileField(label=_("attachment"), required=False,
                                      help_text=_("Optional: an image or file sent along with the text."))
    remove_attachment = forms.BooleanField(label=_("remove the attachment"), required=False)

    class Meta:
        model = QuickPhrase
        fields = ["workspace", "scope", "group", "category", "title", "shortcut", "body", "valid_from", "valid_until"]
        widgets = {"body": forms.Textarea(attrs={"rows": 5, "class": "vLargeTextField"})}
        help_texts = {
            "shortcut": _('Typed after "/" in the composer: letters, digits, hyphens and underscores.'),
            "body": _("{customer_name} and {agent_name} are filled in when the phrase is inserted."),
            "valid_until": _("Campaign phrases: shown only from the start until (not including) the end. Both empty: always."),
            "group": _("Group phrases only: the agents of this group use it."),
        }


    def clean(self):
        cleaned = super().clean()
        workspace_id = self.workspace_id()
        if workspace_id is None or self.errors:
            return cleaned
        attachment = {} if cleaned.get("remove_attachment") else (self.instance.attachment or {})
        group = cleaned.get("group")
        try:
            phrase_actions.clean_phrase(
                workspace_id, scope=cleaned.get("scope"), group_id=group.pk if group else None, title=cleaned.get("title"),
                shortcut=cleaned.get("shortcut"), body=cleaned.get("body"), category=cleaned.get("category"),
                attachment=attachment, valid_from=cleaned.get("valid_from"), valid_until=cleaned.get("valid_until"),
                phrase_id=self.instance.pk,
            )
        except phrase_actions.PhraseInvalid as exc:
            for field, message in exc.errors.items():
                field = FORM_FIELD.get(field, field)
                self.add_error(field if field in self.fields else None, message)
            return cleaned
        upload = cleaned.get("attachment_file")
        if upload:
            try:  # stored only once everything else is valid
                attachment = uploads.store_upload(SimpleNamespace(workspace_id=workspace_id), upload)
            except DomainError as exc:
                self.add_error("attachment_file", exc.message)
        cleaned["attachment"] = attachment
        return cleaned


class ValidityFilter(admin.SimpleListFilter):
    title = _("validity")
    parameter_name = "validity"

    def lookups(self, request, model_admin):
        return [("now", _("Valid now")), ("scheduled", _("Scheduled")), ("expired", _("Expired"))]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "now":
            return queryset.filter(valid_at(now))
        if self.value() == "scheduled":
            return queryset.filter(valid_from__gt=now)
        if self.value() == "expired":
            return queryset.filter(valid_until__lte=now)
        return queryset


@admin.register(QuickPhrase)
class QuickPhraseAdmin(ActionSavedAdmin):
    form = QuickPhraseForm
    delete_action, delete_audit_name = staticmethod(phrase_actions.delete_phrase), "phrase.delete"
    list_display = ["shortcut_display", "title", "scope", "group", "category", "validity", "usage_count", "workspace"]
    list_display_links = ["shortcut_display", "title"]
    list_filter = ["scope", "group", ValidityFilter, "category", "workspace"]
    search_fields = ["shortcut", "title", "body", "category"]
    list_select_related = ["group", "workspace"]
    ordering = ["workspace", "category", "shortcut", "pk"]
    readonly_fields = ["attachment_link", "usage_count"]

    def get_queryset(self, request):
        # Personal phrases are the agents' own: not listed, and their ids are "not found" here.
        return super().get_queryset(request).exclude(scope=QuickPhrase.Scope.PERSONAL)

    def get_fields(self, request, obj=None):
        fields = ["workspace", "scope", "group", "category", "title", "shortcut", "body", "attachment_link", "attachment_file",
                  "remove_attachment", "valid_from", "valid_until"]
        return fields + ["usage_count"] if obj is not None else fields

    def get_readonly_fields(self, request, obj=None):
        return ["workspace", *self.readonly_fields] if obj is not None else list(self.readonly_fields)

    def formfield_for_choice_field(self, db_field, request, **kwargs):
        if db_field.name == "scope":
            kwargs["choices"] = SHARED_SCOPE_CHOICES
        return super().formfield_for_choice_field(db_field, request, **kwargs)

    @admin.display(description=_("shortcut"), ordering="shortcut")
    def shortcut_display(self, obj):
        return f"/{obj.shortcut}"

    @admin.display(description=_("validity"))
    def validity(self, obj):
        if obj.valid_from is None and obj.valid_until is None:
            return _("Always")
        state = validity_of(obj)
        label = {"scheduled": _("Scheduled"), "expired": _("Expired"), "": _("Valid now")}[state]
        start = timezone.localtime(obj.valid_from).strftime("%Y-%m-%d %H:%M") if obj.valid_from else "…"
        end = timezone.localtime(obj.valid_until).strftime("%Y-%m-%d %H:%M") if obj.valid_until else "…"
        return f"{label} ({start} – {end})"

    @admin.display(description=_("current attachment"))
    def attachment_link(self, obj):
        attachment = (obj.attachment or {}) if obj is not None else {}
        if not attachment.get("url"):
            return "-"
        return format_html('<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>', attachment["url"], attachment.get("name") or attachment["url"])

    # --- writes through replies.actions ------------------------------------------------

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        workspace_id = obj.workspace_id
        group = data.get("group")
        try:
            saved = phrase_actions.save_phrase(
                acting(request, workspace_id), obj.pk if change else None, scope=data["scope"], group_id=group.pk if group else None,
                title=data["title"], shortcut=data["shortcut"], body=data["body"], category=data.get("category", ""),
                attachment=data.get("attachment", obj.attachment), valid_from=data.get("valid_from"), valid_until=data.get("valid_until"),
            )
        except DomainError as exc:
            raise Refused(exc, "phrase.change" if change else "phrase.add") from None
        obj.pk = saved.pk
        obj._state.adding = False
