"""The form an owner fills in to connect an inbox to WeChat (admin: Channel accounts).

Secrets (AppSecret / Secret, EncodingAESKey) are write-only: the field is always rendered empty,
its help text shows `secrets.masked` of the stored value, and an empty field keeps what is stored,
so re-saving the page never needs (or leaks) the secret."""

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from chat.models import Inbox

from . import secrets
from .models import CHANNEL_KINDS, ChannelAccount


# WeChat's own rules for these values (公众号后台 / 企业微信 show them in this form).
APP_ID_RE = re.compile(r"^[A-Za-z0-9]{6,64}$")
TOKEN_RE = re.compile(r"^[A-Za-z0-9]{3,32}$")
AES_KEY_RE = re.compile(r"^[A-Za-z0-9]{43}$")  # base64 of 32 bytes without the trailing "="
OPEN_KFID_RE = re.compile(r"^[A-Za-z0-9_-]{4,64}$")
MAX_WINDOW_HOURS = 168
MAX_REPLIES = 20


def _secret_widget():
    # render_value=False: the stored secret never goes back to the browser, not even encrypted.
    return forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password", "spellcheck": "false"})


class ChannelAccountForm(forms.ModelForm):
    app_secret = forms.CharField(label=_("AppSecret / Secret"), required=False, max_length=128, widget=_secret_widget())
    aes_key = forms.CharField(label=_("EncodingAESKey"), required=False, max_length=43, widget=_secret_widget())

    class Meta:
        model = ChannelAccount
        fields = ["inbox", "app_id", "app_secret", "token", "aes_key", "mode", "open_kfid", "reply_window_hours",
                  "replies_per_message", "welcome_on_subscribe"]
        help_texts = {
            "app_id": _("Official account / mini program: the AppID (开发者ID). WeCom customer service: the CorpID (企业ID)."),
            "mode": _("As chosen in WeChat's server configuration (消息加解密方式). WeCom always uses safe mode."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "inbox" in self.fields:
            self.fields["inbox"].queryset = self.fields["inbox"].queryset.filter(kind__in=CHANNEL_KINDS)
            self.fields["inbox"].help_text = _("An inbox whose kind is a WeChat official account, mini program or WeCom customer service.")
        for name, stored in (("app_secret", self.instance.app_secret_encrypted), ("aes_key", self.instance.aes_key_encrypted)):
            value = secrets.decrypt(stored) if stored else ""
            if value:
                self.fields[name].help_text = _("Stored: %(masked)s. Leave empty to keep it; type a new value to replace it.") % {
                    "masked": secrets.masked(value)}
            else:
                self.fields[name].help_text = _("Not set yet.")

    def _kind(self):
        inbox = self.cleaned_data.get("inbox") if "inbox" in self.cleaned_data else None
        if inbox is None and self.instance.inbox_id:
            inbox = self.instance.inbox
        return inbox.kind if inbox is not None else None

    def clean_app_id(self):
        value = (self.cleaned_data.get("app_id") or "").strip()
        if not APP_ID_RE.match(value):
            raise forms.ValidationError(_("Copy the AppID or CorpID exactly: letters and digits only."), code="app_id")
        return value

    def clean_token(self):
        value = (self.cleaned_data.get("token") or "").strip()
        if not TOKEN_RE.match(value):
            raise forms.ValidationError(_("The Token is 3 to 32 letters or digits, the same as typed in WeChat's back office."), code="token")
        return value

    def clean_aes_key(self):
        value = (self.cleaned_data.get("aes_key") or "").strip()
        if value and not AES_KEY_RE.match(value):
            raise forms.ValidationError(_("The EncodingAESKey is exactly 43 letters or digits."), code="aes_key")
        return value

    def clean_app_secret(self):
        value = (self.cleaned_data.get("app_secret") or "").strip()
        if value and not re.match(r"^[A-Za-z0-9_-]{16,128}$", value):
            raise forms.ValidationError(_("Copy the secret exactly as WeChat shows it (letters and digits)."), code="app_secret")
        return value

    def clean_open_kfid(self):
        value = (self.cleaned_data.get("open_kfid") or "").strip()
        if value and not OPEN_KFID_RE.match(value):
            raise forms.ValidationError(_("Copy the open_kfid exactly as WeCom shows it."), code="open_kfid")
        return value

    def clean_reply_window_hours(self):
        value = self.cleaned_data.get("reply_window_hours")
        if value is not None and not 1 <= value <= MAX_WINDOW_HOURS:
            raise forms.ValidationError(_("Between 1 and %(max)s hours.") % {"max": MAX_WINDOW_HOURS}, code="range")
        return value

    def clean_replies_per_message(self):
        value = self.cleaned_data.get("replies_per_message")
        if value is not None and not 1 <= value <= MAX_REPLIES:
            raise forms.ValidationError(_("Between 1 and %(max)s replies.") % {"max": MAX_REPLIES}, code="range")
        return value

    def clean(self):
        cleaned = super().clean()
        kind = self._kind()
        if not cleaned.get("app_secret") and not self.instance.app_secret:
            self.add_error("app_secret", forms.ValidationError(_("Enter the secret: WeChat's API needs it to send replies."), code="required"))
        mode = cleaned.get("mode")
        if kind == Inbox.Kind.WECOM_KF:
            if mode and mode != ChannelAccount.Mode.SAFE:
                self.add_error("mode", forms.ValidationError(_("WeCom customer service always uses safe mode."), code="mode"))
            if "open_kfid" in cleaned and not cleaned.get("open_kfid"):
                self.add_error("open_kfid", forms.ValidationError(_("Enter the customer service account's open_kfid."), code="required"))
        needs_key = kind == Inbox.Kind.WECOM_KF or (mode and mode != ChannelAccount.Mode.PLAIN)
        if needs_key and not cleaned.get("aes_key") and not self.instance.aes_key and "aes_key" not in self.errors:
            self.add_error("aes_key", forms.ValidationError(_("Enter the EncodingAESKey: compatible and safe modes need it."), code="required"))
        return cleaned

    def save(self, commit=True):
        # An empty secret field keeps the stored secret; a typed one replaces it (encrypted).
        if self.cleaned_data.get("app_secret"):
            self.instance.app_secret = self.cleaned_data["app_secret"]
        if self.cleaned_data.get("aes_key"):
            self.instance.aes_key = self.cleaned_data["aes_key"]
        return super().save(commit)
