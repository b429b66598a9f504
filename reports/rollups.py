"""Report aggregates: each (workspace, local day) bucket is rebuilt whole from that day's
conversations (reports.models.ReportRollup), never incremented, so a rebuild run twice, by two
workers at once or again after a crash writes the same rows.

Which days to rebuild comes from the change feed, the conversation events (every figure a report
shows changes with an event: created, first_response, state_changed, handed_off, bot_answered,
rated, assigned, tagged...): `run_due` reads the events written since its cursor and rebuilds the
days their conversations started on. The cursor only passes times older than SETTLE (a write
transaction is committed by then, so an event committed late is still read); events newer than
that are read again on the next turn (the rebuild is idempotent), which keeps today's figures
fresh within one interval. docs/reports.md defines every figure."""

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from math import ceil

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Workspace
from chat import hours
from chat.models import Conversation, ConversationEvent, Customer, SatisfactionRating

from .models import BINS, AgentStatusChange, ReportRollup, RollupBucket, RollupCursor

INTERVAL_SECONDS = 60
SETTLE = timedelta(seconds=60)  # longer than any write transaction of the product
CATCH_UP_STEP = timedelta(hours=6)  # a backlog (first start) is read in windows this long
MAX_WINDOWS_PER_RUN = 40
CURSOR = "events"

OPEN = set(Conversation.OPEN_STATES)
DONE = {Conversation.State.RESOLVED, Conversation.State.CLOSED}
COUNTED_EVENTS = (ConversationEvent.Kind.CREATED, ConversationEvent.Kind.STATE_CHANGED, ConversationEvent.Kind.HANDED_OFF,
                  ConversationEvent.Kind.BOT_ANSWERED, ConversationEvent.Kind.ASSIGNED)


def bin_of(seconds):
    for index, bound in enumerate(BINS):
        if seconds <= bound:
            return index
    return len(BINS)


def zone(name):
    return hours.zone(name, settings.TIME_ZONE)


def day_bounds(day, tz):
    """The UTC instants a local day starts and ends at (23 or 25 hours on a DST change)."""
    return datetime.combine(day, time(), tz), datetime.combine(day + timedelta(days=1), time(), tz)


def local_day(moment, tz):
    return timezone.localtime(moment, tz).date()


def record_status(workspace_id, user_id, status, at=None):
    AgentStatusChange.objects.create(workspace_id=workspace_id, user_id=user_id, status=getattr(status, "value", status),
                                     at=at or timezone.now())


# --- one bucket ---------------------------------------------------------------------------------


class _Row:
    __slots__ = ("inbox_id", "channel", "group_id", "agent_id", "tag_id", "figures")

    def __init__(self, key, channel):
        self.inbox_id, self.group_id, self.agent_id, self.tag_id = key
        self.channel = channel
        self.figures = defaultdict(int)


def _facts(conversation, events, rating, tz):
    """What one conversation adds to its rows: {column: amount}."""
    pk, _inbox, _kind, _group, _assignee, state, created_at, first_response_at, resolved_at = conversation
    kinds = events.get(pk, [])
    add = {"conversations": 1, f"hour_{timezone.localtime(created_at, tz).hour:02d}": 1}
    started_with_bot = any(k == ConversationEvent.Kind.CREATED and to == Conversation.State.BOT for k, _f, to, _t in kinds)
    handoffs = [t for k, _f, _to, t in kinds if k == ConversationEvent.Kind.HANDED_OFF]
    if first_response_at is not None:
        start = created_at
        if handoffs and min(handoffs) <= first_response_at:
            start = min(handoffs)  # a bot chat waits for a person from its hand-off
        seconds = max(0, int((first_response_at - start).total_seconds()))
        add.update(first_responses=1, first_response_seconds=seconds, **{f"frt_{bin_of(seconds):02d}": 1})
    if state in DONE and resolved_at is not None:
        seconds = max(0, int((resolved_at - created_at).total_seconds()))
        add.update(resolved=1, resolution_seconds=seconds, **{f"res_{bin_of(seconds):02d}": 1})
    resolves = any(k == ConversationEvent.Kind.STATE_CHANGED and to in DONE for k, _f, to, _t in kinds)
    if resolves or state in DONE:
        add["ever_resolved"] = 1
    if any(k == ConversationEvent.Kind.STATE_CHANGED and f in DONE and to in OPEN for k, f, to, _t in kinds):
        add["reopened"] = 1
    if rating is not None:
        add.update(ratings=1, rating_sum=rating, **{f"rated_{rating}": 1})
    add["bot_answers"] = sum(1 for k, *_rest in kinds if k == ConversationEvent.Kind.BOT_ANSWERED)
    if started_with_bot:
        add["bot_conversations"] = 1
        if handoffs:
            add["handed_off"] = 1
        elif not any(k == ConversationEvent.Kind.ASSIGNED for k, *_rest in kinds):
            add["deflected"] = 1
    return add


