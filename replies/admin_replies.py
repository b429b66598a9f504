"""Admin pages for what the system says by itself: reply settings (welcome, queue, resolved,
hosting), keyword auto-replies and sensitive word lists. Workspace-scoped (CONFIGURE),
validated by the models' clean(), audited by the base admin. Registered from replies.admin."""

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from accounts.admin_scope import WorkspaceScopedAdmin

from . import config
from .models import AutoReplyRule, ReplySettings, SensitiveWordList


class ConfigRowAdmin(WorkspaceScopedAdmin):
    def delete_queryset(self, request, queryset):
        workspace_ids = set(queryset.values_list("workspace_id", flat=True))
        super().delete_queryset(request, queryset)  # a bulk delete skips the models' delete()
        for workspace_id in workspace_ids:
            config.invalidate(workspace_id)


WEEKDAY_CHOICES = [(0, _("Monday")), (1, _("Tuesday")), (2, _("Wednesday")), (3, _("Thursday")), (4, _("Friday")),
                   (5, _("Saturday")), (6, _("Sunday"))]


class ReplySettingsForm(forms.ModelForm):
    """Hosting weekdays as checkboxes (stored as the list of day numbers the window starts on)."""

    hosting_weekdays = forms.TypedMultipleChoiceField(
        label=_("hosting weekdays"), choices=WEEKDAY_CHOICES, coerce=int, required=False, widget=forms.CheckboxSelectMultiple,
        help_text=_("The days the window starts on (22:00–08:00 on Friday runs into Saturday morning). None ticked: every day."))

    class Meta:
        model = ReplySettings
        fields = "__all__"

    def clean_hosting_weekdays(self):
        return sorted(set(self.cleaned_data.get("hosting_weekdays") or ()))


@admin.register(ReplySettings)
class ReplySettingsAdmin(ConfigRowAdmin):
    form = ReplySettingsForm
    list_display = ["__str__", "workspace", "hosting_enabled", "hosting_start", "hosting_end", "hosting_limit_minutes"]
    list_filter = ["workspace", "hosting_enabled"]
    audit_name = "reply_settings"
    fieldsets = [
        (None, {"fields": ["workspace", "inbox"]}),
        (_("Automatic messages"), {"fields": ["welcome_message", "queue_message", "resolved_message"]}),
        (_("Hosting (托管)"), {
            "fields": ["hosting_enabled", "hosting_message", "hosting_use_window", "hosting_start", "hosting_end", "hosting_weekdays",
                       "hosting_outside_business_hours", "hosting_no_answer_minutes", "hosting_limit_minutes"],
            "description": _("Times are in the workspace's time zone. A window whose end is before its start runs past midnight "
                             "(22:00–08:00) and belongs to the day it starts."),
        }),
    ]


@admin.register(AutoReplyRule)
class AutoReplyRuleAdmin(ConfigRowAdmin):
    list_display = ["name", "workspace", "inbox", "match", "priority", "reply_kind", "enabled"]
    list_filter = ["workspace", "enabled", "match", "reply_kind"]
    search_fields = ["name", "keywords", "reply_text"]
    ordering = ["priority", "pk"]
    audit_name = "auto_reply"
    fieldsets = [
        (None, {"fields": ["workspace", "inbox", "name", "enabled", "priority"]}),
        (_("When"), {"fields": ["keywords", "match", "ignore_script", "ignore_pinyin"]}),
        (_("Reply"), {"fields": ["reply_kind", "reply_text", "article", "link_url", "card_title", "card_image_url"]}),
    ]


@admin.register(SensitiveWordList)
class SensitiveWordListAdmin(ConfigRowAdmin):
    list_display = ["name", "workspace", "applies_to", "action", "enabled"]
    list_filter = ["workspace", "applies_to", "action", "enabled"]
    search_fields = ["name", "words"]
    fields = ["workspace", "name", "applies_to", "action", "words", "notice", "enabled"]
    audit_name = "sensitive_words"
