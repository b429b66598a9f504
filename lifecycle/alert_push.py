"""Web Push of service-level alerts (预警) to the group's supervisors' devices.

A breach row (routing.ServiceAlertBreach) is written with push = pending in the evaluation that
opened it (reports.alerts): that row is the job. The worker sends it right after the evaluation,
under a lease like a leased follow-up job (lifecycle.followups): the conditional UPDATE that takes
the lease lets one sender have it; the row is marked sent afterwards, and a sender that died
holding it is replaced when the lease ends (a notification may then go out twice; none is lost).
Recipients: the group's supervisors and the members who configure the workspace (owners, admins),
on or off duty, unless a console tab of theirs is visible (it shows the banner)."""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import roles
from accounts.models import Membership
from reports import alerts
from reports.alerts import describe
from routing.models import AgentGroupUserPermission, ServiceAlertBreach

from . import push

log = logging.getLogger(__name__)

BATCH = 100


def _recipients(breach):
    supervisors = AgentGroupUserPermission.objects.filter(content_object_id=breach.group_id, permission__codename="supervise_group").values_list(
        "user_id", flat=True)
    owners = [m.user_id for m in Membership.objects.filter(workspace_id=breach.workspace_id).select_related("custom_role")
              if roles.can(m, roles.CONFIGURE)]
    return sorted(set(supervisors) | set(owners))


def send_pending(now=None):
    """Send the pending breach pushes whose lease is free. Returns how many this call sent."""
    now = now or timezone.now()
    free = Q(push_lease_until__isnull=True) | Q(push_lease_until__lte=now)
    rows = list(ServiceAlertBreach.objects.filter(free, push=ServiceAlertBreach.Push.PENDING).select_related("group")
                .order_by("opened_at", "pk")[:BATCH])
    sent = 0
    for breach in rows:
        if not settings.WEB_PUSH["ENABLED"] or not push.workspace_has_devices(breach.workspace_id):
            ServiceAlertBreach.objects.filter(pk=breach.pk, push=ServiceAlertBreach.Push.PENDING).update(push=ServiceAlertBreach.Push.NONE)
            continue
        lease = now + timedelta(seconds=settings.FOLLOWUPS["LEASE_SECONDS"])
        taken = ServiceAlertBreach.objects.filter(pk=breach.pk, push=ServiceAlertBreach.Push.PENDING,
                                                  push_lease_until=breach.push_lease_until).update(push_lease_until=lease)
        if not taken:
            continue  # another worker has it
        _send(breach)
        ServiceAlertBreach.objects.filter(pk=breach.pk, push_lease_until=lease).update(push=ServiceAlertBreach.Push.SENT)
        sent += 1
    return sent


def _send(breach):
    rows = push._devices(breach.workspace_id, _recipients(breach), on_duty=False)

    def build():
        title = _("Service alert: %(group)s") % {"group": breach.group.name}
        return {"type": "service_alert", "title": title, "body": describe(breach),
                "conversation_id": None, "url": "/console/board/", "tag": f"service-alert-{breach.group_id}-{breach.metric}"}

    push._send_all(rows, build, topic=f"service-alert-{breach.group_id}")


def evaluate_and_push(now=None):
    """One alert turn of the worker: evaluate every group's thresholds, then send the new breaches'
    pushes. Returns the number of transitions and pushes."""
    opened, cleared = alerts.evaluate(now)
    return opened + cleared + send_pending(now)
