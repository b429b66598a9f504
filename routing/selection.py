"""Routing decisions as pure functions: no database, no clock, no I/O.

The assignment action (issue 4) loads plain snapshots of groups, agents and the
customer, calls `decide`, then locks rows and applies the result; keeping the
decision pure lets every strategy and rule combination be tested exhaustively.

Vocabulary (from the Douyin/Youzan routing rules this follows):
- a *group* has rules (all must match; each rule matches any of its values) and a
  priority (lower number first); when several groups match, the first by priority
  receives the customer (e.g. "Hangzhou+Wenzhou" at 1 beats "Hangzhou+Ningbo" at 2);
  the default reception group catches everyone else;
- if the matched group has nobody available, the next matching group is tried, then
  the default group; if nobody anywhere can take the chat, it queues in the best
  matching group;
- an agent is available when online and below capacity; busy agents keep their chats
  but get no new ones; away and offline agents get none.
"""

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from fnmatch import fnmatchcase


class Strategy(StrEnum):
    LEAST_LOADED = "least_loaded"  # saturation = open chats / capacity; ties: longest idle
    ROUND_ROBIN = "round_robin"  # the agent assigned least recently
    FAMILIAR_FIRST = "familiar_first"  # 熟客优先: the customer's last agent if available, else least loaded
    CLAIM = "claim"  # no assignment: the conversation waits in the group's pool for an agent to claim


class AgentStatus(StrEnum):
    ONLINE = "online"
    BUSY = "busy"
    AWAY = "away"
    OFFLINE = "offline"


class RuleField(StrEnum):
    ENTRY_PAGE = "entry_page"  # glob patterns on the URL, e.g. "*/pre-sale/*"
    REGION = "region"  # "浙江/杭州" matches a rule value "浙江/杭州" or "浙江"
    STORE = "store"
    INBOX = "inbox"
    TAG = "tag"  # any of the customer's tags
    LEVEL = "level"
    ATTRIBUTE = "attribute"  # a custom attribute named by `key`
    CHANNEL = "channel"  # the inbox's kind: web, app, wechat_mp, wechat_oa, wecom_kf, email, api
    LANGUAGE = "language"  # the customer's language (identity attribute `language`): "zh" matches "zh-hant"
    TIME_OF_DAY = "time_of_day"  # "21:00-08:00" in the workspace's time zone; an end before the start crosses midnight


@dataclass(frozen=True)
class Rule:
    field: RuleField
    values: tuple = ()
    key: str = ""


@dataclass(frozen=True)
class GroupSpec:
    id: int
    priority: int = 100
    rules: tuple = ()
    strategy: Strategy = Strategy.LEAST_LOADED
    is_default: bool = False
    enabled: bool = True
    member_ids: frozenset = frozenset()


@dataclass(frozen=True)
class AgentState:
    id: int
    status: AgentStatus = AgentStatus.OFFLINE
    open_chats: int = 0
    capacity: int = 0
    last_assigned_at: datetime | None = None

    @property
    def available(self):
        return self.status == AgentStatus.ONLINE and self.open_chats < self.capacity

    @property
    def saturation(self):
        return self.open_chats / self.capacity if self.capacity else float("inf")


@dataclass(frozen=True)
class CustomerContext:
    entry_page: str = ""
    region: str = ""
    store: str = ""
    inbox_id: int | None = None
    tags: frozenset = frozenset()
    level: str = ""
    attributes: dict = field(default_factory=dict, hash=False, compare=False)
    last_agent_id: int | None = None  # who served this customer within the familiarity window, if anyone
    vip_level: int = 0
    channel: str = ""
    language: str = ""
    local_minutes: int | None = None  # minutes since local midnight, set when a group has a time-of-day rule


@dataclass(frozen=True)
class Decision:
    kind: str  # "assign" | "pool" | "queue" | "nobody" (no group at all)
    group_id: int | None = None
    agent_id: int | None = None
    reason: str = ""


# --- rules --------------------------------------------------------------------------


def rule_matches(rule, ctx):
    values = tuple(str(v) for v in rule.values)
    if rule.field == RuleField.ENTRY_PAGE:
        return bool(ctx.entry_page) and any(fnmatchcase(ctx.entry_page, pattern) for pattern in values)
    if rule.field == RuleField.REGION:
        return bool(ctx.region) and any(ctx.region == v or ctx.region.startswith(v + "/") for v in values)
    if rule.field == RuleField.STORE:
        return ctx.store in values
    if rule.field == RuleField.INBOX:
        return ctx.inbox_id is not None and str(ctx.inbox_id) in values
    if rule.field == RuleField.TAG:
        return any(tag in values for tag in ctx.tags)
    if rule.field == RuleField.LEVEL:
        return bool(ctx.level) and ctx.level in values
    if rule.field == RuleField.ATTRIBUTE:
        return rule.key in ctx.attributes and str(ctx.attributes[rule.key]) in values
    if rule.field == RuleField.CHANNEL:
        return bool(ctx.channel) and ctx.channel in values
    if rule.field == RuleField.LANGUAGE:
        language = ctx.language.lower()
        return bool(language) and any(language == v.lower() or language.startswith(v.lower() + "-") for v in values)
    if rule.field == RuleField.TIME_OF_DAY:
        return ctx.local_minutes is not None and any(in_time_window(ctx.local_minutes, v) for v in values)
    return False


