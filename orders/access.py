"""Who may use the verification page, and in which workspace."""

from accounts import access, roles


def verifier_membership(user):
    """The user's first membership that may verify vouchers and orders, or None.

    Uses the per-request membership cache (accounts.access.memberships): no extra query."""
    return next((m for m in access.memberships(user) if roles.can(m, roles.VERIFY_ORDERS)), None)
