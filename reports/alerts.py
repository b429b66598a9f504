"""预警, service-level alerts: each group's figures against its thresholds (routing.ServiceAlertRule),
evaluated by the worker every SCHEDULER["ALERT_INTERVAL_SECONDS"], and who sees the open ones.

One evaluation turn reads the enabled rules, then, per batch of BATCH groups, four grouped queries
(waiting chats and the oldest wait, unanswered chats, first responses of the last hour, ratings of
the last 24 hours), then the open breaches, and writes the transitions: new breaches in one INSERT
… ON CONFLICT DO NOTHING (the partial unique constraint one_open_breach makes two evaluators racing
open a breach once), ended ones in one conditional UPDATE. The query count does not grow with the
number of groups or agents. A new breach row carries its own pending Web Push, which the worker
sends once (lifecycle.alert_push). Sockets of the workspace are told `alerts.changed` after a
transition and fetch their banner again (only what they may see: visible_breaches)."""

import statistics
from datetime import timedelta

from django.db import transaction
from django.db.models import Count, Min, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from chat.access import supervised_group_ids
from chat.models import Conversation, SatisfactionRating
from helpdesk import realtime
from routing.models import AgentGroup, AlertMetric, ServiceAlertBreach, ServiceAlertRule

from .board import first_response_seconds, handed_off_at, unanswered

BATCH = 500
FIRST_RESPONSE_WINDOW = timedelta(hours=1)
CSAT_WINDOW = timedelta(hours=24)
RULE_FIELDS = ("group_id", "group__workspace_id", "max_queue_length", "max_wait_seconds", "max_first_response_seconds",
               "max_unanswered", "min_csat", "min_ratings")


def alerts_group(workspace_id):
    """Every agent socket of the workspace: told when a breach opens or clears."""
    return f"alerts.{workspace_id}"


def group_figures(group_ids, now, workspace_ids=None):
    """{group_id: {metric: value}} for the groups, in four grouped queries. A metric with nothing
    to measure (no first response in the window, too few ratings) is absent. workspace_ids (the
    groups' workspaces) lets the open-state queries use the (workspace, state) index."""
    figures = {gid: {AlertMetric.QUEUE_LENGTH: 0, AlertMetric.UNANSWERED: 0} for gid in group_ids}
    in_groups = Conversation.objects.filter(group_id__in=group_ids)
    if workspace_ids is not None:
        in_groups = in_groups.filter(workspace_id__in=workspace_ids)
    for row in in_groups.filter(state=Conversation.State.QUEUED).values("group_id").annotate(
            n=Count("pk"), oldest=Min(Coalesce("queued_at", "created_at"))).order_by():
        figures[row["group_id"]][AlertMetric.QUEUE_LENGTH] = row["n"]
        figures[row["group_id"]][AlertMetric.LONGEST_WAIT] = max((now - row["oldest"]).total_seconds(), 0.0)
    for row in unanswered(in_groups).values("group_id").annotate(n=Count("pk")).order_by():
        figures[row["group_id"]][AlertMetric.UNANSWERED] = row["n"]
    responses = {}
    # A first response is a message: last_message_at bounds the rows to the window's (same figures).
    window = in_groups.filter(last_message_at__gt=now - FIRST_RESPONSE_WINDOW)
    for gid, created, handed, first in window.filter(first_response_at__gt=now - FIRST_RESPONSE_WINDOW, first_response_at__lte=now).annotate(
            handed=handed_off_at()).values_list("group_id", "created_at", "handed", "first_response_at"):
        responses.setdefault(gid, []).append((created, handed, first))
    for gid, rows in responses.items():
        figures[gid][AlertMetric.FIRST_RESPONSE] = statistics.fmean(first_response_seconds(rows))
    ratings = {}
    for gid, rating in SatisfactionRating.objects.filter(conversation__group_id__in=group_ids, created_at__gt=now - CSAT_WINDOW,
                                                         created_at__lte=now).values_list("conversation__group_id", "rating"):
        ratings.setdefault(gid, []).append(rating)
    for gid, values in ratings.items():
        figures[gid]["ratings"] = len(values)
        figures[gid][AlertMetric.CSAT] = statistics.fmean(values)
    return figures


