"""Reports (issue 18 item 2): figures by day/week/month and per agent, group, inbox, channel or tag,
read from the aggregate rows (reports.models.ReportRollup) in two GROUP BY queries whatever the
number of conversations, plus the agents' online time from their status changes.
docs/reports.md defines every figure."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Max, OuterRef, Subquery, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Workspace
from chat.models import Inbox
from helpdesk.errors import FieldErrors
from routing.models import AgentGroup

from . import access, history
from .models import FRT_COLUMNS, HOUR_COLUMNS, RATED_COLUMNS, RES_COLUMNS, AgentStatusChange, ReportRollup
from .rollups import day_bounds, online_seconds, percentile

MAX_DAYS = 366
DEFAULT_DAYS = 30
PERIODS = ("day", "week", "month")
DIMENSIONS = {"agent": "agent_id", "group": "group_id", "inbox": "inbox_id", "channel": "channel", "tag": "tag_id"}
SUMMED = ["conversations", "first_responses", "first_response_seconds", "resolved", "resolution_seconds", "ever_resolved",
          "reopened", "ratings", "rating_sum", "bot_conversations", "bot_answers", "handed_off", "deflected",
          *HOUR_COLUMNS, *FRT_COLUMNS, *RES_COLUMNS, *RATED_COLUMNS]


def period_choices():
    return [("day", _("Day")), ("week", _("Week")), ("month", _("Month"))]


def dimension_choices():
    return [("agent", _("Agent")), ("group", _("Group")), ("inbox", _("Inbox")), ("channel", _("Channel")), ("tag", _("Tag"))]


@dataclass
class Filters:
    date_from: date
    date_to: date
    period: str = "day"
    by: str = "agent"
    agent_id: int | None = None
    group_id: int | None = None
    inbox_id: int | None = None
    channel: str = ""
    tag_id: int | None = None


def workspace_zone(actor):
    return Workspace.zone_of(actor.workspace_id)


def group_choices(actor):
    return list(AgentGroup.objects.filter(workspace_id=actor.workspace_id).order_by("name").values_list("pk", "name"))


def parse_filters(actor, params, today=None):
    """Filters from a query string; FieldErrors (400) naming every bad field. Ids must name this
    workspace's objects (another workspace's id is the same error as an unknown one)."""
    today = today or timezone.localtime(timezone.now(), workspace_zone(actor)).date()
    get = lambda key: (params.get(key) or "").strip()  # noqa: E731
    errors = {}
    # history's parsers: the same messages for the same mistakes on both pages
    date_to = history._date(get("to"), "to", errors) if get("to") else today
    date_from = history._date(get("from"), "from", errors) if get("from") else (date_to or today) - timedelta(days=DEFAULT_DAYS - 1)
    if date_from and date_to:
        if date_from > date_to:
            errors["to"] = _("The end date is before the start date.")
        elif (date_to - date_from).days + 1 > MAX_DAYS:
            errors["from"] = _("Choose at most %(n)s days.") % {"n": MAX_DAYS}
    f = Filters(date_from=date_from, date_to=date_to)
    f.period = get("period") or "day"
    if f.period not in PERIODS:
        errors["period"], f.period = _("Choose day, week or month."), "day"
    f.by = get("by") or "agent"
    if f.by not in DIMENSIONS:
        errors["by"], f.by = _("Choose agent, group, inbox, channel or tag."), "agent"
    for name, choices, message in (("agent", history.agent_choices, _("Select a member of this workspace.")),
                                   ("group", group_choices, _("Select a group of this workspace.")),
                                   ("inbox", history.inbox_choices, _("Select an inbox of this workspace.")),
                                   ("tag", history.tag_choices, _("Select a tag of this workspace."))):
        value = get(name)
        allowed = {pk for pk, _name in choices(actor)} if value else ()
        setattr(f, f"{name}_id", history._choice_id(value, name, allowed, errors, message))
    f.channel = get("channel")
    if f.channel and f.channel not in Inbox.Kind.values:
        errors["channel"], f.channel = _("Choose a channel from the list."), ""
    if errors:
        raise FieldErrors("invalid_filters", _("Some filters are not valid."), errors)
    return f


# --- figures ------------------------------------------------------------------------------------


class Figures:
    """The figures of a sum of rollup rows (a dict column → total)."""

    def __init__(self, sums=None):
        self.sums = defaultdict(int, {k: v or 0 for k, v in (sums or {}).items()})

    def add(self, other):
        for key, value in other.sums.items():
            self.sums[key] += value

    def __getattr__(self, name):
        if name in SUMMED:
            return self.sums[name]
        raise AttributeError(name)

    @staticmethod
    def _ratio(part, whole, digits=4):
        return round(part / whole, digits) if whole else None

    def frt_hist(self):
        return [self.sums[c] for c in FRT_COLUMNS]

    def res_hist(self):
        return [self.sums[c] for c in RES_COLUMNS]

    def rating_counts(self):
        return [self.sums[c] for c in RATED_COLUMNS]

    def row(self):
        """The figures in the order of COLUMNS (after the label)."""
        s = self.sums
        return [s["conversations"], s["first_responses"], self._ratio(s["first_response_seconds"], s["first_responses"], 1),
                percentile(self.frt_hist(), 0.5), percentile(self.frt_hist(), 0.9),
                s["resolved"], self._ratio(s["resolution_seconds"], s["resolved"], 1),
                percentile(self.res_hist(), 0.5), percentile(self.res_hist(), 0.9),
                self._ratio(s["reopened"], s["ever_resolved"]), s["ratings"], self._ratio(s["rating_sum"], s["ratings"], 2),
                s["bot_conversations"], s["bot_answers"], s["handed_off"], self._ratio(s["deflected"], s["bot_conversations"])]


def figure_columns():
    """(label, kind) of Figures.row(); kind tells the page how to show a value."""
    return [(_("Conversations"), "int"), (_("First responses"), "int"), (_("First response, average"), "seconds"),
            (_("First response, median"), "seconds"), (_("First response, p90"), "seconds"),
            (_("Resolved"), "int"), (_("Resolution time, average"), "seconds"), (_("Resolution time, median"), "seconds"),
            (_("Resolution time, p90"), "seconds"), (_("Reopen rate"), "rate"), (_("Ratings"), "int"),
            (_("CSAT average"), "score"), (_("Bot conversations"), "int"), (_("Bot answers"), "int"), (_("Hand-offs"), "int"),
            (_("Deflection rate"), "rate")]


@dataclass
class Table:
    key: str
    title: str
    columns: list  # [(label, kind)]
    rows: list = field(default_factory=list)  # [[label, value...]]


@dataclass
class Report:
    filters: Filters
    total: Figures
    tables: dict  # key -> Table
    chart: dict  # what the page's charts draw (JSON)


def _rows(actor, f):
    qs = ReportRollup.objects.filter(workspace_id=actor.workspace_id, day__gte=f.date_from, day__lte=f.date_to)
    scope = access.report_rows_filter(actor)
    if scope is not None:
        qs = qs.filter(scope)
    if f.tag_id:
        qs = qs.filter(tag_id=f.tag_id)
    elif f.by == "tag":
        qs = qs.exclude(tag_id=0)
    else:
        qs = qs.filter(tag_id=0)
    for name, value in (("agent_id", f.agent_id), ("group_id", f.group_id), ("inbox_id", f.inbox_id), ("channel", f.channel)):
        if value:
            qs = qs.filter(**{name: value})
    return qs


def _summed(qs, by):
    return qs.values(by).annotate(**{f"s_{c}": Sum(c) for c in SUMMED}).order_by(by)


def _figures(row):
    return Figures({c: row[f"s_{c}"] for c in SUMMED})


def period_start(day, period):
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def period_label(day, period):
    return day.strftime("%Y-%m") if period == "month" else day.isoformat()


def _names(actor, by):
    if by == "agent":
        names = history.member_names(actor)
        names[0] = _("(no agent)")
    elif by == "group":
        names = dict(group_choices(actor))
        names[0] = _("(no group)")
    elif by == "inbox":
        names = dict(history.inbox_choices(actor))
    elif by == "channel":
        names = dict(Inbox.Kind.choices)
    else:
        names = dict(history.tag_choices(actor))
    return names


def online_time(actor, f, tz, now=None):
    """[(agent name, seconds online or busy)] in the range, for the agents the actor may see."""
    now = now or timezone.now()
    start, end = day_bounds(f.date_from, tz)[0], min(day_bounds(f.date_to, tz)[1], now)
    names = history.member_names(actor)
    users = AgentStatusChange.objects.filter(workspace_id=actor.workspace_id)
    scope = access.report_agents_filter(actor)
    if scope is not None:
        users = users.filter(scope)
    if f.agent_id:
        users = users.filter(user_id=f.agent_id)
    if f.group_id:
        users = users.filter(user_id__in=AgentGroup.members.through.objects.filter(agentgroup_id=f.group_id).values("user_id"))
    before = AgentStatusChange.objects.filter(workspace_id=actor.workspace_id, user_id=OuterRef("user_id"), at__lt=start).order_by("-at")
    agents = (users.filter(at__lt=end).values("user_id").annotate(last=Max("at"), before=Subquery(before.values("status")[:1]))
              .order_by("user_id"))
    changes = defaultdict(list)
    for user_id, status, at in (users.filter(at__gte=start, at__lt=end).order_by("user_id", "at", "pk")
                                .values_list("user_id", "status", "at")):
        changes[user_id].append((status, at))
    rows = [(names.get(a["user_id"], str(a["user_id"])), online_seconds(changes[a["user_id"]], start, end, a["before"]))
            for a in agents if start < end]
    return sorted(rows, key=lambda r: (-r[1], r[0]))


def build(actor, f, now=None):
    """The whole report: 2 queries on the rollup rows, 1-2 for names, 2 for online time."""
    tz = workspace_zone(actor)
    rows = _rows(actor, f)
    by_day = {r["day"]: _figures(r) for r in _summed(rows, "day")}
    periods, total, heat = {}, Figures(), [[0] * 24 for _ in range(7)]
    for day, figures in sorted(by_day.items()):
        periods.setdefault(period_start(day, f.period), Figures()).add(figures)
        total.add(figures)
        for hour, column in enumerate(HOUR_COLUMNS):
            heat[day.weekday()][hour] += figures.sums[column]
    columns = figure_columns()
    timeline = Table("timeline", _("By period"), [(_("Period"), "text"), *columns],
                     [[period_label(p, f.period), *figures.row()] for p, figures in sorted(periods.items())])
    names = _names(actor, f.by)
    dimension = dict(dimension_choices())[f.by]
    breakdown = Table("breakdown", _("By %(dimension)s") % {"dimension": dimension}, [(dimension, "text"), *columns])
    for r in _summed(rows, DIMENSIONS[f.by]):
        key = r[DIMENSIONS[f.by]]
        breakdown.rows.append([str(names.get(key, key)), *_figures(r).row()])
    breakdown.rows.sort(key=lambda row: (-row[1], row[0]))
    counts = total.rating_counts()
    csat = Table("csat", _("Satisfaction ratings"), [(_("Rating"), "int"), (_("Ratings"), "int"), (_("Share"), "rate")],
                 [[score, counts[score - 1], Figures._ratio(counts[score - 1], total.ratings)] for score in range(5, 0, -1)])
    weekdays = [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday")]
    hours = Table("hours", _("Busiest hours"), [(_("Weekday"), "text"), *[(f"{h:02d}", "int") for h in range(24)]],
                  [[str(weekdays[d]), *heat[d]] for d in range(7)])
    online = Table("online", _("Agent online time"), [(_("Agent"), "text"), (_("Online time"), "seconds")],
                   [list(r) for r in online_time(actor, f, tz, now)])
    chart = {
        "periods": [row[0] for row in timeline.rows],
        "conversations": [row[1] for row in timeline.rows],
        "frt_median": [_finite(row[4]) for row in timeline.rows],
        "frt_p90": [_finite(row[5]) for row in timeline.rows],
        "csat": [row[12] for row in timeline.rows],
        "deflection": [row[16] for row in timeline.rows],
        "ratings": [counts[score - 1] for score in range(1, 6)],
        "heat": [[hour, d, heat[d][hour]] for d in range(7) for hour in range(24)],
        "heat_max": max((max(day) for day in heat), default=0),
        "weekdays": [str(w) for w in weekdays],
        "breakdown": [[row[0], row[1]] for row in breakdown.rows[:15]],
    }
    tables = {t.key: t for t in (timeline, breakdown, csat, hours, online)}
    return Report(filters=f, total=total, tables=tables, chart=chart)


def _finite(value):
    return None if value is None or value == float("inf") else value
