"""What each role may do in its workspace: capabilities, the one table every check reads.

Object permissions (serve inbox X, supervise group Y) live in guardian rows;
capabilities here are workspace-wide. A custom role adds capabilities on top
of a member's base role but can never grant member management (no escalation)."""

from django.utils.translation import gettext_lazy as _

from .models import Role

SERVE_CHATS = "serve_chats"
VIEW_ALL_HISTORY = "view_all_history"
CONFIGURE = "configure"  # inboxes, groups, routing, quick phrases, auto-replies, knowledge base
MANAGE_MEMBERS = "manage_members"
MANAGE_ROLES = "manage_roles"  # define custom roles
VIEW_AUDIT_LOG = "view_audit_log"
VERIFY_ORDERS = "verify_orders"
USE_ADMIN = "use_admin"

CAPABILITY_LABELS = {
    SERVE_CHATS: _("Serve chats"),
    VIEW_ALL_HISTORY: _("View all conversation history"),
    CONFIGURE: _("Configure inboxes, groups, routing, phrases and knowledge base"),
    MANAGE_MEMBERS: _("Manage members"),
    MANAGE_ROLES: _("Define custom roles"),
    VIEW_AUDIT_LOG: _("View the audit log"),
    VERIFY_ORDERS: _("Verify vouchers and orders"),
    USE_ADMIN: _("Use the admin site"),
}

ROLE_CAPABILITIES = {
    Role.FOUNDER: frozenset(CAPABILITY_LABELS),
    Role.SENIOR_ADMIN: frozenset({SERVE_CHATS, VIEW_ALL_HISTORY, CONFIGURE, MANAGE_MEMBERS, MANAGE_ROLES, VERIFY_ORDERS, USE_ADMIN}),
    Role.ADMIN: frozenset({SERVE_CHATS, VIEW_ALL_HISTORY, CONFIGURE, MANAGE_MEMBERS, VERIFY_ORDERS, USE_ADMIN}),
    Role.AGENT: frozenset({SERVE_CHATS}),
    Role.VERIFIER: frozenset({VERIFY_ORDERS}),
}

# Capabilities a custom role may add: none of them lets a member touch other members.
GRANTABLE_BY_CUSTOM_ROLE = frozenset({SERVE_CHATS, VIEW_ALL_HISTORY, CONFIGURE, VERIFY_ORDERS})

# Which roles a member may add, remove, or move a member from/to.
MANAGEABLE_ROLES = {
    Role.FOUNDER: frozenset(Role.values),
    Role.SENIOR_ADMIN: frozenset({Role.ADMIN, Role.AGENT, Role.VERIFIER}),
    Role.ADMIN: frozenset({Role.AGENT, Role.VERIFIER}),
    Role.AGENT: frozenset(),
    Role.VERIFIER: frozenset(),
}


def capabilities(membership):
    extra = membership.custom_role.capabilities if membership.custom_role_id else ()
    return capabilities_of(membership.role, extra)


def capabilities_of(role, custom_capabilities=()):
    """The same rule from plain values (for queries that fetch rows as tuples)."""
    return frozenset(ROLE_CAPABILITIES.get(role, ())) | (frozenset(custom_capabilities or ()) & GRANTABLE_BY_CUSTOM_ROLE)


def can(membership, capability):
    return membership is not None and capability in capabilities(membership)


def can_manage_role(membership, role):
    return membership is not None and role in MANAGEABLE_ROLES.get(membership.role, ())
