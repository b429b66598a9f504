"""Routing actions: agent presence, routing a conversation, claiming, draining the queue.

Each routing step reads a snapshot (groups, agents serving the inbox, their load),
asks routing.selection.decide, then applies the decision under row locks: the
conversation row, then the chosen agent's presence row, recounting that agent's
open chats under the lock. Two processes therefore never assign one conversation
twice and never push an agent over capacity; a loser of the race re-decides."""

from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, OuterRef, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts import roles
from accounts.access import member_ids_with
from accounts.models import Membership, RoutingVersion
from chat import access, hooks, hours
from chat.messages import post_system_message, send_message
from chat.models import Conversation, ConversationEvent, Inbox, InboxUserPermission, Participant
from chat.notify import notify_conversation
from chat.states import wake_due_snoozes
from helpdesk import realtime
from helpdesk.errors import DomainError, forbidden, invalid
from helpdesk.validation import int_or_none, is_int

from .models import AgentGroup, AgentPresence
from .selection import AgentState, AgentStatus, CustomerContext, Decision, GroupSpec, QueueEntry, Rule, RuleField, Strategy, decide, queue_positions

OPEN = Conversation.OPEN_STATES


def default_group(workspace_id):
    group, _created = AgentGroup.objects.get_or_create(
        workspace_id=workspace_id, is_default=True, defaults={"name": str(_("Default reception group"))}
    )
    return group


# --- snapshot -------------------------------------------------------------------------------
# Who serves an inbox and the enabled groups with their members (the structure) change rarely;
# presences change all the time. The structure is cached per process and per inbox, and used
# while the workspace's RoutingVersion is the one it was read under: every writer of the
# structure changes that value in its own transaction, so every process sees a change at its
# next decision, for one primary-key read per decision. Presences are always read afresh.

_STRUCTURES = {}  # (workspace id, inbox id) -> (RoutingVersion value, Structure)
STRUCTURES_MAX = 10_000


@dataclass(frozen=True)
class Structure:
    serving: frozenset  # members with reception rights who serve the inbox
    groups: tuple  # enabled GroupSpecs, members already limited to `serving`


def _load_structure(workspace_id, inbox_id):
    """Three queries returning plain tuples, whatever the number of agents (model instances for
    hundreds of agents cost more than the queries)."""
    inbox_users = InboxUserPermission.objects.filter(content_object_id=inbox_id, permission__codename="reply_in_inbox").values("user_id")
    serving = frozenset(member_ids_with(workspace_id, roles.SERVE_CHATS, among=inbox_users))
    rows = list(AgentGroup.objects.filter(workspace_id=workspace_id, enabled=True).values_list("pk", "priority", "rules", "strategy", "is_default"))
    if not any(row[4] for row in rows):
        group = default_group(workspace_id)  # every workspace has one, created on first need
        rows.append((group.pk, group.priority, group.rules, group.strategy, True))
    members = {}
    for group_id, user_id in AgentGroup.members.through.objects.filter(agentgroup__workspace_id=workspace_id).values_list("agentgroup_id", "user_id"):
        members.setdefault(group_id, set()).add(user_id)
    groups = tuple(
        GroupSpec(pk, priority, parse_rules(rules), Strategy(strategy), is_default, True,
                  serving if is_default else frozenset(members.get(pk, set()) & serving))
        for pk, priority, rules, strategy, is_default in rows
    )
    return Structure(serving, groups)


def structure(workspace_id, inbox_id, version=None):
    """The inbox's Structure: this process's copy while the workspace's RoutingVersion is
    unchanged (`version`: that value, when the caller has just read it), else read afresh."""
    if version is None:
        version = RoutingVersion.current(workspace_id)
    key = (workspace_id, inbox_id)
    hit = _STRUCTURES.get(key)
    if version is not None and hit is not None and hit[0] == version:
        return hit[1]
    loaded = _load_structure(workspace_id, inbox_id)
    # Kept only if the version did not move while loading: loading may itself create the default group
    # (which bumps the version in this transaction), and this transaction may still roll back, which
    # would leave a copy naming a group that never existed under the version read before.
    if version is not None and RoutingVersion.current(workspace_id) == version:  # None: nothing to check a copy against
        if len(_STRUCTURES) >= STRUCTURES_MAX:
            _STRUCTURES.clear()
        _STRUCTURES[key] = (version, loaded)
    return loaded


