"""The agent's own (personal) quick phrase, edited in the console. Validation is the action's
(replies.actions.clean_phrase), run in clean() so every error shows next to its input."""

import json

from django import forms
from django.utils.translation import gettext_lazy as _

from . import actions
from .models import QuickPhrase

DATETIME_LOCAL = "%Y-%m-%dT%H:%M"


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format=DATETIME_LOCAL)


class AttachmentField(forms.CharField):
    """The attachment dict from POST /api/v1/uploads, carried as JSON in a hidden input."""

    widget = forms.HiddenInput

    def prepare_value(self, value):
        if isinstance(value, dict):
            return json.dumps(value, ensure_ascii=False) if value else ""
        return value

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return {}
        try:
            data = json.loads(value)
        except ValueError:
            raise forms.ValidationError(_("The attachment must be a file uploaded here.")) from None
        return data


class PersonalPhraseForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=actions.MAX_TITLE_CHARS)
    shortcut = forms.CharField(label=_("Shortcut"), max_length=actions.MAX_SHORTCUT_CHARS + 1,
                               help_text=_('Typed after "/" in the composer: letters, digits, hyphens and underscores.'))
    category = forms.CharField(label=_("Category"), max_length=actions.MAX_CATEGORY_CHARS, required=False)
    body = forms.CharField(label=_("Text"), max_length=actions.MAX_BODY_CHARS, widget=forms.Textarea(attrs={"rows": 5}),
                           help_text=_("{customer_name} and {agent_name} are filled in when the phrase is inserted."))
    attachment = AttachmentField(required=False)
    valid_from = forms.DateTimeField(label=_("Show from"), required=False, widget=DateTimeLocalInput(),
                                     input_formats=[DATETIME_LOCAL, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"])
    valid_until = forms.DateTimeField(label=_("Show until"), required=False, widget=DateTimeLocalInput(),
                                      input_formats=[DATETIME_LOCAL, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"],
                                      help_text=_("For campaigns: the phrase is hidden outside this period. Both empty: always."))

    def __init__(self, *args, workspace_id, owner_id, phrase=None, **kwargs):
        if phrase is not None and "initial" not in kwargs:
            kwargs["initial"] = {f: getattr(phrase, f) for f in ("title", "shortcut", "category", "body", "attachment", "valid_from", "valid_until")}
        super().__init__(*args, **kwargs)
        self.workspace_id, self.owner_id, self.phrase = workspace_id, owner_id, phrase
        self._describe()

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            cleaned.update(actions.clean_phrase(
                self.workspace_id, scope=QuickPhrase.Scope.PERSONAL, owner_id=self.owner_id,
                phrase_id=self.phrase.pk if self.phrase else None,
                **{f: cleaned.get(f) for f in ("title", "shortcut", "category", "body", "attachment", "valid_from", "valid_until")},
            ))
        except actions.PhraseInvalid as exc:
            for field, message in exc.errors.items():
                self.add_error(field if field in self.fields else None, message)
        return cleaned

    def full_clean(self):
        super().full_clean()
        self._describe()

    def _describe(self):
        for name, field in self.fields.items():  # errors and help are announced with their input
            described = [f"id_{name}_help"] if field.help_text else []
            if self._errors and name in self._errors:
                field.widget.attrs["aria-invalid"] = "true"
                described.append(f"id_{name}_error")
            if described:
                field.widget.attrs["aria-describedby"] = " ".join(described)

    def attachment_info(self):
        """The attachment shown on the page: the posted one (re-rendered form) or the saved one."""
        value = self["attachment"].value()
        if isinstance(value, str):
            try:
                value = json.loads(value) if value else {}
            except ValueError:
                value = {}
        return value if isinstance(value, dict) and value.get("url") else None

    def action_kwargs(self):
        return {f: self.cleaned_data.get(f) for f in ("title", "shortcut", "category", "body", "attachment", "valid_from", "valid_until")}
