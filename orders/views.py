"""The phone page verifiers use at the counter: type a code, see the voucher or order,
mark it as verified. Nothing else of the product is reachable from here."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from helpdesk.errors import DomainError
from helpdesk.middleware import policy_allowing_webassembly

from . import access, actions
from .models import Voucher


def _card(voucher):
    """What the result card shows besides the voucher's own fields."""
    if voucher.status == Voucher.Status.VALID and voucher.is_expired:
        state, label = "expired", _("Expired")
    else:
        state, label = voucher.status, voucher.get_status_display()
    verified_by = actions.verifier_name(voucher) if voucher.status == Voucher.Status.VERIFIED else ""
    return {"voucher": voucher, "state": state, "state_label": label, "verified_by_name": verified_by}


@login_required
@require_http_methods(["GET", "POST"])
def verify(request):
    membership = access.verifier_membership(request.user)
    if membership is None:
        raise Http404  # no verification rights anywhere: the page does not exist for them
    context = {"membership": membership, "workspace": membership.workspace, "code": ""}
    status = 200
    if request.method == "POST":
        code = request.POST.get("code", "")
        context["code"] = code.strip()[: actions.MAX_CODE_CHARS]
        try:
            if request.POST.get("action") == "verify":
                voucher = actions.verify_voucher(membership, code)
                messages.success(request, _("Verified: %(title)s (%(code)s).") % {"title": voucher.title, "code": voucher.code})
                return redirect("orders:verify")  # a reload cannot post the verification again
            context.update(_card(actions.lookup_voucher(membership, code)))
        except DomainError as exc:
            context["error"] = exc.message
            status = exc.status
            if exc.status == 409:  # exists but cannot be used: show why on the card
                context.update(_card(actions.lookup_voucher(membership, code)))
    context["recent"] = actions.recent_verifications(membership)
    response = render(request, "orders/verify.html", context, status=status)
    response["Content-Security-Policy"] = policy_allowing_webassembly()  # the camera scan's QR reader
    return response