def serving_user_ids(workspace_id, inbox_id, version=None):
    """Members with reception rights (serve chats) who serve this inbox (a frozenset)."""
    return structure(workspace_id, inbox_id, version).serving


def parse_rules(raw_rules):
    rules = []
    for raw in raw_rules or []:
        try:
            rules.append(Rule(RuleField(raw["field"]), tuple(raw.get("values", ())), raw.get("key", "")))
        except (KeyError, ValueError, TypeError):
            continue  # an unreadable rule never matches (validated when saved)
    return tuple(rules)


def snapshot(workspace_id, inbox_id, exclude=()):
    """(groups, agents) for the decision: the cached structure (one query when unchanged) and the
    presences (one query). Loads come from the presence counters; capacity itself is re-checked
    exactly under lock."""
    cached = structure(workspace_id, inbox_id)
    serving, groups = cached.serving, list(cached.groups)
    if exclude:
        excluded = frozenset(exclude)
        serving = serving - excluded
        groups = [replace(g, member_ids=g.member_ids - excluded) for g in groups]
    agents = {
        user_id: AgentState(user_id, AgentStatus(status), open_chats, capacity, last_assigned_at)
        for user_id, status, capacity, open_chats, last_assigned_at in AgentPresence.objects.filter(workspace_id=workspace_id)
        .exclude(status=AgentStatus.OFFLINE).values_list("user_id", "status", "capacity", "open_chats", "last_assigned_at")
        if user_id in serving
    }
    return groups, agents


def context_for(conversation, need_last_agent=True, need_local_time=False):
    customer = conversation.customer
    attrs = customer.attributes or {}
    last_agent = None
    if need_last_agent:  # only familiar-first groups use it: skip the query otherwise
        since = timezone.now() - timedelta(days=settings.ROUTING["FAMILIAR_DAYS"])
        last_agent = (
            Conversation.objects.filter(customer_id=customer.pk, assignee__isnull=False, created_at__gte=since)
            .exclude(pk=conversation.pk).order_by("-created_at").values_list("assignee_id", flat=True).first()
        )
    # Tags the merchant passed with the identity, plus those agents put on the customer.
    tags = {str(t) for t in attrs.get("tags") or [] if isinstance(attrs.get("tags"), list)}
    tags.update(customer.tags.values_list("name", flat=True))
    return CustomerContext(
        entry_page=conversation.entry_page, region=str(attrs.get("region", "")), store=str(attrs.get("store", "")),
        inbox_id=conversation.inbox_id, tags=frozenset(tags),
        level=str(attrs.get("level", "")), attributes=attrs, last_agent_id=last_agent, vip_level=conversation.vip_level,
        channel=conversation.inbox.kind, language=str(attrs.get("language", "")),
        local_minutes=local_minutes(conversation.workspace.timezone) if need_local_time else None,
    )


def local_minutes(time_zone, now=None):
    local = (now or timezone.now()).astimezone(hours.zone(time_zone))
    return local.hour * 60 + local.minute


# --- routing ------------------------------------------------------------------------------


def adjust_load(workspace_id, agent_id, delta):
    """Keep an agent's open-chat counter in step with an assign (+1) or a release (-1)."""
    if agent_id is not None:
        AgentPresence.objects.filter(workspace_id=workspace_id, user_id=agent_id).update(open_chats=Greatest(F("open_chats") + delta, 0))


