from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.conf import settings
from django.contrib.auth import get_user_model
from django.forms.models import BaseInlineFormSet
from django.utils import timezone
from django.template.loader import render_to_string
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from accounts import actions as account_actions
from accounts import roles
from accounts.admin_scope import ParentRightsInline, WorkspaceScopedAdmin, acting
from helpdesk.errors import DomainError

from . import avatars, widget_snippets, wrapup
from .avatar_form import AvatarField
from .hours_form import BUSINESS_HOURS_FIELDS, BusinessHoursFormMixin
from .prechat_form import PrechatFieldsField, key_choices_for
from .models import (Conversation, ConversationEvent, Customer, Disposition, Inbox, InboxUserPermission, Message, SatisfactionRating,
                     WrapUpSettings)
from .staff import set_inbox_access


class ObjectAccessInline(ParentRightsInline, admin.TabularInline):
    """Who holds an object permission; saved through an audited action (audit, live revocation)."""

    extra = 0
    fields = ["user"]
    set_access = None  # e.g. chat.staff.set_inbox_access(actor, object_id, membership_id, granted)

    # Granting and revoking are changes to the parent page, whatever the parent's add right.
    def has_add_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            ids = self.parent_admin().workspace_ids(request)
            kwargs["queryset"] = get_user_model().objects.filter(memberships__workspace_id__in=ids).distinct()
            kwargs["label"] = _("member")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def save_access_formset(request, formset, parent, set_access):
    """Grant what was added, revoke what was deleted, each through the audited action."""
    actor = acting(request, parent.workspace_id)
    formset.save(commit=False)
    changes = [(row.user_id, False) for row in formset.deleted_objects] + [(row.user_id, True) for row in formset.new_objects]
    for user_id, granted in changes:
        try:
            set_access(actor, parent.pk, account_actions.membership_id_of(actor, user_id), granted)
        except DomainError as exc:
            messages.error(request, exc.message)


class InboxAccessInline(ObjectAccessInline):
    model = InboxUserPermission
    verbose_name = _("agent serving this inbox")
    verbose_name_plural = _("agents serving this inbox")


class InboxForm(BusinessHoursFormMixin, forms.ModelForm):
    prechat_fields = PrechatFieldsField(
        label=_("pre-chat form fields"),
        help_text=_("Questions the customer answers before the chat starts, in the order of their numbers. No question: no form."))
    widget_avatar = AvatarField(
        label=_("avatar"), required=False,
        help_text=_("Your logo or a picture of your team, shown in the chat window's header and beside agents' messages. "
                    "PNG, JPEG or WebP, at most 1 MB and 1024 × 1024 pixels; square looks best. Empty: no picture."))
    avatar_change = None  # (old, new) storage names once a new picture is stored or the old one removed

    class Meta:
        model = Inbox
        fields = ["workspace", "name", "kind", "bot_first", "leave_message_when_nobody_online",
                  "answer_timeout_marks_away", "widget_title", "widget_color", "widget_position", "widget_launcher_text",
                  "widget_greeting", "widget_language", "prechat_fields", "csat_enabled"]
        exclude = ["widget_avatar"]  # set by _store_avatar, never from the posted value (also on the admin's form)
        widgets = {"widget_color": forms.TextInput(attrs={"type": "color"}), "widget_position": forms.RadioSelect}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["prechat_fields"].set_key_choices(key_choices_for(self.instance.prechat_fields))
        self.initial.setdefault("widget_avatar", self.instance.widget_avatar)

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            self.instance.business_hours = self.business_hours_config()
        return cleaned

    def full_clean(self):
        super().full_clean()
        if self.is_bound and not self._errors:
            self._store_avatar()

    def _store_avatar(self):
        """After every other check (the model's too), so a refused form stores nothing; an invalid
        inline row after this leaves an unattached upload, which the sweep deletes. The field then
        holds the storage name the inbox saves (and the audit shows)."""
        value, old = self.cleaned_data.get("widget_avatar"), self.instance.widget_avatar
        if isinstance(value, str):
            return
        new = ""
        if value:  # the checked picture without its metadata (AvatarField); False or None: no picture
            try:
                new = avatars.store(self.instance.workspace_id, value, value.avatar_ext)
            except forms.ValidationError as exc:
                self.add_error("widget_avatar", exc)
                return
        self.cleaned_data["widget_avatar"] = self.instance.widget_avatar = new
        if new != old:
            self.avatar_change = (old, new)

    def save(self, commit=True):
        inbox = super().save(commit)
        if self.avatar_change:
            avatars.replace(inbox.workspace_id, *self.avatar_change)
        return inbox


