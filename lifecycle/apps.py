from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LifecycleConfig(AppConfig):
    name = "lifecycle"
    verbose_name = _("Conversation follow-ups")

    def ready(self):
        # The one place imports wait for the app registry (the import-contract test allows it).

        from chat import hooks

        from .flow import FLOW

        hooks.install(FLOW)
