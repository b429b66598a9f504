"""The team and roles page's permission matrix, generated from accounts.roles (never written by hand):
one row per capability, one column per base role, then one per custom role of the workspace."""

from dataclasses import dataclass

from . import roles
from .models import CustomRole, Role


@dataclass(frozen=True)
class Column:
    label: str
    custom_role: CustomRole | None = None


@dataclass(frozen=True)
class Row:
    label: str
    cells: tuple  # one bool per column


def permission_matrix(custom_roles=()):
    """(columns, rows). A custom role's column shows what it adds on top of a member's base role
    (only grantable capabilities count, as in roles.capabilities_of)."""
    columns = [Column(str(label)) for _value, label in Role.choices]
    grants = [roles.ROLE_CAPABILITIES[value] for value in Role.values]
    for custom_role in custom_roles:
        columns.append(Column(custom_role.name, custom_role))
        grants.append(roles.capabilities_of(None, custom_role.capabilities))
    rows = [Row(str(label), tuple(capability in granted for granted in grants)) for capability, label in roles.CAPABILITY_LABELS.items()]
    return columns, rows


# Base roles that may manage others (the page's second table).
ADMIN_ROLES = frozenset(value for value, allowed in roles.MANAGEABLE_ROLES.items() if allowed)


def manageable_roles_text(role):
    """Which base roles a member of `role` may add, remove or move, in words (the page's second table)."""
    allowed = roles.MANAGEABLE_ROLES.get(role, frozenset())
    return [str(label) for value, label in Role.choices if value in allowed]