def _as_readonly(html):
    """The admin turns newlines of a read-only value into <br>: code blocks keep theirs as entities."""
    return mark_safe(html.replace("\n", "&#10;"))  # rendered by our template, escaped there


@admin.register(Inbox)
class InboxAdmin(WorkspaceScopedAdmin):
    form = InboxForm
    list_display = ["name", "workspace", "kind", "public_key", "bot_first"]
    list_filter = ["kind", "workspace"]
    readonly_fields = ["public_key", "widget_preview", "embed_code"]
    inlines = [InboxAccessInline]
    audit_name = "inbox"
    fieldsets = [
        (None, {"fields": ["workspace", "name", "kind", "public_key", "bot_first", "leave_message_when_nobody_online",
                           "answer_timeout_marks_away"]}),
        (_("Business hours"), {"fields": BUSINESS_HOURS_FIELDS, "classes": ["business-hours"]}),
        (_("Widget"), {"fields": ["widget_title", "widget_avatar", "widget_color", "widget_position", "widget_launcher_text", "widget_greeting",
                                  "widget_language", "widget_preview", "prechat_fields", "csat_enabled"]}),
        (_("Put the chat on your site"), {"fields": ["embed_code"]}),
    ]

    @admin.display(description=_("Preview"))
    def widget_preview(self, inbox):
        return _as_readonly(render_to_string("admin/chat/inbox/_widget_preview.html", {"inbox": inbox}))

    @admin.display(description=_("Code for your site"))
    def embed_code(self, inbox):
        origin = settings.SITE_URL.rstrip("/") if getattr(settings, "SITE_URL", "") else "{origin}"
        return _as_readonly(render_to_string("admin/chat/inbox/_embed_code.html", {
            "embed": widget_snippets.EMBED.format(origin=origin, key=inbox.public_key), "page_identity": widget_snippets.PAGE_IDENTITY,
            "server": widget_snippets.SERVER.items(), "env": widget_snippets.SECRET_ENV, "secret": inbox.secret}))

    def get_readonly_fields(self, request, obj=None):
        shown = ["public_key", "widget_preview", "embed_code"]
        return [*shown, "workspace"] if obj is not None else shown

    def save_formset(self, request, form, formset, change):
        save_access_formset(request, formset, form.instance, set_inbox_access)

    def delete_model(self, request, obj):
        avatars.discard(obj.workspace_id, obj.widget_avatar)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for workspace_id, name in queryset.exclude(widget_avatar="").values_list("workspace_id", "widget_avatar"):
            avatars.discard(workspace_id, name)
        super().delete_queryset(request, queryset)


@admin.register(Customer)
class CustomerAdmin(WorkspaceScopedAdmin):
    capability = roles.VIEW_ALL_HISTORY
    read_only = True
    list_display = ["__str__", "workspace", "external_id", "created_at"]
    search_fields = ["name", "external_id"]
    list_select_related = ["workspace"]


