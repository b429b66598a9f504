"""Which deadlines a conversation gets, and what happens when they fire (chat.scheduler fires
them; lifecycle.worker names the handlers).

The hooks are called inside the transaction that changed the conversation; the handlers run
inside the scheduler's transaction that marks the deadline fired (see docs/scheduler.md).
A handler returning a datetime means "not yet": the same deadline is pending again for then."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext

from chat import hooks, scheduler
from chat.messages import post_system_message
from chat.models import Conversation, ConversationEvent, Deadline, SatisfactionRating
from chat.notify import notify_conversation
from routing.actions import default_group, route


def _inbox(conversation):
    return conversation.inbox  # cached by every caller that already loaded it


# --- hooks --------------------------------------------------------------------------------


def conversation_started(conversation):
    """A new conversation: the inactivity deadline (inbox.auto_resolve_minutes)."""
    _schedule_auto_resolve(conversation)


def conversation_reopened(conversation):
    """A resolved conversation the customer wrote into again: a fresh inactivity deadline."""
    _schedule_auto_resolve(conversation)


def _schedule_auto_resolve(conversation):
    minutes = _inbox(conversation).auto_resolve_minutes
    if minutes:
        # Scheduled once; activity does not touch it: the handler looks at last_message_at then.
        scheduler.schedule(conversation, Deadline.Kind.AUTO_RESOLVE, timezone.now() + timedelta(minutes=minutes))


def conversation_queued(conversation):
    """First time in a group's queue or pool: the queue timeout (inbox.queue_timeout_minutes)."""
    minutes = _inbox(conversation).queue_timeout_minutes
    if minutes:
        scheduler.schedule(conversation, Deadline.Kind.QUEUE_TIMEOUT, timezone.now() + timedelta(minutes=minutes),
                           data={"group": conversation.group_id})


def conversation_resolved(conversation):
    """Resolved: the rating request (inbox.csat_enabled); the open-chat deadlines are moot."""
    scheduler.cancel(conversation.pk, Deadline.Kind.AUTO_RESOLVE, Deadline.Kind.QUEUE_TIMEOUT)
    if _inbox(conversation).csat_enabled:
        delay = timedelta(seconds=settings.CHAT["CSAT_PROMPT_DELAY_SECONDS"])
        scheduler.schedule(conversation, Deadline.Kind.CSAT_PROMPT, timezone.now() + delay)


# --- handlers -----------------------------------------------------------------------------


def _locked(deadline):
    # OF self: the inbox row is read, not locked.
    return (Conversation.objects.select_for_update(of=("self",)).select_related("inbox")
            .filter(pk=deadline.conversation_id).first())


def auto_resolve_due(deadline, now):
    """Resolve an open conversation nobody has written in for inbox.auto_resolve_minutes.

    Lazy: messages never touch the deadline; when it fires and the last message is younger
    than the quiet period, it is moved to last_message_at + minutes. Snoozed conversations
    count from the end of the snooze; a left message nobody has taken yet waits for an agent
    (checked again a period later); chats with the bot are resolved like any other."""
    conversation = _locked(deadline)
    if conversation is None or not conversation.is_open:
        return None
    minutes = conversation.inbox.auto_resolve_minutes
    if not minutes:
        return None  # turned off since it was scheduled
    quiet = timedelta(minutes=minutes)
    if conversation.state == Conversation.State.PENDING and conversation.snoozed_until:
        last = max(conversation.snoozed_until, conversation.last_message_at or conversation.created_at)
        return last + quiet
    if conversation.state == Conversation.State.PENDING and conversation.is_leave_message and conversation.assignee_id is None:
        return now + quiet
    last = conversation.last_message_at or conversation.created_at
    if last + quiet > now:
        return last + quiet
    _resolve_inactive(conversation, now)
    return None


def _resolve_inactive(conversation, now):
    """change_state's resolve, with the system as the actor. Caller holds the row lock. What
    follows (the agent's slot, the resolved line, the rating request) is the lifecycle's, as
    for any resolve."""
    from_state = conversation.state
    conversation.state, conversation.resolved_at, conversation.snoozed_until = Conversation.State.RESOLVED, now, None
    conversation.save(update_fields=["state", "resolved_at", "snoozed_until", "updated_at"])
    ConversationEvent.record(conversation, ConversationEvent.Kind.STATE_CHANGED, from_state=from_state, to_state=conversation.state, data={"reason": "inactivity"})
    notify_conversation(conversation)
    hooks.listener().state_changed(conversation, from_state, conversation.state, None)


def queue_timeout_due(deadline, now):
    """A chat still waiting, unassigned, in the group it was queued in: offer it to every agent
    serving the inbox (route within the default reception group, whose members are exactly
    those). Routing then assigns it, pools or queues it there, or, when nobody is on duty and
    the inbox takes messages then, turns it into a left message. Moving to the default group
    queues it there as new, which arms one more timeout: when that one fires in the default
    group nothing moves, unless nobody is on duty any more (then it becomes a left message)."""
    conversation = _locked(deadline)
    group_id = deadline.data.get("group")
    if (conversation is None or conversation.state != Conversation.State.QUEUED or conversation.assignee_id is not None
            or conversation.group_id != group_id):
        return None  # taken, moved or finished meanwhile
    default = default_group(conversation.workspace_id)
    ConversationEvent.record(conversation, ConversationEvent.Kind.STATE_CHANGED, from_state=conversation.state, to_state=conversation.state,
                             data={"reroute": "queue timeout", "from_group": group_id, "to_group": default.pk})
    route(conversation.pk, only_group_id=default.pk)
    return None


def csat_prompt_due(deadline, now):
    """Still resolved and not rated: one system line asking the customer to rate (the widget
    already shows the form on resolve; this reaches other channels and customers who left)."""
    conversation = _locked(deadline)
    if conversation is None or conversation.state != Conversation.State.RESOLVED or not conversation.inbox.csat_enabled:
        return None
    if SatisfactionRating.objects.filter(conversation_id=conversation.pk).exists():
        return None
    post_system_message(conversation.pk, gettext("How did we do? Please take a moment to rate this conversation."))
    ConversationEvent.record(conversation, ConversationEvent.Kind.CSAT_PROMPTED, to_state=conversation.state)
    return None
