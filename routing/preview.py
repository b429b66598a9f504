"""试一试: the owner describes a customer (region, entry page, channel, time…) and sees which group
they would go to by the groups as saved now: the same pure rule matching routing uses
(routing.selection.matching_groups). Agents' availability is not part of it: that changes by the minute."""

from django import forms
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from accounts.models import Workspace
from chat import hours
from chat.models import Inbox

from .actions import local_minutes, parse_rules
from .models import AgentGroup
from .rules_form import SPLIT
from .selection import CustomerContext, GroupSpec, Strategy, matching_groups


class RoutingPreviewForm(forms.Form):
    workspace = forms.ModelChoiceField(label=_("Workspace"), queryset=Workspace.objects.none(), required=True)
    region = forms.CharField(label=_("Region"), required=False, max_length=100, widget=forms.TextInput(attrs={"placeholder": "上海"}))
    entry_page = forms.CharField(label=_("Entry page"), required=False, max_length=500,
                                 widget=forms.TextInput(attrs={"placeholder": "https://shop.example/shop/123"}))
    channel = forms.ChoiceField(label=_("Channel type"), required=False, choices=[("", "—"), *Inbox.Kind.choices])
    inbox = forms.ModelChoiceField(label=_("Inbox"), queryset=Inbox.objects.none(), required=False)
    store = forms.CharField(label=_("Store"), required=False, max_length=100)
    tags = forms.CharField(label=_("Customer tags"), required=False, max_length=500)
    level = forms.CharField(label=_("Membership level"), required=False, max_length=100)
    language = forms.CharField(label=_("Language"), required=False, max_length=20, widget=forms.TextInput(attrs={"placeholder": "zh-hans"}))
    time = forms.TimeField(label=_("Time of day"), required=False, widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"))

    def __init__(self, *args, workspace_ids=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["workspace"].queryset = Workspace.objects.filter(pk__in=workspace_ids)
        self.fields["inbox"].queryset = Inbox.objects.filter(workspace_id__in=workspace_ids)
        if len(workspace_ids) == 1:  # most merchants: nothing to choose
            self.fields["workspace"].widget = forms.HiddenInput()
            self.fields["workspace"].initial = workspace_ids[0]
            if self.is_bound and not self.data.get("workspace"):
                self.data = self.data.copy()
                self.data["workspace"] = workspace_ids[0]

    def clean(self):
        cleaned = super().clean()
        inbox, workspace = cleaned.get("inbox"), cleaned.get("workspace")
        if inbox is not None and workspace is not None and inbox.workspace_id != workspace.pk:
            self.add_error("inbox", _("Choose an inbox of this workspace."))
        return cleaned

    def outcome(self):
        data = self.cleaned_data
        workspace = data["workspace"]
        rows = list(AgentGroup.objects.filter(workspace=workspace, enabled=True).order_by("priority", "pk")
                    .values_list("pk", "priority", "rules", "strategy", "is_default", "name"))
        groups = [GroupSpec(pk, priority, parse_rules(rules), Strategy(strategy), is_default, True)
                  for pk, priority, rules, strategy, is_default, _name in rows]
        names = {pk: name for pk, *_rest, name in rows}
        inbox = data.get("inbox")
        when = data.get("time")
        ctx = CustomerContext(
            entry_page=data.get("entry_page", ""), region=data.get("region", "").strip(), store=data.get("store", "").strip(),
            inbox_id=inbox.pk if inbox else None, tags=frozenset(t.strip() for t in SPLIT.split(data.get("tags", "")) if t.strip()),
            level=data.get("level", "").strip(), channel=data.get("channel") or (inbox.kind if inbox else ""),
            language=data.get("language", "").strip(),
            local_minutes=when.hour * 60 + when.minute if when else local_minutes(workspace.timezone))
        matched = matching_groups(groups, ctx)
        return {"sentence": self._sentence(matched, names), "matched": [(names[g.id], g.priority, g.is_default) for g in matched],
                "group": names[matched[0].id] if matched else None, "zone": str(hours.zone(workspace.timezone))}

    def _sentence(self, matched, names):
        data = self.cleaned_data
        details = []
        pieces = [("region", _("from %(value)s")), ("entry_page", _("on %(value)s")), ("store", _("of store %(value)s")),
                  ("tags", _("tagged %(value)s")), ("level", _("of level %(value)s")), ("language", _("speaking %(value)s"))]
        for name, text in pieces:
            if (data.get(name) or "").strip():
                details.append(text % {"value": data[name].strip()})
        if data.get("channel"):
            details.append(_("through %(value)s") % {"value": dict(Inbox.Kind.choices)[data["channel"]]})
        if data.get("inbox"):
            details.append(_("in %(value)s") % {"value": data["inbox"].name})
        if data.get("time"):
            details.append(_("at %(value)s") % {"value": data["time"].strftime("%H:%M")})
        joined = ("、" if (translation.get_language() or "").startswith("zh") else ", ").join(str(d) for d in details)
        if not matched:
            return _("No group takes this customer and there is no default group: set one group as the default.")
        group = names[matched[0].id]
        if matched[0].is_default:
            if joined:
                return _("No group's conditions match a customer %(details)s: they go to the default group %(group)s.") % {
                    "details": joined, "group": group}
            return _("Any customer goes to the default group %(group)s.") % {"group": group}
        if joined:
            return _("A customer %(details)s goes to %(group)s.") % {"details": joined, "group": group}
        return _("Any customer goes to %(group)s.") % {"group": group}