def _agent_of(assignee_id, rated_agent_id):
    return assignee_id or rated_agent_id or 0


def compute_bucket(workspace_id, day, tz):
    """The rows of one bucket, computed from its conversations (four queries)."""
    start, end = day_bounds(day, tz)
    conversations = list(Conversation.objects.filter(workspace_id=workspace_id, created_at__gte=start, created_at__lt=end)
                         .values_list("pk", "inbox_id", "inbox__kind", "group_id", "assignee_id", "state", "created_at",
                                      "first_response_at", "resolved_at", "customer_id"))
    if not conversations:
        return []
    in_bucket = Conversation.objects.filter(workspace_id=workspace_id, created_at__gte=start, created_at__lt=end)
    events = defaultdict(list)
    for conversation_id, kind, from_state, to_state, at in (
            ConversationEvent.objects.filter(conversation__in=in_bucket, kind__in=COUNTED_EVENTS).order_by()
            .values_list("conversation_id", "kind", "from_state", "to_state", "created_at")):
        events[conversation_id].append((kind, from_state, to_state, at))
    ratings = {c: (r, a) for c, r, a in SatisfactionRating.objects.filter(conversation__in=in_bucket)
               .values_list("conversation_id", "rating", "agent_id")}
    tags = defaultdict(list)
    for customer_id, tag_id in Customer.tags.through.objects.filter(customer__in={c[-1] for c in conversations}) \
            .values_list("customer_id", "tag_id"):
        tags[customer_id].append(tag_id)
    rows = {}
    for conversation in conversations:
        pk, inbox_id, kind, group_id, assignee_id = conversation[:5]
        rating, rated_agent = ratings.get(pk, (None, None))
        facts = _facts(conversation[:9], events, rating, tz)
        base = (inbox_id, group_id or 0, _agent_of(assignee_id, rated_agent))
        for tag_id in (0, *tags.get(conversation[-1], ())):
            row = rows.get((*base, tag_id))
            if row is None:
                row = rows[(*base, tag_id)] = _Row((*base, tag_id), kind)
            for column, amount in facts.items():
                row.figures[column] += amount
    return [ReportRollup(workspace_id=workspace_id, day=day, inbox_id=r.inbox_id, channel=r.channel, group_id=r.group_id,
                         agent_id=r.agent_id, tag_id=r.tag_id, **r.figures) for r in rows.values()]


def rebuild_bucket(workspace_id, day, tz=None, now=None):
    """Replace the rows of one (workspace, day) with freshly computed ones. The bucket row is locked
    first, so a concurrent rebuild of the same day waits and then writes the same rows again."""
    tz = tz or Workspace.zone_of(workspace_id)
    RollupBucket.objects.get_or_create(workspace_id=workspace_id, day=day)
    with transaction.atomic():
        bucket = RollupBucket.objects.select_for_update().get(workspace_id=workspace_id, day=day)
        rows = compute_bucket(workspace_id, day, tz)
        ReportRollup.objects.filter(workspace_id=workspace_id, day=day).delete()
        ReportRollup.objects.bulk_create(rows, batch_size=500)
        bucket.built_at = now or timezone.now()
        bucket.save(update_fields=["built_at"])
    return len(rows)