def _assign(conversation, agent_id, group_id, *, reason, actor=None):
    """Caller holds the conversation row lock and has checked the agent's capacity under its presence lock."""
    from_state = conversation.state
    if conversation.assignee_id is not None and conversation.state in OPEN:
        adjust_load(conversation.workspace_id, conversation.assignee_id, -1)  # a transfer: the previous agent is freed
    now = timezone.now()
    conversation.assignee_id, conversation.group_id = agent_id, group_id
    conversation.state, conversation.queued_at, conversation.assigned_at = Conversation.State.ASSIGNED, None, now
    conversation.save(update_fields=["assignee", "group", "state", "queued_at", "assigned_at", "updated_at"])
    AgentPresence.objects.filter(workspace_id=conversation.workspace_id, user_id=agent_id).update(
        last_assigned_at=now, open_chats=F("open_chats") + 1
    )
    Participant.add(conversation.pk, agent_id)  # their own history keeps it after a transfer
    ConversationEvent.record(conversation, ConversationEvent.Kind.ASSIGNED, actor, from_state=from_state, to_state=conversation.state,
                             data={"agent": agent_id, "group": group_id, "reason": reason})
    notify_conversation(conversation, everyone_serving=True)
    hooks.listener().conversation_assigned(conversation, actor)


def _lock_capacity(workspace_id, agent_id):
    """Lock the agent's presence row and say whether they can take one more chat now."""
    presence = AgentPresence.objects.select_for_update().filter(workspace_id=workspace_id, user_id=agent_id).first()
    if presence is None or presence.status != AgentStatus.ONLINE:
        return False
    open_now = Conversation.objects.filter(workspace_id=workspace_id, assignee_id=agent_id, state__in=OPEN).count()
    if presence.open_chats != open_now:
        presence.open_chats = open_now  # the exact count under lock also repairs the counter
        presence.save(update_fields=["open_chats"])
    return open_now < presence.capacity


def route(conversation_id, only_group_id=None, exclude=()):
    """Assign, pool or queue one conversation that nobody holds. Returns the Decision applied (or None).
    only_group_id: route within that group alone (a transfer to a group); exclude: agents to skip."""
    excluded = set(exclude)
    # Each lost race excludes that agent, so this ends after at most (agents + 1) rounds, in the
    # worst case with the chat queued. A fixed retry budget could give up and leave it unqueued.
    while True:
        with transaction.atomic():
            conversation = Conversation.objects.select_for_update(of=("self",)).select_related("customer", "inbox").filter(pk=conversation_id).first()
            if conversation is None or conversation.assignee_id or conversation.state != Conversation.State.QUEUED:
                return None
            if not hours.is_open(conversation.inbox.business_hours, timezone.now()):
                return _leave_message(conversation, "outside business hours")
            groups, agents = snapshot(conversation.workspace_id, conversation.inbox_id, exclude=excluded)
            if only_group_id is not None:
                groups = [replace(g, is_default=True, rules=()) for g in groups if g.id == only_group_id]
            familiar = any(g.strategy == Strategy.FAMILIAR_FIRST for g in groups)
            timed = any(r.field == RuleField.TIME_OF_DAY for g in groups for r in g.rules)
            decision = decide(groups, agents, context_for(conversation, need_last_agent=familiar, need_local_time=timed))
            if decision.kind == "assign":
                if not _lock_capacity(conversation.workspace_id, decision.agent_id):
                    excluded.add(decision.agent_id)  # lost a race for the last slot: decide again without them
                    continue
                _assign(conversation, decision.agent_id, decision.group_id, reason=decision.reason)
                return decision
            nobody_on_duty = not any(a.status in (AgentStatus.ONLINE, AgentStatus.BUSY) for a in agents.values())
            if decision.kind == "queue" and nobody_on_duty and conversation.inbox.leave_message_when_nobody_online:
                return _leave_message(conversation, "nobody online")
            if decision.kind in ("queue", "pool"):
                first_time = conversation.queued_at is None or conversation.group_id != decision.group_id
                conversation.group_id = decision.group_id
                conversation.queued_at = conversation.queued_at or timezone.now()
                conversation.save(update_fields=["group", "queued_at", "updated_at"])
                if first_time:
                    ConversationEvent.record(conversation, ConversationEvent.Kind.ROUTED, from_state=conversation.state, to_state=conversation.state,
                                             data={"routing": decision.kind, "group": decision.group_id})
                    hooks.listener().conversation_queued(conversation, staffed=not nobody_on_duty)
                    notify_conversation(conversation, everyone_serving=True)
                    # A newcomer changes nobody else's position (VIPs excepted: they are rare); tell them theirs,
                    # unless nobody is on duty (a place in a queue nobody serves only contradicts the flow's line).
                    # partial binds the values now: a lambda would read the loop's variables at commit time.
                    if not nobody_on_duty:
                        transaction.on_commit(partial(publish_queue_positions, conversation.workspace_id, decision.group_id,
                                                      only=None if conversation.vip_level else conversation.pk))
            return decision


