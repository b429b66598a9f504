"""Who supervises which agent group: granting and revoking `routing.supervise_group`, with the
rules of every member change in accounts.actions (authorised, audited, live re-check)."""

from accounts import roles
from accounts.actions import in_workspace, set_object_permission

from .models import AgentGroup

SUPERVISE_GROUP = "routing.supervise_group"


def set_group_supervision(actor, group_id, membership_id, granted):
    group = in_workspace(actor, AgentGroup, group_id, "group.supervise")
    return set_object_permission(
        actor, action="group.supervise", capability=roles.CONFIGURE, perm=SUPERVISE_GROUP, obj=group, membership_id=membership_id, granted=granted
    )
