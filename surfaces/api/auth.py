from django.contrib.auth.models import AnonymousUser
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from chat import identity
from helpdesk.errors import DomainError


class CustomerTokenAuthentication(BaseAuthentication):
    """`Authorization: Customer <visitor token>`; request.auth becomes the customer Actor."""

    keyword = b"customer"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Malformed Customer authorization header.")
        try:
            actor = identity.actor_from_customer_token(parts[1].decode("latin-1"))
        except DomainError as exc:
            raise AuthenticationFailed(str(exc.message), code=exc.code) from None
        return AnonymousUser(), actor

    def authenticate_header(self, request):
        return "Customer"


try:
    from drf_spectacular.extensions import OpenApiAuthenticationExtension

    class CustomerTokenScheme(OpenApiAuthenticationExtension):
        target_class = "chat.api_auth.CustomerTokenAuthentication"
        name = "customerToken"

        def get_security_definition(self, auto_schema):
            return {"type": "apiKey", "in": "header", "name": "Authorization", "description": "`Customer <visitor token>` from POST /api/v1/customer/session"}
except ImportError:  # pragma: no cover - drf-spectacular is a pinned dependency
    pass
