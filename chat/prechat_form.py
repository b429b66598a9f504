"""The pre-chat form as a builder an owner fills in, never JSON: one row per question (what it asks,
its label, the kind of answer, required), in the order of their positions. Reads and writes the
stored list of chat.models.validate_prechat_fields losslessly; keys the owner never sees are
derived from what the question asks (name, phone…) or, for another question, from its label."""

import re

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from pypinyin import lazy_pinyin

from .models import MAX_PRECHAT_FIELDS, PRECHAT_RESERVED_KEYS, validate_prechat_fields
from .row_widgets import RowsWidget

COMMON_KEYS = [("name", _("Your name")), ("phone", _("Phone number")), ("email", _("E-mail")), ("wechat", _("WeChat ID")),
               ("order", _("Order number")), ("question", _("Your question"))]
OTHER = ""
TYPE_CHOICES = [("text", _("Short text")), ("tel", _("Phone number")), ("email", _("E-mail address")), ("textarea", _("Long text"))]
PARTS = ("position", "asks", "label", "type", "required")


def _row_widgets(key_choices):
    return [
        forms.NumberInput(attrs={"min": 1, "max": MAX_PRECHAT_FIELDS, "class": "prechat-position"}),
        forms.Select(choices=key_choices),
        forms.TextInput(attrs={"maxlength": 80}),
        forms.Select(choices=TYPE_CHOICES),
        forms.CheckboxInput(),
    ]


class PrechatRowsWidget(RowsWidget):
    table_class = "prechat-rows"
    add_label = _("Add a question")

    class Media:
        js = ["chat/admin/prechat.js"]

    def __init__(self, key_choices=(), attrs=None):
        self.key_choices = list(key_choices)
        super().__init__([w for _row in range(MAX_PRECHAT_FIELDS) for w in _row_widgets(self.key_choices)], attrs)

    def set_key_choices(self, choices):
        for n in range(1, len(self.widgets), len(PARTS)):
            self.widgets[n].choices = choices

    def decompress(self, value):
        flat = []
        for position, field in enumerate(value or [], 1):
            flat += [position, field.get("key"), field.get("label"), field.get("type", "text"), bool(field.get("required"))]
        for position in range(len(value or []) + 1, MAX_PRECHAT_FIELDS + 1):
            flat += [position, OTHER, "", "text", False]
        return flat

    def headers(self):
        return [_("Position"), _("Asks for"), _("Label shown to the customer"), _("Answer type"), _("Required")]

    def cell_label(self, header, row_number):
        return _("%(what)s, question %(n)s") % {"what": header, "n": row_number}


class PrechatFieldsField(forms.MultiValueField):
    def __init__(self, **kwargs):
        key_choices = [*COMMON_KEYS, (OTHER, _("Another question"))]
        fields = []
        for _row in range(MAX_PRECHAT_FIELDS):
            fields += [forms.IntegerField(required=False, min_value=1, max_value=MAX_PRECHAT_FIELDS),
                       forms.ChoiceField(required=False, choices=key_choices), forms.CharField(required=False, max_length=80),
                       forms.ChoiceField(required=False, choices=TYPE_CHOICES), forms.BooleanField(required=False)]
        super().__init__(fields, require_all_fields=False, required=False, widget=PrechatRowsWidget(key_choices), **kwargs)

    def set_key_choices(self, choices):
        for n in range(1, len(self.fields), len(PARTS)):
            self.fields[n].choices = choices
        self.widget.set_key_choices(choices)

    def compress(self, data_list):
        rows = []
        for n in range(0, len(data_list or []), len(PARTS)):
            position, asks, label, kind, required = data_list[n:n + len(PARTS)]
            label = (label or "").strip()
            if not label and not asks:
                continue
            if not label:
                label = str(dict(COMMON_KEYS).get(asks, asks))
            rows.append((position or n // len(PARTS) + 1, n, asks, label, kind or "text", bool(required)))
        rows.sort()
        fields, used = [], {asks for _p, _n, asks, *_rest in rows if asks}
        for _position, _n, asks, label, kind, required in rows:
            key = asks or _key_from_label(label, used)
            used.add(key)
            fields.append({"key": key, "label": label, "type": kind, "required": required})
        try:
            validate_prechat_fields(fields)
        except ValidationError as exc:
            raise forms.ValidationError(exc.messages) from None
        return fields


def _key_from_label(label, used):
    """A stable slug for a question the owner wrote: pinyin of a Chinese label, never reserved or taken."""
    base = re.sub(r"[^a-z0-9]+", "-", "-".join(lazy_pinyin(label)).lower()).strip("-")[:32] or "question"
    key, n = base, 2
    while key in used or key in PRECHAT_RESERVED_KEYS or not key[0].isalnum():
        key, n = f"{base}-{n}", n + 1
    return key


def key_choices_for(stored):
    """The 'asks for' choices: the common questions, the keys already stored (kept as they are)."""
    known = dict(COMMON_KEYS)
    extra = [(field["key"], field["key"]) for field in stored or [] if isinstance(field, dict) and field.get("key") not in known]
    return [*COMMON_KEYS, *extra, (OTHER, _("Another question"))]
