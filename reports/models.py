"""Report aggregates (issue 18 item 2): the rows reports read instead of scanning conversations.

- `ReportRollup`: one row per (workspace, local day, inbox, group, agent, tag) of the conversations
  *created* that day (a cohort: every figure of a conversation counts on the day it started, so a
  day's rows are rebuilt from that day's conversations alone). tag_id 0 is the row without a tag
  split; a row with a tag repeats the figures of the conversations whose customer has that tag.
  group_id / agent_id 0: none. Histogram columns (bins: BINS below) keep median and p90
  computable from sums of rows.
- `RollupBucket`: one per (workspace, day): the lock a rebuild takes, so two workers rebuilding the
  same day serialise and the second writes the same rows again (idempotent).
- `RollupCursor`: how far the change feed (conversation events) has been read.
- `AgentStatusChange`: every change of an agent's status (routing.actions → chat.hooks →
  lifecycle.flow), the source of agent online time."""

from django.conf import settings
from django.db import models


class ReportRollup(models.Model):
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    inbox_id = models.BigIntegerField()
    channel = models.CharField(max_length=20)
    group_id = models.BigIntegerField(default=0)
    agent_id = models.BigIntegerField(default=0)
    tag_id = models.BigIntegerField(default=0)
    conversations = models.PositiveIntegerField(default=0)
    first_responses = models.PositiveIntegerField(default=0)
    first_response_seconds = models.BigIntegerField(default=0)
    resolved = models.PositiveIntegerField(default=0)
    resolution_seconds = models.BigIntegerField(default=0)
    ever_resolved = models.PositiveIntegerField(default=0)
    reopened = models.PositiveIntegerField(default=0)
    ratings = models.PositiveIntegerField(default=0)
    rating_sum = models.PositiveIntegerField(default=0)
    bot_conversations = models.PositiveIntegerField(default=0)
    bot_answers = models.PositiveIntegerField(default=0)
    handed_off = models.PositiveIntegerField(default=0)
    deflected = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "day", "inbox_id", "group_id", "agent_id", "tag_id"],
                                               name="uniq_report_rollup")]
        indexes = [models.Index(fields=["workspace", "tag_id", "day"], name="rollup_ws_tag_day")]


HOUR_COLUMNS = [f"hour_{h:02d}" for h in range(24)]  # conversations started in each local hour
# Upper bounds (seconds, inclusive) of the response/resolution time histogram bins; one more bin
# holds everything longer. A percentile is reported as the bound of the bin its rank falls in.
BINS = (10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1200, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800)
HIST_BINS = len(BINS) + 1
FRT_COLUMNS = [f"frt_{i:02d}" for i in range(HIST_BINS)]  # first-response time histogram
RES_COLUMNS = [f"res_{i:02d}" for i in range(HIST_BINS)]  # resolution time histogram
RATED_COLUMNS = [f"rated_{r}" for r in range(1, 6)]  # ratings 1..5
# Plain columns, not JSON, so a report sums them in SQL (one GROUP BY) on SQLite and PostgreSQL alike.
for _column in HOUR_COLUMNS + FRT_COLUMNS + RES_COLUMNS + RATED_COLUMNS:
    ReportRollup.add_to_class(_column, models.PositiveIntegerField(default=0))


class RollupBucket(models.Model):
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    built_at = models.DateTimeField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["workspace", "day"], name="uniq_rollup_bucket")]


class RollupCursor(models.Model):
    name = models.CharField(max_length=20, unique=True)
    read_until = models.DateTimeField()


class AgentStatusChange(models.Model):
    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["workspace", "at"], name="status_change_ws_at"),
                   models.Index(fields=["workspace", "user", "at"], name="status_change_ws_user_at")]
