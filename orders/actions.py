"""Looking up and verifying vouchers and orders: the only writes to a voucher's state.

Codes are looked up only inside the acting member's workspace, so another workspace's
code answers exactly like one that does not exist. Verifying locks the row, so two
verifiers racing on one code: exactly one succeeds, the other hears who was first.
Every verification and every refused attempt is in the workspace's audit log."""

from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from accounts import roles
from accounts.actions import audit
from accounts.models import Membership, shown_name
from helpdesk.errors import DomainError

from .models import Voucher

VERIFY = "voucher.verify"
MAX_CODE_CHARS = Voucher._meta.get_field("code").max_length


def voucher_not_found():
    return DomainError("not_found", _("No voucher or order with this code."), status=404)


def clean_code(code):
    """The code as typed without any spaces (a code read out and typed in groups); 400 when empty."""
    code = "".join(code.split()) if isinstance(code, str) else ""
    if not code:
        raise DomainError("code_required", _("Enter a code."), status=400)
    return code


def _find(qs, code):
    """The voucher with exactly this code, else the one code equal to it ignoring case (phones type
    lower case; codes differing only in case are ambiguous and found by their exact spelling only)."""
    voucher = qs.filter(code=code).first()
    if voucher is None:
        matches = list(qs.filter(code__iexact=code)[:2])
        voucher = matches[0] if len(matches) == 1 else None
    return voucher


def _require(membership, action=None):
    if not roles.can(membership, roles.VERIFY_ORDERS):
        if action is not None and membership is not None:
            audit(membership, action, after={"refused": f"missing capability {roles.VERIFY_ORDERS}"}, denied=True)
        raise DomainError("forbidden", _("You are not allowed to verify vouchers or orders."), status=403)


def _scoped(membership):
    return Voucher.objects.filter(workspace_id=membership.workspace_id)


def lookup_voucher(membership, code):
    """The voucher with this code in the member's workspace (read-only), or 404."""
    _require(membership)
    code = clean_code(code)
    voucher = _find(_scoped(membership).select_related("customer", "verified_by"), code)
    if voucher is None:
        raise voucher_not_found()
    return voucher


def recent_verifications(membership, limit=10):
    """The member's own latest verifications in this workspace, newest first."""
    if not roles.can(membership, roles.VERIFY_ORDERS):
        return []
    return list(_scoped(membership).filter(verified_by_id=membership.user_id, status=Voucher.Status.VERIFIED)
                .order_by("-verified_at", "-pk")[:limit])


def verifier_name(voucher):
    """How the workspace knows the member who verified this voucher."""
    if voucher.verified_by_id is None:
        return _("someone no longer in this workspace")
    member = Membership.objects.filter(workspace_id=voucher.workspace_id, user_id=voucher.verified_by_id).select_related("user").first()
    if member is not None:
        return member.shown_name
    return shown_name("", voucher.verified_by)


def _state(voucher):
    return {
        "code": voucher.code,
        "status": voucher.status,
        "verified_at": voucher.verified_at.isoformat() if voucher.verified_at else None,
        "verified_by": voucher.verified_by_id,
    }


def _refusal(voucher):
    """The error that stops this voucher being verified now, or None."""
    if voucher.status == Voucher.Status.VERIFIED:
        when = formats.date_format(timezone.localtime(voucher.verified_at), "DATETIME_FORMAT") if voucher.verified_at else "?"
        message = _("Already verified by %(name)s on %(when)s.") % {"name": verifier_name(voucher), "when": when}
        return DomainError("already_verified", message, status=409)
    if voucher.status == Voucher.Status.VOID:
        return DomainError("void", _("This voucher or order has been voided and cannot be used."), status=409)
    if voucher.is_expired:
        return DomainError("expired", _("This voucher or order has expired."), status=409)
    return None


def verify_voucher(membership, code):
    """Mark the voucher with this code as verified by `membership`; returns it.

    Errors (chat.errors.DomainError): 403 forbidden, 400 code_required, 404 not_found,
    409 already_verified / void / expired."""
    _require(membership, VERIFY)
    code = clean_code(code)
    voucher = error = None
    with transaction.atomic():
        voucher = _find(_scoped(membership).select_for_update(), code)
        if voucher is None:
            error = voucher_not_found()
        else:
            error = _refusal(voucher)
        if error is None:
            before = _state(voucher)
            voucher.status = Voucher.Status.VERIFIED
            voucher.verified_at = timezone.now()
            voucher.verified_by_id = membership.user_id
            voucher.save(update_fields=["status", "verified_at", "verified_by"])
            audit(membership, VERIFY, target=voucher, before=before, after=_state(voucher))
            return voucher
    # Refused: recorded after the transaction (a retried or shared code shows up in the log).
    audit(membership, VERIFY, target=voucher, after={"refused": error.code, "code": code[:MAX_CODE_CHARS]}, denied=True)
    raise error