def parse_time_window(text):
    """"21:00-08:00" → (1260, 480) minutes, or None when unreadable."""
    try:
        start, end = (part.strip() for part in str(text).split("-"))
        minutes = []
        for part in (start, end):
            hours, mins = part.split(":")
            if not (0 <= int(hours) <= 24 and 0 <= int(mins) < 60) or (int(hours) == 24 and int(mins)):
                return None
            minutes.append(int(hours) * 60 + int(mins))
    except ValueError:
        return None
    return None if minutes[0] == minutes[1] else tuple(minutes)


def in_time_window(minute, text):
    window = parse_time_window(text)
    if window is None:
        return False
    start, end = window
    return start <= minute < end if start < end else (minute >= start or minute < end)


def matching_groups(groups, ctx):
    """Groups whose rules all match, best priority first (ties: lower id); the default group last."""
    matched = sorted(
        (g for g in groups if g.enabled and not g.is_default and g.rules and all(rule_matches(r, ctx) for r in g.rules)),
        key=lambda g: (g.priority, g.id),
    )
    defaults = [g for g in groups if g.enabled and g.is_default]
    return matched + defaults[:1]


# --- agents -------------------------------------------------------------------------

def _idle_key(agent):
    """Never assigned sorts first, then the longest idle (works for naive and aware times alike)."""
    if agent.last_assigned_at is None:
        return (0, 0.0)
    return (1, agent.last_assigned_at.timestamp())


def pick_agent(strategy, agents, ctx=None):
    """The agent to assign among `agents` (already restricted to the group), or None."""
    available = [a for a in agents if a.available]
    if not available or strategy == Strategy.CLAIM:
        return None
    if strategy == Strategy.FAMILIAR_FIRST and ctx is not None and ctx.last_agent_id is not None:
        familiar = next((a for a in available if a.id == ctx.last_agent_id), None)
        if familiar is not None:
            return familiar
    if strategy == Strategy.ROUND_ROBIN:
        return min(available, key=lambda a: (_idle_key(a), a.id))
    return min(available, key=lambda a: (a.saturation, _idle_key(a), a.id))


def members_of(agents, member_ids):
    """The AgentStates of a group's members (agents: AgentState by id)."""
    return [agents[i] for i in sorted(member_ids) if i in agents]


def decide(groups, agents, ctx):
    """Where a new (or re-routed) conversation goes. `agents`: AgentState by id (see members_of)."""
    candidates = matching_groups(groups, ctx)
    if not candidates:
        return Decision("nobody", reason="no group matches and there is no default group")
    for group in candidates:
        if group.strategy == Strategy.CLAIM:
            return Decision("pool", group.id, reason="claim mode")
        agent = pick_agent(group.strategy, members_of(agents, group.member_ids), ctx)
        if agent is not None:
            return Decision("assign", group.id, agent.id, reason=str(group.strategy))
    return Decision("queue", candidates[0].id, reason="nobody available")


# --- queue --------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueEntry:
    conversation_id: int
    group_id: int
    enqueued_at: datetime
    vip_level: int = 0
    ctx: CustomerContext = field(default_factory=CustomerContext, compare=False)


def queue_order(entries):
    """VIP levels first (higher first), then first come, first served."""
    return sorted(entries, key=lambda e: (-e.vip_level, e.enqueued_at, e.conversation_id))


def queue_positions(entries):
    """1-based position of each queued conversation within its group's queue."""
    positions, counters = {}, {}
    for entry in queue_order(entries):
        counters[entry.group_id] = counters.get(entry.group_id, 0) + 1
        positions[entry.conversation_id] = counters[entry.group_id]
    return positions


def plan_drain(entries, groups, agents, now):
    """Assignments to make now, in queue order, as agents free up: [(conversation_id, agent_id)].
    Each planned assignment counts against the agent's capacity (and idle time) for the next ones.
    Queues are FIFO per group: an entry nobody in its group can take does not block other groups."""
    by_id = {g.id: g for g in groups}
    state = dict(agents)
    plan = []
    for entry in queue_order(entries):
        group = by_id.get(entry.group_id)
        if group is None or group.strategy == Strategy.CLAIM:
            continue
        members = [state[i] for i in sorted(group.member_ids) if i in state]
        agent = pick_agent(group.strategy, members, entry.ctx)
        if agent is None:
            continue
        plan.append((entry.conversation_id, agent.id))
        state[agent.id] = AgentState(agent.id, agent.status, agent.open_chats + 1, agent.capacity, now)
    return plan
