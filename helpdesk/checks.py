"""System checks for a deployment (`manage.py check --deploy`)."""

from django.conf import settings
from django.core.checks import Error, Tags, register

from helpdesk import secret_key


@register(Tags.security, deploy=True)
def secret_key_is_private(app_configs=None, **kwargs):
    problem = secret_key.weakness(settings.SECRET_KEY)
    if not problem:
        return []
    return [Error(
        problem,
        hint="Unset SECRET_KEY to use the generated key file (SECRET_KEY_FILE), or set a long random secret. docs/security.md",
        id="helpdesk.E001",
    )]
