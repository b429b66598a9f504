"""数据看板, the live board: what is happening now and today, for the people who steer service.

Who sees what (scope_of): view-all roles (founder, senior admin, admin, or the granted permission)
the whole workspace; a supervisor the conversations of the groups they supervise and the members
of those groups; any other agent their own figures (the conversations they took part in, their
own presence); verifiers get no agent actor at all (chat.access.agent_actor refuses them).

"Today" is the workspace's own day (Workspace.timezone), from local midnight to now. Every figure
is one query over the scope, whatever the number of agents or groups (docs/reports.md defines each
one exactly). The board is not pushed as data: the worker tells board viewers that something
changed (BoardWatch, at most every SCHEDULER["BOARD_INTERVAL_SECONDS"] per workspace) and each
viewer fetches its own scoped board again."""

import statistics
from dataclasses import dataclass
from datetime import datetime, time

from django.db.models import Count, Exists, Max, Min, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from accounts.models import Membership, Workspace, shown_name
from chat.access import supervised_group_ids
from chat.models import Conversation, ConversationEvent, Inbox, Message, Participant, SatisfactionRating, SenderKind
from helpdesk import realtime
from helpdesk.errors import forbidden
from routing.models import AgentGroup, AgentPresence
from routing.selection import AgentStatus

ALL, GROUPS, OWN = "all", "groups", "own"
WAITING_FOR_AGENT = (Conversation.State.QUEUED, Conversation.State.ASSIGNED, Conversation.State.PENDING)
STATUS_ORDER = [AgentStatus.ONLINE, AgentStatus.BUSY, AgentStatus.AWAY, AgentStatus.OFFLINE]


def board_group(workspace_id):
    """The sockets showing this workspace's board (the agent socket joins it with ?board=1)."""
    return f"board.{workspace_id}"


@dataclass(frozen=True)
class Scope:
    kind: str
    workspace_id: int
    user_id: int
    group_ids: tuple = ()
    includes_default_group: bool = False


def scope_of(actor):
    if not actor.is_agent:
        raise forbidden()
    if actor.view_all_history:
        return Scope(ALL, actor.workspace_id, actor.user_id)
    groups = list(AgentGroup.objects.filter(pk__in=supervised_group_ids(actor)).values_list("pk", "is_default"))
    if groups:
        return Scope(GROUPS, actor.workspace_id, actor.user_id, tuple(sorted(pk for pk, _d in groups)), any(d for _p, d in groups))
    return Scope(OWN, actor.workspace_id, actor.user_id)


def conversations(scope):
    qs = Conversation.objects.filter(workspace_id=scope.workspace_id)
    if scope.kind == GROUPS:
        return qs.filter(group_id__in=scope.group_ids)
    if scope.kind == OWN:
        return qs.filter(pk__in=Participant.objects.filter(user_id=scope.user_id).values("conversation_id"))
    return qs


def _members(scope):
    """Whose presence the board lists: everyone here, the supervised groups' members, or oneself."""
    members = Membership.objects.filter(workspace_id=scope.workspace_id)
    if scope.kind == OWN:
        return members.filter(user_id=scope.user_id)
    if scope.kind == GROUPS and not scope.includes_default_group:  # the default group is every member who serves
        return members.filter(user__agent_groups__in=scope.group_ids).distinct()
    return members


def last_word_is_customers():
    """The conversation's latest public message between the customer and an agent is the customer's."""
    last = (Message.objects.filter(conversation_id=OuterRef("pk"), is_private=False, recalled_at__isnull=True,
                                   sender_kind__in=[SenderKind.CUSTOMER, SenderKind.AGENT])
            .order_by("-seq").values("sender_kind")[:1])
    return Q(last_sender=SenderKind.CUSTOMER), Subquery(last)


def unanswered(qs):
    """Open chats whose customer waits for an answer: one query with a correlated subquery each."""
    condition, last_sender = last_word_is_customers()
    return qs.filter(state__in=WAITING_FOR_AGENT).annotate(last_sender=last_sender).filter(condition)