def _leave_message(conversation, reason):
    """Nobody can answer now: the conversation becomes a message (留言) for agents to take later."""
    from_state = conversation.state
    conversation.state, conversation.is_leave_message = Conversation.State.PENDING, True
    conversation.save(update_fields=["state", "is_leave_message", "updated_at"])
    ConversationEvent.record(conversation, ConversationEvent.Kind.ROUTED, from_state=from_state, to_state=conversation.state,
                             data={"routing": "leave_message", "reason": reason})
    notify_conversation(conversation, everyone_serving=True)
    hooks.listener().left_as_message(conversation, reason)
    return Decision("leave_message", reason=reason)


def claim(actor, conversation_id):
    """An agent takes a conversation from the pool or queue: first claim wins."""
    if not actor.is_agent:
        raise forbidden()
    with transaction.atomic():
        try:
            conversation = access.get_conversation(actor, conversation_id, lock=True)
        except DomainError:
            # Taken a moment ago by a colleague, it has left this agent's view: say so plainly.
            if Conversation.objects.filter(pk=int_or_none(conversation_id),
                                           inbox_id__in=access.served_inboxes(actor), assignee__isnull=False).exists():
                raise DomainError("already_taken", _("Someone else has already taken this conversation."), status=409) from None
            raise
        access.require_reply_right(actor, conversation)
        claimable = conversation.state == Conversation.State.QUEUED or (conversation.state == Conversation.State.PENDING and conversation.is_leave_message)
        if conversation.assignee_id is not None or not claimable:
            raise DomainError("already_taken", _("Someone else has already taken this conversation."), status=409)
        if not _lock_capacity(conversation.workspace_id, actor.user_id):
            raise DomainError("at_capacity", _("You are at your chat limit or not online."), status=409)
        _assign(conversation, actor.user_id, conversation.group_id, reason="claim", actor=actor)
        group_id = conversation.group_id
        transaction.on_commit(lambda: publish_queue_positions(conversation.workspace_id, group_id))
    return conversation


def set_status(actor, status, capacity=None):
    """An agent goes online / busy / away / offline (and may change capacity within the bound)."""
    if status not in {s.value for s in AgentStatus}:
        raise DomainError("invalid_status", _("Unknown status."), status=400)
    bound = settings.ROUTING["MAX_SELF_CAPACITY"]
    if capacity is not None and (not is_int(capacity) or not 0 <= capacity <= bound):
        raise DomainError("invalid_capacity", _("Capacity must be between 0 and %(n)s.") % {"n": bound}, status=400)
    with transaction.atomic():
        presence, _created = AgentPresence.objects.select_for_update().get_or_create(workspace_id=actor.workspace_id, user_id=actor.user_id)
        before = presence.status
        presence.status = AgentStatus(status)
        if capacity is not None:
            presence.capacity = capacity
        presence.save(update_fields=["status", "capacity", "updated_at"])
        if before != presence.status:
            hooks.listener().agent_status_changed(actor.workspace_id, actor.user_id, before, presence.status)
        _publish_status(actor.user_id, presence.status, presence.capacity)
        workspace_id = actor.workspace_id
        if presence.status == AgentStatus.OFFLINE and before != AgentStatus.OFFLINE and settings.ROUTING["REROUTE_UNANSWERED_ON_OFFLINE"]:
            transaction.on_commit(lambda: reroute_unanswered(workspace_id, actor.user_id))
        transaction.on_commit(lambda: drain(workspace_id))
    return presence


