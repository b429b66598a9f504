from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import ObjectPermissionRow, RoutingVersion

from .selection import AgentStatus, Strategy


STATUS_LABELS = [(AgentStatus.ONLINE.value, _("Online")), (AgentStatus.BUSY.value, _("Busy")), (AgentStatus.AWAY.value, _("Away")),
                 (AgentStatus.OFFLINE.value, _("Offline"))]


class AgentGroup(models.Model):
    """A reception group: who receives which customers (rules, priority) and how (strategy).

    The default reception group has no rules and no stored members: it is every member
    who serves chats, so it can never fall out of sync with the membership."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="agent_groups")
    name = models.CharField(_("name"), max_length=80)
    is_default = models.BooleanField(_("default reception group"), default=False)
    priority = models.PositiveIntegerField(_("priority"), default=100, help_text=_("When several groups match, the lowest number wins."))
    strategy = models.CharField(_("strategy"), max_length=20, choices=[(s.value, s.value) for s in Strategy], default=Strategy.LEAST_LOADED)
    # [{"field": "region", "values": ["浙江/杭州", "浙江/温州"]}, ...]: all rules must match (see routing.selection)
    rules = models.JSONField(_("rules"), default=list, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="agent_groups", verbose_name=_("members"))

    class Meta:
        verbose_name = _("agent group")
        verbose_name_plural = _("agent groups")
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="uniq_group_name"),
            models.UniqueConstraint(fields=["workspace"], condition=Q(is_default=True), name="one_default_group"),
        ]
        permissions = [("supervise_group", _("Can supervise this group's conversations"))]

    def __str__(self):
        return self.name

    # The routing structure each process caches (routing.actions). Member changes go through the
    # M2M manager, which no save() sees: their writers (the admin's save_related) bump themselves.
    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        RoutingVersion.bump(self.workspace_id)

    def delete(self, *args, **kwargs):
        result = super().delete(*args, **kwargs)
        RoutingVersion.bump(self.workspace_id)
        return result


class AgentGroupUserPermission(ObjectPermissionRow):
    """Guardian object permissions on an agent group (direct foreign key)."""

    content_object = models.ForeignKey(AgentGroup, on_delete=models.CASCADE, related_name="user_permissions")

    class Meta(ObjectPermissionRow.Meta):
        verbose_name = _("agent group permission")
        verbose_name_plural = _("agent group permissions")


class AgentPresence(models.Model):
    """An agent's availability in a workspace: status, capacity, and when they last got a chat."""

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="presences")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="presences", verbose_name=_("member"))
    status = models.CharField(_("status"), max_length=10, choices=STATUS_LABELS, default=AgentStatus.OFFLINE)
    capacity = models.PositiveSmallIntegerField(_("capacity"), default=5, help_text=_("Most chats served at once."))
    # Open conversations assigned to this agent: kept with F() on every assign and release, so the
    # routing snapshot needs no count; recounted exactly under the row lock before each assignment
    # and for everyone by the sweep, so it cannot drift for long.
    open_chats = models.PositiveIntegerField(_("open chats"), default=0)
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    # A console tab of this agent is visible until then (tabs renew it while shown): Web Push
    # is sent only when no tab is, so a visible console is not doubled by notifications.
    console_visible_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("agent presence")
        verbose_name_plural = _("agent presences")
        constraints = [models.UniqueConstraint(fields=["workspace", "user"], name="uniq_presence")]


class AlertMetric(models.TextChoices):
    QUEUE_LENGTH = "queue_length", _("Chats waiting")
    LONGEST_WAIT = "longest_wait", _("Longest wait")
    FIRST_RESPONSE = "first_response", _("First response time")
    UNANSWERED = "unanswered", _("Unanswered chats")
    CSAT = "csat", _("Satisfaction")


class ServiceAlertRule(models.Model):
    """预警: one group's service-level thresholds (an empty one is not watched). The scheduler
    compares the group's figures with them (routing.alerts) and keeps ServiceAlertBreach rows."""

    group = models.OneToOneField(AgentGroup, on_delete=models.CASCADE, related_name="alert_rule", verbose_name=_("agent group"))
    enabled = models.BooleanField(_("alerts on"), default=True)
    max_queue_length = models.PositiveIntegerField(
        _("most chats waiting"), null=True, blank=True, help_text=_("Alert when more chats than this wait in the group's queue."))
    max_wait_seconds = models.PositiveIntegerField(
        _("longest wait (seconds)"), null=True, blank=True, help_text=_("Alert when a chat has waited in the queue longer than this."))
    max_first_response_seconds = models.PositiveIntegerField(
        _("first response time (seconds)"), null=True, blank=True,
        help_text=_("Alert when the average first response time of the last hour is longer than this."))
    max_unanswered = models.PositiveIntegerField(
        _("most unanswered chats"), null=True, blank=True,
        help_text=_("Alert when more open chats than this wait for an answer to the customer's last message."))
    min_csat = models.DecimalField(
        _("lowest satisfaction"), max_digits=2, decimal_places=1, null=True, blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text=_("Alert when the average rating (1-5) of the last 24 hours falls below this."))
    min_ratings = models.PositiveSmallIntegerField(
        _("ratings needed"), default=3, validators=[MinValueValidator(1)],
        help_text=_("The satisfaction alert waits for at least this many ratings in the last 24 hours."))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("service alert thresholds")
        verbose_name_plural = _("service alert thresholds")

    def __str__(self):
        return str(self.group)


class ServiceAlertBreach(models.Model):
    """One breach of a threshold, from when the scheduler saw it to when the figure came back
    (cleared_at): the event log, and the banner while open. One open breach per group and metric
    (a unique constraint: two schedulers evaluating at once open it once). Its Web Push to the
    group's supervisors is sent from this row by the worker (lifecycle.alert_push), leased like
    a follow-up job: sent once, again only if the sender died before marking it."""

    class Push(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        NONE = "none", _("Not needed")

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey(AgentGroup, on_delete=models.CASCADE, related_name="alert_breaches", verbose_name=_("agent group"))
    metric = models.CharField(_("metric"), max_length=20, choices=AlertMetric.choices)
    value = models.FloatField(_("value"))
    threshold = models.FloatField(_("threshold"))
    opened_at = models.DateTimeField(_("opened at"))
    cleared_at = models.DateTimeField(_("cleared at"), null=True, blank=True)
    push = models.CharField(_("push"), max_length=10, choices=Push.choices, default=Push.PENDING)
    push_lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("service alert")
        verbose_name_plural = _("service alerts")
        constraints = [
            models.UniqueConstraint(fields=["group", "metric"], condition=Q(cleared_at__isnull=True), name="one_open_breach"),
        ]
        indexes = [
            models.Index(fields=["workspace", "-opened_at"], name="breach_ws_recent"),
            models.Index(fields=["opened_at", "id"], condition=Q(push="pending"), name="breach_push_pending"),
        ]

    def __str__(self):
        return f"{self.group} {self.get_metric_display()}"