def handed_off_at():
    """When a chat the bot had first was handed to a person (None: it never was with the bot)."""
    return Subquery(ConversationEvent.objects.filter(conversation_id=OuterRef("pk"), kind=ConversationEvent.Kind.HANDED_OFF)
                    .order_by("id").values("created_at")[:1])


def first_response_seconds(rows):
    """rows: (created_at, handed_off_at, first_response_at). From the chat's start, or from the bot's
    hand-off for a chat the bot had first, to the first public agent message."""
    return [max((first - (handed or created)).total_seconds(), 0.0) for created, handed, first in rows]


def day_start(workspace_id, now):
    tz = Workspace.zone_of(workspace_id)
    return datetime.combine(now.astimezone(tz).date(), time.min, tzinfo=tz), tz


def _durations(values):
    if not values:
        return {"count": 0, "average": None, "median": None}
    return {"count": len(values), "average": round(statistics.fmean(values), 1), "median": round(statistics.median(values), 1)}


def _waiting(qs, key, names, now):
    rows = qs.filter(state=Conversation.State.QUEUED).values(key).annotate(
        n=Count("pk"), oldest=Min(Coalesce("queued_at", "created_at"))).order_by(key)
    result = [{"id": row[key], "name": names.get(row[key], ""), "waiting": row["n"], "since": row["oldest"],
               "longest_wait": max((now - row["oldest"]).total_seconds(), 0.0)} for row in rows]
    return sorted(result, key=lambda r: (-r["longest_wait"], r["name"]))


def snapshot(scope, now):
    """Every figure of the board for this scope at `now` (a constant number of queries)."""
    since, tz = day_start(scope.workspace_id, now)
    convs = conversations(scope)
    group_names = dict(AgentGroup.objects.filter(workspace_id=scope.workspace_id).values_list("pk", "name"))
    inbox_names = dict(Inbox.objects.filter(workspace_id=scope.workspace_id).values_list("pk", "name"))
    by_group = _waiting(convs, "group_id", group_names, now)
    by_inbox = _waiting(convs, "inbox_id", inbox_names, now)

    members = list(_members(scope).select_related("user").order_by("user_id"))
    presences = {p.user_id: p for p in AgentPresence.objects.filter(workspace_id=scope.workspace_id, user_id__in=[m.user_id for m in members])}
    served = dict(Participant.objects.filter(conversation__workspace_id=scope.workspace_id, created_at__gte=since,
                                             user_id__in=[m.user_id for m in members])
                  .values("user_id").annotate(n=Count("conversation_id", distinct=True)).values_list("user_id", "n"))
    agents = []
    for m in members:
        presence = presences.get(m.user_id)
        if presence is None and not served.get(m.user_id):
            continue  # never on duty here (a verifier, an owner who does not serve): not part of the board
        agents.append({"user_id": m.user_id, "name": shown_name(m.display_name, m.user),
                       "status": presence.status if presence else AgentStatus.OFFLINE,
                       "open_chats": presence.open_chats if presence else 0, "capacity": presence.capacity if presence else 0,
                       "served_today": served.get(m.user_id, 0)})
    agents.sort(key=lambda a: (STATUS_ORDER.index(a["status"]), a["name"]))
    status_counts = {s.value: sum(1 for a in agents if a["status"] == s) for s in STATUS_ORDER}

    # A conversation opened or first answered today had a message today: the bound on last_message_at
    # changes no figure and lets the database read only today's part of (workspace, last_message_at).
    recent = convs.filter(last_message_at__gte=since)
    today = recent.filter(created_at__gte=since, created_at__lte=now)
    frt_rows = recent.filter(first_response_at__gte=since, first_response_at__lte=now).annotate(handed=handed_off_at()).values_list(
        "created_at", "handed", "first_response_at")
    # Every resolve writes a state_changed event (chat.states, lifecycle.timers): today's, by its created_at index.
    resolved_today = ConversationEvent.objects.filter(created_at__gte=since, created_at__lte=now, kind=ConversationEvent.Kind.STATE_CHANGED,
                                                      to_state=Conversation.State.RESOLVED).values("conversation_id")
    resolution = [(resolved - created).total_seconds() for created, resolved in convs.filter(
        pk__in=resolved_today, resolved_at__gte=since, resolved_at__lte=now).values_list("created_at", "resolved_at")]
    ratings = SatisfactionRating.objects.filter(created_at__gte=since, created_at__lte=now, conversation__workspace_id=scope.workspace_id)
    ratings = ratings.filter(agent_id=scope.user_id) if scope.kind == OWN else ratings.filter(conversation__in=convs)
    csat = list(ratings.values_list("rating", flat=True))
    bot_started = today.filter(Exists(ConversationEvent.objects.filter(
        conversation_id=OuterRef("pk"), kind=ConversationEvent.Kind.CREATED, to_state=Conversation.State.BOT)))
    bot = bot_started.aggregate(chats=Count("pk"), reached_person=Count("pk", filter=Q(Exists(ConversationEvent.objects.filter(
        conversation_id=OuterRef("pk"), kind__in=[ConversationEvent.Kind.HANDED_OFF, ConversationEvent.Kind.ASSIGNED])))))
    deflected = bot["chats"] - bot["reached_person"]
    return {
        "scope": scope.kind, "now": now, "day_start": since, "timezone": str(tz),
        "waiting": sum(r["waiting"] for r in by_inbox), "longest_wait": max((r["longest_wait"] for r in by_inbox), default=0.0),
        "oldest_since": min((r["since"] for r in by_inbox), default=None),
        "by_group": by_group, "by_inbox": by_inbox, "agents": agents, "status_counts": status_counts,
        "volume": today.count(),
        "first_response": _durations(first_response_seconds(frt_rows)),
        "resolution": _durations(resolution),
        "csat": {"count": len(csat), "average": round(statistics.fmean(csat), 2) if csat else None,
                 "satisfied": round(100 * sum(1 for r in csat if r >= 4) / len(csat), 1) if csat else None},
        "bot": {"chats": bot["chats"], "deflected": deflected,
                "rate": round(100 * deflected / bot["chats"], 1) if bot["chats"] else None},
        "unanswered": unanswered(convs).count(),
        "left_messages": convs.filter(is_leave_message=True, state__in=WAITING_FOR_AGENT, first_response_at__isnull=True).count(),
    }