def reroute_unanswered(workspace_id, agent_id):
    """An agent left: their assigned chats nobody has answered yet go back to routing."""
    ids = list(
        Conversation.objects.filter(workspace_id=workspace_id, assignee_id=agent_id, state=Conversation.State.ASSIGNED, first_response_at__isnull=True)
        .values_list("pk", flat=True)
    )
    for conversation_id in ids:
        if _release_unanswered(conversation_id, agent_id, reason="agent offline"):
            route(conversation_id, exclude={agent_id})


def _free_agents(workspace_id):
    return set(AgentPresence.objects.filter(workspace_id=workspace_id, status=AgentStatus.ONLINE, open_chats__lt=F("capacity"))
               .values_list("user_id", flat=True))


def drain(workspace_id, limit=500):
    """Route the waiting conversations of the workspace that can move now, VIP first then oldest.

    Only those can: an agent serving their inbox has a free slot, their inbox is closed
    (business hours) or takes messages while nobody is on duty and nobody is. A long queue
    nobody can take is not re-routed chat by chat (each a locked transaction): on SQLite
    that starved the server's writes every sweep."""
    waiting = list(
        Conversation.objects.filter(workspace_id=workspace_id, state=Conversation.State.QUEUED, assignee__isnull=True)
        .order_by("-vip_level", "queued_at", "pk").values_list("pk", "inbox_id")[:limit]
    )
    if not waiting:
        return []
    now = timezone.now()
    inboxes = {inbox.pk: inbox for inbox in Inbox.objects.filter(pk__in={inbox_id for _pk, inbox_id in waiting})
               .only("pk", "business_hours", "leave_message_when_nobody_online")}
    on_duty = AgentPresence.objects.filter(workspace_id=workspace_id, status__in=(AgentStatus.ONLINE, AgentStatus.BUSY)).exists()
    movable_anyway = {pk for pk, inbox in inboxes.items()
                      if not hours.is_open(inbox.business_hours, now) or (not on_duty and inbox.leave_message_when_nobody_online)}
    free = _free_agents(workspace_id) if on_duty else set()
    version = RoutingVersion.current(workspace_id) if free else None
    serving = {pk: serving_user_ids(workspace_id, pk, version) if free else set() for pk in inboxes}
    decisions = []
    for conversation_id, inbox_id in waiting:
        if inbox_id not in movable_anyway and not serving[inbox_id] & free:
            continue
        decision = route(conversation_id)
        if decision is not None:
            decisions.append(decision)
            if decision.kind == "assign":
                free = _free_agents(workspace_id)  # that slot is taken: who is still free?
    return decisions


QUEUE_POSITIONS_PUBLISHED = 100


def publish_queue_positions(workspace_id, group_id, only=None):
    """Tell waiting customers where they stand: one of them (`only`), or the first
    QUEUE_POSITIONS_PUBLISHED of the group after the queue moved (those further back hear
    when they come within reach: the wait there is long anyway)."""
    rows = list(
        Conversation.objects.filter(workspace_id=workspace_id, group_id=group_id, state=Conversation.State.QUEUED, assignee__isnull=True)
        .values_list("pk", "customer_id", "queued_at", "vip_level")
    )
    entries = [QueueEntry(pk, group_id, queued_at or timezone.now(), vip) for pk, _c, queued_at, vip in rows]
    positions = queue_positions(entries)
    if only is not None:
        positions = {only: positions[only]} if only in positions else {}
    else:
        positions = {pk: p for pk, p in positions.items() if p <= QUEUE_POSITIONS_PUBLISHED}
    customers = {pk: customer_id for pk, customer_id, _q, _v in rows}
    realtime.publish(
        [(realtime.group_for_customer(customers[pk]), {"type": "queue.position", "conversation_id": pk, "position": position})
         for pk, position in positions.items()]
    )
    return positions


