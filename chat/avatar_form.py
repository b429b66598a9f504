"""The avatar on the inbox admin's widget editor: a file chooser with the current picture and a
"remove" tick. The field's value is the stored picture's storage name (Inbox.widget_avatar); a new
file is checked here (chat.avatars.check) and stored by the form once everything else is valid."""

from django import forms
from django.utils.translation import gettext_lazy as _

from . import avatars, uploads


class AvatarInput(forms.ClearableFileInput):
    template_name = "admin/widgets/avatar.html"
    clear_checkbox_label = _("Remove the avatar")
    initial_text = _("Current avatar")

    class Media:
        css = {"all": ["chat/admin/forms.css"]}

    def __init__(self, attrs=None):
        super().__init__({"accept": avatars.ACCEPT, "data-avatar-input": "", **(attrs or {})})

    # The initial value is a storage name (a string), not a FieldFile with a url.
    def is_initial(self, value):
        return isinstance(value, str) and bool(value)

    def format_value(self, value):
        return value if self.is_initial(value) else None

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["url"] = uploads.stored_url(value) if self.is_initial(value) else ""
        return context


class AvatarField(forms.FileField):
    """Cleans to the picture chat.avatars.check made of the upload (metadata taken out), False to
    remove the picture, or the stored name unchanged."""

    widget = AvatarInput

    def clean(self, data, initial=None):
        value = super().clean(data, initial)
        if value and not isinstance(value, str):
            return avatars.check(value)
        return value