class MessageInline(admin.TabularInline):
    model = Message
    extra = 0
    can_delete = False
    fields = ["seq", "sender_kind", "sender_name", "msg_type", "body", "is_private", "recalled_at", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


class EventInline(admin.TabularInline):
    model = ConversationEvent
    extra = 0
    can_delete = False
    fields = ["kind", "from_state", "to_state", "actor_kind", "actor_user", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Conversation)
class ConversationAdmin(WorkspaceScopedAdmin):
    """Read-only: conversation writes go through chat.actions (seq, events, fan-out)."""

    capability = roles.VIEW_ALL_HISTORY
    read_only = True
    list_display = ["pk", "inbox", "customer", "state", "assignee", "last_message_at"]
    list_filter = ["state", "inbox"]
    list_select_related = ["inbox", "customer", "assignee"]
    fields = ["workspace", "inbox", "customer", "state", "assignee", "group", "last_seq", "first_response_at", "resolved_at", "disposition",
              "entry_page"]
    readonly_fields = fields
    inlines = [MessageInline, EventInline]


@admin.register(SatisfactionRating)
class SatisfactionRatingAdmin(WorkspaceScopedAdmin):
    """Read-only: ratings are written by customers through chat.actions.rate_conversation."""

    capability = roles.VIEW_ALL_HISTORY
    workspace_path = "conversation__workspace"
    read_only = True
    list_display = ["conversation", "rating", "agent", "customer", "created_at"]
    list_select_related = ["conversation__customer", "agent", "customer"]
    fields = ["conversation", "customer", "agent", "rating", "comment", "created_at"]
    readonly_fields = fields


# --- 咨询分类: the wrap-up categories agents choose from at resolve -------------------------------

REPORT_DAYS = 30


class DispositionFormSet(BaseInlineFormSet):
    """The list as the owner edits it: each name once (ignoring case and surrounding spaces)."""

    def clean(self):
        seen = set()  # before the generic unique check, which would only say "duplicate data"
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or (self.can_delete and self._should_delete_form(form)):
                continue
            name = (form.cleaned_data.get("name") or "").strip()
            if not name:
                continue
            form.cleaned_data["name"] = form.instance.name = name
            if name.casefold() in seen:
                form.add_error("name", _("This category is already in the list."))
            seen.add(name.casefold())
        super().clean()


class DispositionInline(ParentRightsInline, admin.TabularInline):
    model = Disposition
    formset = DispositionFormSet
    fields = ["name", "position", "is_active"]
    extra = 3
    verbose_name = _("wrap-up category")
    verbose_name_plural = _("wrap-up categories (in the order agents see them)")


def _names(wrap_up_id):
    return list(Disposition.objects.filter(wrap_up_id=wrap_up_id).order_by("position", "pk").values_list("name", "is_active"))


@admin.register(WrapUpSettings)
class WrapUpSettingsAdmin(WorkspaceScopedAdmin):
    """One page per workspace: whether a category is required at resolve, the list (one form row per
    category: name, position, in use), and how often each was chosen lately."""

    list_display = ["workspace", "required", "categories"]
    list_select_related = ["workspace"]
    inlines = [DispositionInline]
    audit_name = "wrap_up"

    def get_fields(self, request, obj=None):
        return ["workspace", "required", "recent_counts"] if obj is not None else ["workspace", "required"]

    def get_readonly_fields(self, request, obj=None):
        return ["workspace", "recent_counts"] if obj is not None else []

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("dispositions")

    @admin.display(description=_("categories in use"))
    def categories(self, obj):
        return "、".join(d.name for d in obj.dispositions.all() if d.is_active) or "-"

    @admin.display(description=_("chosen in the last 30 days"))
    def recent_counts(self, obj):
        until = timezone.now()
        report = wrapup.counts(obj.workspace_id, until - timedelta(days=REPORT_DAYS), until)
        rows = [*report.rows, (_("no category"), report.unclassified)]
        return format_html("<table><tbody>{}</tbody></table>", format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", rows))

    def save_formset(self, request, form, formset, change):
        before = _names(form.instance.pk) if change else []
        formset.save()
        after = _names(form.instance.pk)
        if after != before:
            actor = acting(request, form.instance.workspace_id)
            shown = lambda rows: {"categories": [n for n, active in rows if active], "not_in_use": [n for n, active in rows if not active]}  # noqa: E731
            account_actions.audit(actor, "wrap_up.categories", target=form.instance, before=shown(before), after=shown(after))
