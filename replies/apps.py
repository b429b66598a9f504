from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RepliesConfig(AppConfig):
    name = "replies"
    verbose_name = _("Quick phrases and auto-replies")

    def ready(self):
        from . import admin_replies  # noqa: F401  admin pages for auto-replies, hosting and sensitive words
