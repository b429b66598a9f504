"""A group's routing rules (分流条件) as a builder, never JSON: one row per condition (what it looks at,
its values), all rows must match. Reads and writes AgentGroup.rules (routing.selection) losslessly;
inboxes are named, channels are their labels, a custom attribute takes its name in its own box."""

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from chat.models import Inbox
from chat.row_widgets import RowsWidget

from .selection import RuleField, parse_time_window

MAX_RULES = 6
MAX_VALUES = 200
MAX_VALUE_CHARS = 100
SPLIT = re.compile(r"[,，、;；\n]+")
FIELD_CHOICES = [
    ("", _("(no condition)")),
    (RuleField.REGION.value, _("Region")),
    (RuleField.ENTRY_PAGE.value, _("Entry page")),
    (RuleField.STORE.value, _("Store")),
    (RuleField.CHANNEL.value, _("Channel type")),
    (RuleField.INBOX.value, _("Inbox")),
    (RuleField.TAG.value, _("Customer tag")),
    (RuleField.LEVEL.value, _("Membership level")),
    (RuleField.LANGUAGE.value, _("Language")),
    (RuleField.TIME_OF_DAY.value, _("Time of day")),
    (RuleField.ATTRIBUTE.value, _("Custom attribute")),
]
PARTS = ("field", "key", "values")


class RuleRowsWidget(RowsWidget):
    table_class = "rule-rows"

    def __init__(self, attrs=None):
        widgets = []
        for _row in range(MAX_RULES):
            widgets += [forms.Select(choices=FIELD_CHOICES), forms.TextInput(attrs={"maxlength": 40, "class": "rule-key"}),
                        forms.TextInput(attrs={"class": "rule-values"})]
        super().__init__(widgets, attrs)

    def decompress(self, value):
        flat = []
        for rule in value or []:
            flat += [rule.get("field", ""), rule.get("key", ""), "、".join(str(v) for v in rule.get("values", []))]
        return (flat + ["", "", ""] * MAX_RULES)[: len(PARTS) * MAX_RULES]

    def headers(self):
        return [_("Looks at"), _("Attribute name"), _("Any of these values")]

    def cell_label(self, header, row_number):
        return _("%(what)s, condition %(n)s") % {"what": header, "n": row_number}


class RulesField(forms.MultiValueField):
    """Rows → [{"field", "values", ["key"]}] with values still as typed (names for inboxes, labels
    for channels): the group form resolves those within the group's workspace."""

    def __init__(self, **kwargs):
        fields = []
        for _row in range(MAX_RULES):
            fields += [forms.ChoiceField(required=False, choices=FIELD_CHOICES), forms.CharField(required=False, max_length=40),
                       forms.CharField(required=False, max_length=MAX_VALUES * (MAX_VALUE_CHARS + 1))]
        super().__init__(fields, require_all_fields=False, required=False, widget=RuleRowsWidget(), **kwargs)

    def keep_stored_fields(self, stored):
        """A condition kind this version does not know (stored by hand or by an older one) stays
        selectable as it is, so saving the page keeps it."""
        known = {code for code, _label in FIELD_CHOICES}
        extra = [(r["field"], r["field"]) for r in stored or [] if isinstance(r, dict) and r.get("field") and r["field"] not in known]
        if extra:
            choices = [*FIELD_CHOICES, *dict.fromkeys(extra)]
            for n in range(0, len(self.fields), len(PARTS)):
                self.fields[n].choices = choices
                self.widget.widgets[n].choices = choices

    def compress(self, data_list):
        rules, errors = [], []
        for n in range(0, len(data_list or []), len(PARTS)):
            field, key, text = data_list[n:n + len(PARTS)]
            number = n // len(PARTS) + 1
            values = [v.strip() for v in SPLIT.split(text or "") if v.strip()]
            if not field and not values and not (key or "").strip():
                continue
            if not field:
                errors.append(_("Condition %(n)s: choose what it looks at.") % {"n": number})
            elif not values:
                errors.append(_("Condition %(n)s: give at least one value.") % {"n": number})
            elif len(values) > MAX_VALUES or any(len(v) > MAX_VALUE_CHARS for v in values):
                errors.append(_("Condition %(n)s: at most %(count)s values of %(chars)s characters each.")
                              % {"n": number, "count": MAX_VALUES, "chars": MAX_VALUE_CHARS})
            elif field == RuleField.ATTRIBUTE and not (key or "").strip():
                errors.append(_("Condition %(n)s: name the custom attribute.") % {"n": number})
            elif field == RuleField.TIME_OF_DAY and any(parse_time_window(v) is None for v in values):
                errors.append(_("Condition %(n)s: write times of day as 21:00-08:00.") % {"n": number})
            else:
                rule = {"field": field, "values": list(dict.fromkeys(values))}
                if field == RuleField.ATTRIBUTE:
                    rule["key"] = key.strip()
                rules.append(rule)
        if errors:
            raise forms.ValidationError(errors)
        return rules


def channel_codes(values):
    """Channel labels or codes → codes; (codes, unknown values)."""
    by_label = {str(label): code for code, label in Inbox.Kind.choices} | {code: code for code in Inbox.Kind.values}
    return [by_label.get(v) for v in values if v in by_label], [v for v in values if v not in by_label]


def resolve(rules, workspace_id):
    """Inbox names → ids of the workspace, channel labels → codes. Returns (rules, error or None)."""
    inboxes = dict(Inbox.objects.filter(workspace_id=workspace_id).values_list("name", "pk")) if workspace_id else {}
    resolved = []
    for number, rule in enumerate(rules, 1):
        values = rule["values"]
        if rule["field"] == RuleField.INBOX:
            unknown = [v for v in values if v not in inboxes and not (v.isdigit() and int(v) in inboxes.values())]
            if unknown:
                return rules, _("Condition %(n)s: no inbox named %(name)s in this workspace.") % {"n": number, "name": unknown[0]}
            values = [inboxes.get(v, int(v) if v.isdigit() else v) for v in values]
        elif rule["field"] == RuleField.CHANNEL:
            values, unknown = channel_codes(values)
            if unknown:
                return rules, _("Condition %(n)s: %(value)s is not a channel type (%(choices)s).") % {
                    "n": number, "value": unknown[0], "choices": "、".join(str(label) for _code, label in Inbox.Kind.choices)}
        resolved.append({**rule, "values": values})
    return resolved, None


def shown(rules, workspace_id):
    """Stored rules as the builder shows them: inbox names, channel labels."""
    if not rules:
        return []
    names = {pk: name for pk, name in Inbox.objects.filter(workspace_id=workspace_id).values_list("pk", "name")} if workspace_id else {}
    labels = dict(Inbox.Kind.choices)
    out = []
    for rule in rules:
        if not isinstance(rule, dict):
            continue
        values = rule.get("values", [])
        if rule.get("field") == RuleField.INBOX:
            values = [names.get(int(v), v) if str(v).isdigit() else v for v in values]
        elif rule.get("field") == RuleField.CHANNEL:
            values = [labels.get(v, v) for v in values]
        out.append({**rule, "values": values})
    return out
