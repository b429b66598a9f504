"""A member's own offline-notification settings (lifecycle.offline_notify): validated here,
whatever the surface. No audit: they touch nobody else."""

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from helpdesk.errors import FieldErrors

from .models import NotifyInterval, OfflineNotice, OfflineNotifySettings
from .offline_notify import settings_of

BAD_INTERVAL = _("Choose one of the intervals offered.")
NO_EMAIL = _("Your account has no e-mail address: ask an admin of the workspace to add one.")


def save_offline_notify(membership, *, push_enabled, push_interval, email_enabled, email_interval):
    """Store the member's choice. A channel switched on starts afresh (no digest of what waited
    while it was off, beyond one interval back). Bad input: FieldErrors, nothing saved."""
    errors = {field: BAD_INTERVAL for field, value in (("push_interval", push_interval), ("email_interval", email_interval))
              if value not in NotifyInterval.values}
    if email_enabled and not membership.user.email:
        errors["email_enabled"] = NO_EMAIL
    if errors:
        raise FieldErrors("invalid_offline_notify", _("Check the notification settings."), errors)
    with transaction.atomic():
        before = settings_of(membership)
        switched_on = [channel for channel, was, now in ((OfflineNotice.Channel.PUSH, before.push_enabled, push_enabled),
                                                         (OfflineNotice.Channel.EMAIL, before.email_enabled, email_enabled)) if now and not was]
        if switched_on:
            OfflineNotice.objects.filter(membership=membership, channel__in=switched_on).delete()
        row, _created = OfflineNotifySettings.objects.update_or_create(membership=membership, defaults={
            "push_enabled": bool(push_enabled), "push_interval": push_interval,
            "email_enabled": bool(email_enabled), "email_interval": email_interval})
    return row