def transfer(actor, conversation_id, *, to_agent_id=None, to_group_id=None, note=""):
    """Hand a conversation to a colleague or a group. The customer sees a system line;
    the note reaches the agents as a private note."""
    if not actor.is_agent:
        raise forbidden()
    if (to_agent_id is None) == (to_group_id is None):
        raise DomainError("invalid_transfer", _("Transfer to one agent or one group."), status=400)
    if not isinstance(note, str) or len(note) > 1000:
        raise DomainError("invalid_note", _("The note must be text of at most 1000 characters."), status=400)
    with transaction.atomic():
        conversation = access.get_conversation(actor, conversation_id, lock=True)
        access.require_reply_right(actor, conversation)
        if not conversation.is_open:
            raise DomainError("conversation_closed", _("This conversation is closed."), status=409)
        from_state, previous = conversation.state, conversation.assignee_id
        if to_agent_id is not None:
            target = int_or_none(to_agent_id)
            if target not in serving_user_ids(conversation.workspace_id, conversation.inbox_id):
                raise DomainError("not_found", _("No such agent serves this inbox."), status=404)
            if not _lock_capacity(conversation.workspace_id, target):
                raise DomainError("at_capacity", _("That agent is at their chat limit or not online."), status=409)
            target_name = Membership.objects.filter(workspace_id=conversation.workspace_id, user_id=target).values_list("display_name", flat=True).first()
            line = _("Your conversation was transferred to %(name)s.") % {"name": target_name or _("a colleague")}
        else:
            group = AgentGroup.objects.filter(pk=int_or_none(to_group_id), workspace_id=conversation.workspace_id, enabled=True).first()
            if group is None:
                raise DomainError("not_found", _("No such group."), status=404)
            line = _("Your conversation was transferred to %(name)s.") % {"name": group.name}
        # The note and the line are written while the sender still holds the conversation.
        if note.strip():
            send_message(actor, client_msg_id=f"transfer-{conversation.pk}-{timezone.now().timestamp()}",
                                      body=note, conversation_id=conversation.pk, is_private=True)
        post_system_message(conversation.pk, line)
        conversation.refresh_from_db()
        if to_agent_id is not None:
            _assign(conversation, target, conversation.group_id, reason="transfer", actor=actor)
        else:
            adjust_load(conversation.workspace_id, conversation.assignee_id, -1)
            conversation.assignee_id, conversation.group_id = None, group.pk
            conversation.state, conversation.queued_at = Conversation.State.QUEUED, timezone.now()
            conversation.save(update_fields=["assignee", "group", "state", "queued_at", "updated_at"])
            notify_conversation(conversation, everyone_serving=True)
            transaction.on_commit(partial(route, conversation.pk, only_group_id=group.pk))
        ConversationEvent.record(conversation, ConversationEvent.Kind.TRANSFERRED, actor, from_state=from_state, to_state=conversation.state,
               data={"from_agent": previous, "to_agent": to_agent_id, "to_group": to_group_id, "note": note[:1000]})
    return conversation


# --- the sweep: catches what events missed, and unanswered chats ----------------------------


