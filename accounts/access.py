"""Which workspaces a user may act in, for each capability: the one place admin
pages, member APIs and management views ask. One query per request."""

from django.utils.translation import gettext as _

from helpdesk.errors import DomainError, not_found, unauthenticated
from helpdesk.validation import int_or_none

from . import roles
from .models import ApiToken, Membership, Role, Workspace


def memberships(user):
    if not getattr(user, "is_authenticated", False):
        return []
    cache = getattr(user, "_helpdesk_memberships", None)
    if cache is None:
        cache = list(Membership.objects.select_related("custom_role").filter(user=user))
        user._helpdesk_memberships = cache  # per request: the user object lives as long as the request
    return cache


def workspace_ids_where(user, capability):
    """Ids of the workspaces where `user` holds `capability` (superusers: every workspace)."""
    if getattr(user, "is_superuser", False):
        return list(Workspace.objects.values_list("pk", flat=True))
    return [m.workspace_id for m in memberships(user) if roles.can(m, capability)]


def member_ids_with(workspace_id, capability, among=None):
    """Ids of the workspace's members holding `capability` (role or custom role): one query of
    plain tuples. among: restrict to these user ids (an iterable or a values() subquery).
    A deactivated user holds nothing (routing must not hand them chats)."""
    rows = Membership.objects.filter(workspace_id=workspace_id, user__is_active=True)
    if among is not None:
        rows = rows.filter(user_id__in=among)
    return {user_id for user_id, role, custom in rows.values_list("user_id", "role", "custom_role__capabilities")
            if capability in roles.capabilities_of(role, custom)}


def membership_in(user, workspace_id):
    return next((m for m in memberships(user) if m.workspace_id == workspace_id), None)


def can_in(user, workspace_id, capability):
    if getattr(user, "is_superuser", False):
        return True
    return roles.can(membership_in(user, workspace_id), capability)


def membership_of_user(user, workspace_id=None):
    """A user's membership in the chosen workspace (their first one when none is chosen).
    Someone who belongs to several workspaces picks one per request or connection. The
    installation's superusers act as founders in any workspace they choose (an unsaved
    membership: nothing is written for them)."""
    memberships = Membership.objects.select_related("user", "custom_role").filter(user=user).order_by("pk")
    chosen = int_or_none(workspace_id) if workspace_id not in (None, "") else None
    if workspace_id not in (None, ""):
        memberships = memberships.filter(workspace_id=chosen) if chosen is not None else memberships.none()
    membership = memberships.first()
    if membership is None and chosen is not None and getattr(user, "is_superuser", False):
        return Membership(workspace_id=chosen, user=user, role=Role.FOUNDER)
    if membership is None and workspace_id not in (None, ""):
        # Another workspace is answered like one that does not exist: its existence never leaks.
        raise not_found(_("You are not a member of this workspace."))
    if membership is None:
        raise DomainError("forbidden", _("You are not a member of any workspace."), status=403)
    return membership


def acting_membership(request, workspace_id=None):
    """The membership a request acts as, the one rule for every page, API and admin action: an
    API token's own, else the logged-in user's in the chosen workspace (workspace_id, else the
    X-Workspace header, else their first; see membership_of_user)."""
    if isinstance(getattr(request, "auth", None), ApiToken):
        return request.auth.membership
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        raise unauthenticated()
    return membership_of_user(user, workspace_id if workspace_id not in (None, "") else request.headers.get("X-Workspace"))
