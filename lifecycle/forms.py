"""The offline-notification section of the console settings page; the rules are the action's
(lifecycle.actions.save_offline_notify), whose errors show next to their inputs."""

from django import forms
from django.utils.translation import gettext_lazy as _

from helpdesk.errors import FieldErrors

from . import actions
from .models import NotifyInterval
from .offline_notify import settings_of

FIELDS = ("push_enabled", "push_interval", "email_enabled", "email_interval")


class OfflineNotifyForm(forms.Form):
    push_enabled = forms.BooleanField(label=_("Web Push to my devices"), required=False)
    push_interval = forms.TypedChoiceField(label=_("Push at most"), coerce=int, choices=NotifyInterval.choices)
    email_enabled = forms.BooleanField(label=_("E-mail digest"), required=False)
    email_interval = forms.TypedChoiceField(label=_("E-mail at most"), coerce=int, choices=NotifyInterval.choices)

    def __init__(self, *args, membership, **kwargs):
        self.membership = membership
        current = settings_of(membership)
        kwargs.setdefault("initial", {field: getattr(current, field) for field in FIELDS})
        super().__init__(*args, **kwargs)

    def save(self):
        """Valid form: store through the action; its field errors join the form's. Returns whether it saved."""
        try:
            actions.save_offline_notify(self.membership, **{field: self.cleaned_data[field] for field in FIELDS})
        except FieldErrors as exc:
            for field, message in exc.fields.items():
                self.add_error(field if field in self.fields else None, message)
            return False
        return True

    def channel_pairs(self):
        """(on/off, interval) per channel, as the template lays them out."""
        return [(self["push_enabled"], self["push_interval"]), (self["email_enabled"], self["email_interval"])]
