from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    name = "lifecycle"
    verbose_name = "Conversation lifecycle"

    def ready(self):
        # The one place imports wait for the app registry (the import-contract test allows it).

        from chat import hooks

        from .flow import FLOW

        hooks.install(FLOW)
