"""Login security: who must pass the TOTP step, whether a session has passed it, and
the lockout page.

A session counts as authenticated only when it is *verified*: the password step is
done and, for a user who must use two-factor (a founder, senior admin or admin in any
workspace, a superuser, or anyone who has enrolled a TOTP device), the TOTP step too.
HTTP pages and /api/ enforce this in accounts.middleware.TwoFactorMiddleware; the
WebSocket consumer must call is_session_verified(scope["user"], scope["session"])
(through database_sync_to_async) before accepting an agent connection.
"""

from functools import reduce
from operator import or_

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef
from django.shortcuts import render
from django_otp import DEVICE_ID_SESSION_KEY, device_classes
from django_otp.models import Device

from accounts.models import Membership, Role

# Roles whose members must use two-factor authentication (in any workspace they belong to).
TWO_FACTOR_ROLES = (Role.FOUNDER, Role.SENIOR_ADMIN, Role.ADMIN)


def two_factor_required(user):
    """True for users who may not work without a TOTP device: admin roles and superusers."""
    if user is None or not user.is_authenticated:
        return False
    return user.is_superuser or Membership.objects.filter(user=user, role__in=TWO_FACTOR_ROLES).exists()


def must_verify(user):
    """True when this user's session needs the TOTP step: required for them, or enrolled anyway."""
    if user is None or not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    # One query (it runs on every request of an unverified session): an admin role or a device.
    reasons = [Exists(Membership.objects.filter(user=OuterRef("pk"), role__in=TWO_FACTOR_ROLES))]
    reasons += [Exists(model.objects.filter(user=OuterRef("pk"), confirmed=True)) for model in device_classes()]
    return get_user_model().objects.filter(pk=user.pk).filter(reduce(or_, reasons)).exists()


def verified_device(user, session):
    """The confirmed device of `user` that verified this session, or None (session data only)."""
    persistent_id = session.get(DEVICE_ID_SESSION_KEY) if session is not None else None
    if not persistent_id or user is None or not user.is_authenticated:
        return None
    try:
        device = Device.from_persistent_id(persistent_id)
    except Exception:  # a malformed or stale id is simply "not verified"
        return None
    if device is None or device.user_id != user.pk or not device.confirmed:
        return None
    return device


def is_session_verified(user, session):
    """Whether a logged-in user's session may be used (HTTP, API or WebSocket).

    Works from the session alone (no request, no OTPMiddleware): pass the user and the
    session store, e.g. scope["user"] and scope["session"] in a channels consumer. Runs
    database queries: call it through database_sync_to_async from async code.
    Anonymous users are never verified."""
    if user is None or not user.is_authenticated:
        return False
    if verified_device(user, session) is not None:
        return True
    return not must_verify(user)


def lockout_response(request, original_response=None, credentials=None):
    """django-axes AXES_LOCKOUT_CALLABLE: the translated lockout page, HTTP 429."""
    cool_off = settings.AXES_COOLOFF_TIME
    minutes = int(cool_off.total_seconds() // 60) if cool_off else 0
    context = {"failure_limit": settings.AXES_FAILURE_LIMIT, "cooloff_minutes": minutes}
    return render(request, "registration/lockout.html", context, status=429)
