"""Request hygiene every page and API shares: NUL characters are refused at the door, and every
response carries a Content Security Policy unless its view set a stricter or wider one."""

from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.http import JsonResponse
from django.utils.translation import gettext as _

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _nul_in_url(request):
    # The path arrives decoded; the query string is decoded here as QueryDict will decode it.
    return "\x00" in request.path or b"\x00" in unquote_to_bytes(request.META.get("QUERY_STRING", ""))


def _nul_in_form(request, view_func):
    """Form fields. JSON bodies are left to their parsers (DRF's CharField refuses NUL, the engine
    strips it where it cleans text). A CSRF-exempt view's multipart body (the upload API) is left
    to the view too: reading it here would come before the size check the view makes first.
    Other views' form bodies are read by CsrfViewMiddleware anyway."""
    if request.method != "POST" or request.content_type not in FORM_TYPES:
        return False
    if request.content_type == "multipart/form-data" and getattr(view_func, "csrf_exempt", False):
        return False
    return any("\x00" in key or any("\x00" in value for value in values) for key, values in request.POST.lists())


class RejectNulMiddleware:
    """A NUL character in the path, the query string, a form field or a cookie is a 400 with the
    code nul_character. PostgreSQL refuses NUL in text, so without this any search box or filter
    reached with %00 was a 500 there (and stored garbage on SQLite)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # Before the session middleware looks the session cookie up and the resolver sees the path.
        if _nul_in_url(request) or any("\x00" in value for value in request.COOKIES.values()):
            return _refused()
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        return _refused() if _nul_in_form(request, view_func) else None


def _refused():
    message = _("The request contains a NUL character, which is not allowed.")
    return JsonResponse({"error": {"code": "nul_character", "message": message}}, status=400)


# Nothing on our pages needs more: no inline script or event handler, no third-party origin.
# style-src 'unsafe-inline' is absent too (no style attributes in our templates or Django admin's).
DEFAULT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; font-src 'self'; "
    "connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def policy_allowing_webassembly():
    """The default policy plus 'wasm-unsafe-eval': compiling WebAssembly (the verifier's camera scan,
    ZXing) is the only thing it adds; inline script and eval stay refused."""
    policy = getattr(settings, "CONTENT_SECURITY_POLICY", DEFAULT_CSP) or ""
    return policy.replace("script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", 1)


class ContentSecurityPolicyMiddleware:
    """The default policy on every response whose view set none (the widget frame and the demo
    shop page set their own: the frame must be embeddable on merchants' sites)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        policy = getattr(settings, "CONTENT_SECURITY_POLICY", DEFAULT_CSP)
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response
