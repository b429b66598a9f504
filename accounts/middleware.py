"""Keeps a logged-in user who must pass the TOTP step on the two-factor pages until they do.

Installed after django_otp.middleware.OTPMiddleware. For such a user whose session is not
verified yet: pages redirect to /accounts/2fa/verify/ (or /accounts/2fa/setup/ when they
have no device yet), /api/ answers 403 JSON, and only the two-factor pages, log in / log
out, static files and the language switch stay reachable."""

from urllib.parse import urlencode

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.http import HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django_otp import user_has_device

from accounts.security import must_verify, two_factor_required

ALWAYS_ALLOWED_PREFIXES = ("/accounts/2fa/", "/accounts/login/", "/accounts/logout/", "/i18n/")


def _allowed(path):
    static = settings.STATIC_URL or "/static/"
    return path.startswith(ALWAYS_ALLOWED_PREFIXES) or path.startswith(static)


def gate(request, user):
    """None when the request may proceed, else the response that stops it."""
    if _allowed(request.path_info) or user is None or not user.is_authenticated:
        return None
    is_verified = getattr(user, "is_verified", None)
    if is_verified is not None and is_verified():
        return None
    if not must_verify(user):
        return None
    if request.path_info.startswith("/api/"):
        return JsonResponse(
            {"error": {"code": "two_factor_required", "message": _("Two-factor verification is required. Finish logging in first.")}},
            status=403,
        )
    enrolled = user_has_device(user, confirmed=True)
    target = reverse("accounts:2fa-verify") if enrolled or not two_factor_required(user) else reverse("accounts:2fa-setup")
    return HttpResponseRedirect(f"{target}?{urlencode({'next': request.get_full_path()})}")


class TwoFactorMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self._is_async:
            return self.__acall__(request)
        response = gate(request, request.user)
        return response if response is not None else self.get_response(request)

    async def __acall__(self, request):
        user = await request.auser()
        response = await sync_to_async(gate, thread_sensitive=True)(request, user)
        return response if response is not None else await self.get_response(request)

