from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self):
        from helpdesk import checks  # noqa: F401  (registers the deployment checks)


from django.contrib.admin import apps as admin_apps  # noqa: E402


class HelpdeskAdminConfig(admin_apps.AdminConfig):
    """The Django admin, with the role-aware site as the default site."""

    default = False
    default_site = "accounts.admin_scope.HelpdeskAdminSite"