def sweep(now=None):
    """Run periodically (manage.py routing_sweep): drain every queue, and hand chats an agent has
    not answered within ANSWER_TIMEOUT_SECONDS to someone else. Returns counts for the log."""
    now = now or timezone.now()
    woken = wake_due_snoozes(now)
    recount_loads()
    drained = 0
    for workspace_id in Conversation.objects.filter(state=Conversation.State.QUEUED, assignee__isnull=True).values_list("workspace_id", flat=True).distinct():
        drained += sum(1 for d in drain(workspace_id) if d.kind == "assign")
    timed_out = 0
    timeout = settings.ROUTING["ANSWER_TIMEOUT_SECONDS"]
    if timeout:
        stale = Conversation.objects.filter(
            state=Conversation.State.ASSIGNED, first_response_at__isnull=True, assigned_at__lt=now - timedelta(seconds=timeout)
        ).values_list("pk", "workspace_id", "assignee_id", "inbox__answer_timeout_marks_away")
        for conversation_id, workspace_id, agent_id, marks_away in list(stale):
            if _release_unanswered(conversation_id, agent_id, reason="answer timeout"):
                timed_out += 1
                if marks_away:  # per inbox, off by default: re-routing the chat is enough for phone-first agents
                    if AgentPresence.objects.filter(workspace_id=workspace_id, user_id=agent_id, status=AgentStatus.ONLINE).update(status=AgentStatus.AWAY):
                        hooks.listener().agent_status_changed(workspace_id, agent_id, AgentStatus.ONLINE, AgentStatus.AWAY)
                    _publish_status(agent_id, AgentStatus.AWAY, AgentPresence.objects.filter(workspace_id=workspace_id, user_id=agent_id).values_list("capacity", flat=True).first())
                route(conversation_id, exclude={agent_id})
    return {"assigned_from_queue": drained, "timed_out": timed_out, "woken": woken}


def recount_loads():
    """Set every drifted open-chat counter to the exact count. A read first, then one
    conditional UPDATE per drifted row (usually none): the sweep takes no write lock when
    nothing drifted (on SQLite the one writer is the server's), and a counter an assignment
    moved meanwhile is left to the next sweep instead of being overwritten."""
    exact = (
        Conversation.objects.filter(workspace_id=OuterRef("workspace_id"), assignee_id=OuterRef("user_id"), state__in=OPEN)
        .order_by().values("assignee_id").annotate(n=Count("pk")).values("n")
    )
    drifted = AgentPresence.objects.annotate(exact=Coalesce(Subquery(exact), 0)).exclude(open_chats=F("exact"))
    for pk, counted, exact_now in drifted.values_list("pk", "open_chats", "exact"):
        AgentPresence.objects.filter(pk=pk, open_chats=counted).update(open_chats=exact_now)


def _release_unanswered(conversation_id, agent_id, *, reason):
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().filter(
            pk=conversation_id, assignee_id=agent_id, state=Conversation.State.ASSIGNED, first_response_at__isnull=True
        ).first()
        if conversation is None:
            return False  # answered or moved meanwhile
        conversation.assignee_id, conversation.state = None, Conversation.State.QUEUED
        conversation.queued_at = conversation.queued_at or timezone.now()
        conversation.save(update_fields=["assignee", "state", "queued_at", "updated_at"])
        adjust_load(conversation.workspace_id, agent_id, -1)
        ConversationEvent.record(conversation, ConversationEvent.Kind.STATE_CHANGED, from_state=Conversation.State.ASSIGNED, to_state=conversation.state,
                                 data={"reroute": reason, "agent": agent_id})
        notify_conversation(conversation, everyone_serving=True)
    return True


def _publish_status(agent_id, status, capacity):
    """Every tab and device of the agent learns their status (after commit, like every event)."""
    realtime.publish([(realtime.group_for_agent(agent_id), {"type": "status", "status": status, "capacity": capacity})])


# --- console visibility ---------------------------------------------------------------------

VISIBLE_SECONDS = 70  # a console tab renews its visibility every 30 s: one missed renewal is tolerated


def set_console_visible(actor, visible):
    """A console tab of the agent is shown (renewed every 30 s) or hidden: one UPDATE. While it
    is visible, Web Push skips this agent (the tab shows the chat)."""
    if not isinstance(visible, bool):
        raise invalid("invalid_visible", _("visible must be true or false."))
    until = timezone.now() + timedelta(seconds=VISIBLE_SECONDS) if visible else None
    AgentPresence.objects.filter(workspace_id=actor.workspace_id, user_id=actor.user_id).update(console_visible_until=until)
    return until
