"""API tokens: `hd_<prefix>_<secret>`. The prefix finds the row, the secret is compared
(as a SHA-256 digest, in constant time); revoked tokens and removed members fail."""

import hashlib
import hmac
import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from helpdesk.errors import DomainError
from helpdesk.validation import int_or_none

from . import actions
from .models import ApiToken


def _digest(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(membership, name):
    """Create a token for the member; returns (row, key). The key is never stored."""
    name = str(name or "").strip()[:60]
    if not name:
        raise DomainError("invalid_name", _("A name is required."), status=400)
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.create(membership=membership, name=name, prefix=prefix, key_hash=_digest(secret))
        actions.audit(membership, "api_token.create", target=token, after={"name": name, "prefix": prefix})
    return token, f"hd_{prefix}_{secret}"


def revoke(membership, token_id):
    token = ApiToken.objects.filter(pk=int_or_none(token_id), membership=membership, revoked_at__isnull=True).first()
    if token is None:
        raise actions.member_not_found()
    with transaction.atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        actions.audit(membership, "api_token.revoke", target=token, before={"prefix": token.prefix})
    return token


def authenticate_key(key):
    parts = key.split("_", 2) if isinstance(key, str) else []  # the secret itself may contain "_"
    if len(parts) != 3 or parts[0] != "hd":
        return None
    token = (
        ApiToken.objects.select_related("membership__user", "membership__custom_role")
        .filter(prefix=parts[1], revoked_at__isnull=True)
        .first()
    )
    if token is None or not hmac.compare_digest(token.key_hash, _digest(parts[2])) or not token.membership.user.is_active:
        return None
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token


class ApiTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer hd_…`: request.user is the member's user, request.auth the token."""

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        token = authenticate_key(parts[1].decode("latin-1")) if len(parts) == 2 else None
        if token is None:
            raise AuthenticationFailed(_("Invalid or revoked API token."), code="invalid_token")
        return token.membership.user, token

    def authenticate_header(self, request):
        return "Bearer"


try:
    from drf_spectacular.extensions import OpenApiAuthenticationExtension

    class ApiTokenScheme(OpenApiAuthenticationExtension):
        target_class = "accounts.tokens.ApiTokenAuthentication"
        name = "memberToken"

        def get_security_definition(self, auto_schema):
            return {"type": "http", "scheme": "bearer", "description": "A member's API token `hd_…` (POST /api/v1/tokens)"}
except ImportError:  # pragma: no cover - drf-spectacular is a pinned dependency
    pass
