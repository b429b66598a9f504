"""The admin pages that change how a person signs in (Django's users, django-otp's TOTP devices),
re-registered so that each such change also ends the person's open sockets where their sign-in
no longer holds (accounts.actions.sign_in_changed). Plain overrides of the admin classes, no
signals: only these pages, the site's logout and password change pages change sign-in."""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django_otp.plugins.otp_totp.admin import TOTPDeviceAdmin
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import actions
from .models import Membership, RoutingVersion

# A device's fields that change which codes verify the person (editing its name changes nothing).
SECOND_FACTOR_FIELDS = {"user", "key", "confirmed", "step", "t0", "digits"}


class PasswordChangeForm(AdminPasswordChangeForm):
    def save(self, commit=True):
        user = super().save(commit)
        if commit:
            actions.sign_in_changed(user.pk)  # the old password's sessions no longer hold
        return user


class SignInUserAdmin(UserAdmin):
    change_password_form = PasswordChangeForm

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data:
            actions.sign_in_changed(obj.pk)  # a deactivated user's sessions no longer hold
            RoutingVersion.bump_for_user(obj.pk)  # routing ignores is_active today: stays right if it counts

    def delete_model(self, request, obj):
        user_id, workspace_ids = obj.pk, _workspaces_of([obj.pk])
        super().delete_model(request, obj)
        _bump_routing(workspace_ids)
        actions.sign_in_changed(user_id)

    def delete_queryset(self, request, queryset):
        user_ids = list(queryset.values_list("pk", flat=True))
        workspace_ids = _workspaces_of(user_ids)
        super().delete_queryset(request, queryset)
        _bump_routing(workspace_ids)
        for user_id in user_ids:
            actions.sign_in_changed(user_id)


# A user's deletion cascades to memberships, inbox access and group members without a save() or
# delete() of theirs: their workspaces' routing structure is bumped here, after the delete.
def _workspaces_of(user_ids):
    return set(Membership.objects.filter(user_id__in=user_ids).values_list("workspace_id", flat=True))


def _bump_routing(workspace_ids):
    for workspace_id in workspace_ids:
        RoutingVersion.bump(workspace_id)


class SignInTOTPDeviceAdmin(TOTPDeviceAdmin):
    """Deleting (or re-keying, unconfirming) a device is the two-factor reset."""

    def save_model(self, request, obj, form, change):
        before = form.initial.get("user") if change else None
        super().save_model(request, obj, form, change)
        if change and SECOND_FACTOR_FIELDS & set(form.changed_data):
            for user_id in {before, obj.user_id} - {None}:
                actions.sign_in_changed(user_id, second_factor_reset=True)

    def delete_model(self, request, obj):
        user_id = obj.user_id
        super().delete_model(request, obj)
        actions.sign_in_changed(user_id, second_factor_reset=True)

    def delete_queryset(self, request, queryset):
        user_ids = set(queryset.values_list("user_id", flat=True))
        super().delete_queryset(request, queryset)
        for user_id in user_ids:
            actions.sign_in_changed(user_id, second_factor_reset=True)


for model, model_admin in ((get_user_model(), SignInUserAdmin), (TOTPDevice, SignInTOTPDeviceAdmin)):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
    admin.site.register(model, model_admin)
