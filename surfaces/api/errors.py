from django.utils.translation import gettext as _
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from helpdesk.errors import DomainError


def exception_handler(exc, context):
    """DomainError and DRF errors share one shape: {"error": {"code", "message", ...}}."""
    if isinstance(exc, DomainError):
        response = Response({"error": exc.as_dict()}, status=exc.status)
        if getattr(exc, "retry_after", None):
            response["Retry-After"] = str(exc.retry_after)  # rate_limited (helpdesk.ratelimit)
        return response
    response = drf_exception_handler(exc, context)
    if response is not None:
        detail = response.data
        code = getattr(exc, "default_code", "error")
        if isinstance(detail, dict) and "detail" in detail:
            response.data = {"error": {"code": getattr(detail["detail"], "code", code), "message": str(detail["detail"])}}
        else:
            response.data = {"error": {"code": "invalid", "message": _("Invalid input."), "fields": detail}}
    return response
