"""Conversation states: agents resolve, close, pend and reopen; snooze and wake; the bot hands a
chat to a person. Each change writes an event row and is published after commit; what follows
it (routing, timers, the resolved line) is the lifecycle's, told through chat.hooks."""

from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from helpdesk.errors import DomainError, forbidden, invalid

from . import access, hooks, wrapup
from .models import Conversation, ConversationEvent, SenderKind
from .notify import notify_conversation

AGENT_STATE_CHANGES = {
    Conversation.State.RESOLVED: set(Conversation.OPEN_STATES),
    Conversation.State.CLOSED: set(Conversation.OPEN_STATES) | {Conversation.State.RESOLVED},
    Conversation.State.PENDING: {Conversation.State.ASSIGNED, Conversation.State.QUEUED, Conversation.State.BOT},
    Conversation.State.QUEUED: {Conversation.State.RESOLVED, Conversation.State.PENDING},
}


def change_state(actor, conversation_id, to_state, disposition=None):
    """Agent moves a conversation (resolve, close, pend, reopen). Writes an event row. Ending one
    — a resolve, or a close while it is still open — may name (or, as the workspace says, must name)
    a wrap-up category of the workspace's list (chat.wrapup): closing is no way around a required
    one. Closing a resolved conversation keeps its resolve's category. Anything else is refused
    before anything is written."""
    if not actor.is_agent:
        raise forbidden()
    if to_state not in AGENT_STATE_CHANGES:
        raise invalid("invalid_state", _("Unknown or unsupported target state."))
    if disposition not in (None, "") and to_state not in (Conversation.State.RESOLVED, Conversation.State.CLOSED):
        raise wrapup.WrapUpInvalid("invalid_disposition", _("A wrap-up category is chosen when resolving or closing."))
    with transaction.atomic():
        conversation = access.get_conversation(actor, conversation_id, lock=True)
        if conversation.state == to_state:
            return conversation
        if conversation.state not in AGENT_STATE_CHANGES[to_state]:
            raise DomainError("invalid_transition", _("This conversation cannot move to that state now."), status=409)
        resolving = to_state == Conversation.State.RESOLVED
        ending = resolving or (to_state == Conversation.State.CLOSED and conversation.state in Conversation.OPEN_STATES)
        if disposition not in (None, "") and not ending:
            raise wrapup.WrapUpInvalid("invalid_disposition", _("This conversation already has the category of its resolve."))
        chosen = wrapup.choose(conversation.workspace_id, disposition, closing=not resolving) if ending else None
        from_state = conversation.state
        conversation.state = to_state
        conversation.resolved_at = timezone.now() if resolving else conversation.resolved_at
        if to_state == Conversation.State.QUEUED:
            conversation.resolved_at = None
        if ending:
            conversation.disposition = chosen  # none chosen: a category of an earlier resolve no longer stands
        conversation.save(update_fields=["state", "resolved_at", "updated_at", *(["disposition"] if ending else [])])
        ConversationEvent.record(conversation, ConversationEvent.Kind.STATE_CHANGED, actor, from_state=from_state, to_state=to_state)
        if chosen is not None:
            wrapup.record(conversation, chosen, actor)
        notify_conversation(conversation)
        hooks.listener().state_changed(conversation, from_state, to_state, actor)
    return conversation


def conversations_for(actor, *, state=None, leave_message=None, limit=50):
    qs = access.visible_conversations(actor).order_by("-last_message_at", "-pk")
    if state:
        if state not in Conversation.State.values:
            raise invalid("invalid_state", _("Unknown state."))
        qs = qs.filter(state=state)
    if leave_message is not None:
        qs = qs.filter(is_leave_message=leave_message)
    return list(qs[:limit])


SNOOZABLE_STATES = {Conversation.State.ASSIGNED, Conversation.State.QUEUED, Conversation.State.BOT, Conversation.State.PENDING}


def snooze(actor, conversation_id, until):
    """Set a conversation aside until `until` (state pending): it comes back by itself then,
    or as soon as the customer writes. The assignee keeps it (and its slot)."""
    if not actor.is_agent:
        raise forbidden()
    now = timezone.now()
    if until is None or until <= now + timedelta(seconds=30) or until > now + timedelta(days=90):
        raise invalid("invalid_snooze", _("Choose a time between one minute and 90 days from now."))
    with transaction.atomic():
        conversation = access.get_conversation(actor, conversation_id, lock=True)
        access.require_reply_right(actor, conversation)
        if conversation.state not in SNOOZABLE_STATES:
            raise DomainError("invalid_transition", _("This conversation cannot move to that state now."), status=409)
        from_state = conversation.state
        conversation.state, conversation.snoozed_until = Conversation.State.PENDING, until
        conversation.save(update_fields=["state", "snoozed_until", "updated_at"])
        ConversationEvent.record(conversation, ConversationEvent.Kind.SNOOZED, actor, from_state=from_state, to_state=conversation.state,
                data={"until": until.isoformat()})
        notify_conversation(conversation)
    return conversation


def wake(conversation, actor):
    """Caller holds the row lock. Back to the agent who has it, or to the queue. Returns the
    columns to write."""
    from_state = conversation.state
    to_state = Conversation.State.ASSIGNED if conversation.assignee_id else Conversation.State.QUEUED
    ConversationEvent.record(conversation, ConversationEvent.Kind.WOKEN, actor, from_state=from_state, to_state=to_state)
    conversation.state, conversation.snoozed_until = to_state, None
    hooks.listener().state_changed(conversation, from_state, to_state, actor)
    return {"state": to_state, "snoozed_until": None}


def wake_due_snoozes(now=None):
    """Run by the sweep: snoozed conversations whose time has come go back to work."""
    now = now or timezone.now()
    due = list(Conversation.objects.filter(state=Conversation.State.PENDING, snoozed_until__lte=now).values_list("pk", flat=True)[:500])
    woken = 0
    for conversation_id in due:
        with transaction.atomic():
            conversation = Conversation.objects.select_for_update().filter(
                pk=conversation_id, state=Conversation.State.PENDING, snoozed_until__lte=now
            ).first()
            if conversation is None:  # woken meanwhile by the customer or another sweeper
                continue
            changes = wake(conversation, None)
            Conversation.objects.filter(pk=conversation.pk).update(**changes, updated_at=now)
            notify_conversation(conversation)
            woken += 1
    return woken


def hand_off_to_human(conversation_id, *, actor=None, reason=""):
    """Bot → queue (routing assigns a person). The customer's button, a keyword or too many misses."""
    with transaction.atomic():
        if actor is not None:
            conversation = access.get_conversation(actor, conversation_id, lock=True)
        else:
            conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
        if conversation.state != Conversation.State.BOT:
            return conversation  # already with a person (or finished): nothing to do
        who = actor or access.Actor(SenderKind.BOT, conversation.workspace_id)
        now = timezone.now()
        Conversation.objects.filter(pk=conversation.pk).update(state=Conversation.State.QUEUED, queued_at=now, updated_at=now)
        from_state = conversation.state
        ConversationEvent.record(conversation, ConversationEvent.Kind.HANDED_OFF, who, from_state=from_state,
                                 to_state=Conversation.State.QUEUED, data={"reason": reason})
        conversation.state, conversation.queued_at = Conversation.State.QUEUED, now
        notify_conversation(conversation)
        hooks.listener().state_changed(conversation, from_state, Conversation.State.QUEUED, who)
    return conversation
