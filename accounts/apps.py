from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Team and workspace")

    def ready(self):
        from helpdesk import checks  # noqa: F401  (registers the deployment checks)


from django.contrib.admin import apps as admin_apps  # noqa: E402


class HelpdeskAdminConfig(admin_apps.AdminConfig):
    """The Django admin, with the role-aware site as the default site."""

    default = False
    default_site = "accounts.admin_scope.HelpdeskAdminSite"