def breached(rule, figures):
    """[(metric, value, threshold)] of the rule's thresholds that the figures pass."""
    found = []
    for metric, field in ((AlertMetric.QUEUE_LENGTH, "max_queue_length"), (AlertMetric.LONGEST_WAIT, "max_wait_seconds"),
                          (AlertMetric.FIRST_RESPONSE, "max_first_response_seconds"), (AlertMetric.UNANSWERED, "max_unanswered")):
        limit, value = rule[field], figures.get(metric)
        if limit is not None and value is not None and value > limit:
            found.append((metric, value, float(limit)))
    floor, csat = rule["min_csat"], figures.get(AlertMetric.CSAT)
    if floor is not None and csat is not None and figures.get("ratings", 0) >= rule["min_ratings"] and csat < float(floor):
        found.append((AlertMetric.CSAT, csat, float(floor)))
    return found


def evaluate(now=None, batch=BATCH):
    """One turn: open what is breached and not open yet, clear what is open and no longer breached.
    Returns (opened, cleared): breaches this call tried to open (a racing evaluator may have
    opened the same ones: the constraint keeps one), and breaches it cleared."""
    now = now or timezone.now()
    rules = list(ServiceAlertRule.objects.filter(enabled=True, group__enabled=True).order_by("group_id").values(*RULE_FIELDS))
    current = {}  # (group_id, metric) -> (workspace_id, value, threshold)
    for start in range(0, len(rules), batch):
        chunk = rules[start:start + batch]
        figures = group_figures([r["group_id"] for r in chunk], now, sorted({r["group__workspace_id"] for r in chunk}))
        for rule in chunk:
            for metric, value, threshold in breached(rule, figures[rule["group_id"]]):
                current[(rule["group_id"], metric)] = (rule["group__workspace_id"], value, threshold)
    open_rows = list(ServiceAlertBreach.objects.filter(cleared_at__isnull=True).values_list("pk", "group_id", "metric", "workspace_id"))
    open_keys = {(gid, metric) for _pk, gid, metric, _ws in open_rows}
    ended = [(pk, ws) for pk, gid, metric, ws in open_rows if (gid, metric) not in current]
    new = [ServiceAlertBreach(workspace_id=ws, group_id=gid, metric=metric, value=round(value, 2), threshold=threshold, opened_at=now)
           for (gid, metric), (ws, value, threshold) in current.items() if (gid, metric) not in open_keys]
    opened = cleared = 0
    if not new and not ended:
        return opened, cleared  # nothing changed: no transaction at all (an idle turn only reads)
    with transaction.atomic():
        if new:
            ServiceAlertBreach.objects.bulk_create(new, ignore_conflicts=True)
            opened = len(new)
        if ended:
            cleared = ServiceAlertBreach.objects.filter(pk__in=[pk for pk, _ws in ended], cleared_at__isnull=True).update(cleared_at=now)
        changed = {b.workspace_id for b in new} | {ws for _pk, ws in ended}
        realtime.publish([(alerts_group(ws), {"type": "alerts.changed"}) for ws in sorted(changed)])
    return opened, cleared


def describe(breach):
    """The breach in words, in the active language (the banner and the push say the same). It names
    the threshold, which stays true while the breach is open; the value when it opened is in the log."""
    limit = {"limit": breach.threshold}
    if breach.metric == AlertMetric.QUEUE_LENGTH:
        return _("more than %(limit)d chats waiting") % limit
    if breach.metric == AlertMetric.LONGEST_WAIT:
        return _("a customer has waited longer than %(limit)d s") % limit
    if breach.metric == AlertMetric.FIRST_RESPONSE:
        return _("first response takes longer than %(limit)d s on average") % limit
    if breach.metric == AlertMetric.UNANSWERED:
        return _("more than %(limit)d chats unanswered") % limit
    return _("satisfaction below %(limit).1f") % limit


def visible_breaches(actor):
    """The open breaches the member sees in the banner: all of the workspace's for view-all roles;
    otherwise those of the groups they supervise or serve (members; the default group is everyone's)."""
    qs = ServiceAlertBreach.objects.filter(workspace_id=actor.workspace_id, cleared_at__isnull=True)
    if not actor.is_agent:
        return qs.none()
    if not actor.view_all_history:
        member_of = AgentGroup.members.through.objects.filter(user_id=actor.user_id).values("agentgroup_id")
        qs = qs.filter(Q(group_id__in=supervised_group_ids(actor)) | Q(group_id__in=member_of) | Q(group__is_default=True))
    return qs.select_related("group").order_by("opened_at", "pk")