# --- what changed --------------------------------------------------------------------------------


def buckets_of(conversation_ids):
    """{(workspace id, local day)} the conversations started on."""
    zones, found = {}, set()
    rows = Conversation.objects.filter(pk__in=conversation_ids).values_list("workspace_id", "workspace__timezone", "created_at")
    for workspace_id, tz_name, created_at in rows.iterator(chunk_size=2000):
        tz = zones.get(workspace_id) or zones.setdefault(workspace_id, zone(tz_name))
        found.add((workspace_id, local_day(created_at, tz)))
    return found


def _changed(since, until):
    return set(ConversationEvent.objects.filter(created_at__gte=since, created_at__lt=until).order_by()
               .values_list("conversation_id", flat=True).distinct())


def rebuild(buckets, now=None):
    zones = dict(Workspace.objects.filter(pk__in={w for w, _d in buckets}).values_list("pk", "timezone"))
    return sum(rebuild_bucket(w, d, zone(zones.get(w)), now=now) for w, d in sorted(buckets))


def run_due(now=None):
    """One turn of the worker: rebuild the buckets whose conversations had events since the cursor.
    Returns the number of buckets rebuilt. The cursor moves by a conditional UPDATE (two workers:
    one moves it, the other stops); each bucket is its own short transaction."""
    now = now or timezone.now()
    settled = now - SETTLE
    if not RollupCursor.objects.filter(name=CURSOR).exists():
        first = ConversationEvent.objects.order_by("created_at").values_list("created_at", flat=True).first()
        RollupCursor.objects.get_or_create(name=CURSOR, defaults={"read_until": first or settled})
    read_until = RollupCursor.objects.values_list("read_until", flat=True).get(name=CURSOR)
    done = 0
    for _window in range(MAX_WINDOWS_PER_RUN):
        if read_until >= settled:
            break
        until = min(settled, read_until + CATCH_UP_STEP)
        buckets = buckets_of(_changed(read_until, until))
        rebuild(buckets, now=now)
        done += len(buckets)
        if not RollupCursor.objects.filter(name=CURSOR, read_until=read_until).update(read_until=until):
            return done  # another worker is reading the same window
        read_until = until
    fresh = buckets_of(_changed(read_until, now + timedelta(seconds=1)))
    rebuild(fresh, now=now)  # read again next turn, until they settle
    return done + len(fresh)


def rebuild_range(workspace_id, first_day, last_day):
    """Rebuild every day of a range (a command or a test); idempotent."""
    tz = Workspace.zone_of(workspace_id)
    day, count = first_day, 0
    while day <= last_day:
        count += rebuild_bucket(workspace_id, day, tz)
        day += timedelta(days=1)
    return count


def percentile(hist, fraction):
    """Nearest-rank percentile of a histogram (counts per BINS bin): the upper bound of the bin
    the rank falls in; None for no values; float('inf') for the open last bin."""
    total = sum(hist)
    if not total:
        return None
    rank, seen = max(1, ceil(fraction * total)), 0
    for index, count in enumerate(hist):
        seen += count
        if seen >= rank:
            return BINS[index] if index < len(BINS) else float("inf")
    return float("inf")


def online_seconds(changes, start, end, before=None):
    """Seconds spent online or busy within [start, end) from one agent's ordered (status, at)
    changes inside the range; `before`: their status at `start` (the last change before it)."""
    on, since, total = before in ("online", "busy"), start, 0.0
    for status, at in changes:
        if on:
            total += (at - since).total_seconds()
        on, since = status in ("online", "busy"), at
    if on:
        total += (end - since).total_seconds()
    return int(total)


def days(first: date, last: date):
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)