class BoardWatch:
    """Which workspaces' boards changed since the last look, from what was written meanwhile:
    conversation events (every state change, assignment, rating, bot answer), messages, and
    presence rows. Three grouped queries over rows newer than the watermarks (primary-key ranges),
    whatever the number of workspaces. Each worker process keeps its own watermarks: with several
    workers a board may be told twice, which costs one more fetch."""

    def __init__(self):
        self.event_id = self.message_id = self.presence_at = None

    def changed_workspaces(self, now):
        if self.event_id is None:  # first look: start from what exists, tell nobody
            self.event_id = ConversationEvent.objects.aggregate(top=Max("id"))["top"] or 0
            self.message_id = Message.objects.aggregate(top=Max("id"))["top"] or 0
            self.presence_at = now
            return set()
        changed = set()
        for model, attr in ((ConversationEvent, "event_id"), (Message, "message_id")):
            rows = model.objects.filter(id__gt=getattr(self, attr)).values("conversation__workspace_id").annotate(top=Max("id"))
            for row in rows:
                changed.add(row["conversation__workspace_id"])
                setattr(self, attr, max(getattr(self, attr), row["top"]))
        rows = AgentPresence.objects.filter(updated_at__gt=self.presence_at).values("workspace_id").annotate(top=Max("updated_at"))
        for row in rows:
            changed.add(row["workspace_id"])
            self.presence_at = max(self.presence_at, row["top"])
        return changed

    def announce(self, now):
        """Tell each changed workspace's board viewers to fetch their board again. Returns how many."""
        changed = self.changed_workspaces(now)
        realtime.publish([(board_group(ws), {"type": "board.changed"}) for ws in sorted(changed)])
        return len(changed)
