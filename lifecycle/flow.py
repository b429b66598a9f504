"""What follows each event of a conversation: the one module that says so.

The engine (chat) and routing report events through chat.hooks; this listener answers each
with plain calls into routing, replies, knowledge, the timers and Web Push. It runs inside the
transaction that made the change; routing a chat waits for the commit (transaction.on_commit),
and work that must not hold the transaction (answering a customer, pushes) becomes a follow-up
job row in it (lifecycle.followups), run exactly once after the commit. docs/architecture.md
has the table of events and what follows them."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Membership
from chat import hooks, scheduler
from chat.messages import post_system_message
from chat.models import Conversation, Deadline, Message, SenderKind
from connectors import outbound
from connectors.wechat import oa  # noqa: F401 - registers the Official Account / Mini Program Sender
from connectors.wechat import kf
from knowledge import bot
from reports import rollups
from replies import auto, config, hosting, sensitive
from routing import actions as routing
from routing.availability import inbox_availability

from . import followups, push, timers
from .models import FollowUp

OPEN = set(Conversation.OPEN_STATES)


class Flow(hooks.Hooks):
    def agent_status_changed(self, workspace_id, user_id, from_status, to_status):
        """Online time in reports: one row per change, in the transaction that made it."""
        rollups.record_status(workspace_id, user_id, to_status)

    def screen_message(self, conversation, actor, body, is_private):
        """Sensitive words: masked or refused before anything is stored; alerts after."""
        if is_private:
            return body, None
        verdict = sensitive.check(conversation.workspace_id, actor.is_customer, body)
        return verdict.body, verdict

    def quiet_for(self, workspace_id, sender_kind):
        """Nothing follows a plain customer message here: no word lists (screen_message), no rules
        or settings (follow-up jobs, hosting), no push devices (message_stored). For an agent's reply:
        no word lists and no settings (hosting's deadline); a channel inbox's delivery job is left to
        the general path by chat.fast_send itself (per inbox). Per-process caches: no query."""
        if sender_kind not in (SenderKind.CUSTOMER, SenderKind.AGENT):
            return False
        quiet = _configured_quiet(config.for_workspace(workspace_id), sender_kind)
        return quiet and (sender_kind == SenderKind.AGENT or not push.may_push(workspace_id))

    def quiet_known(self, workspace_id, sender_kind):
        if sender_kind not in (SenderKind.CUSTOMER, SenderKind.AGENT):
            return False
        configured = config.peek(workspace_id)
        if configured is None:
            return None
        if sender_kind == SenderKind.AGENT:
            return _configured_quiet(configured, sender_kind)
        pushing = push.may_push_known(workspace_id)
        if pushing is None:
            return None
        return _configured_quiet(configured, sender_kind) and not pushing

    def conversation_opening(self, conversation):
        # Before the customer's first message is stored: the welcome reads as a greeting, not a reply.
        if config.for_workspace(conversation.workspace_id).has_settings:
            auto.welcome(conversation)

    def conversation_started(self, conversation):
        timers.conversation_started(conversation)
        _wecom_kf_state(conversation)
        if conversation.state == Conversation.State.QUEUED:
            _route_after_commit(conversation.pk)

    def message_stored(self, conversation, message, findings):
        if findings is not None and findings.alerts:
            supervisors = auto.flag_sensitive(conversation, message, findings.alerts)
            push.notify_alert(conversation, supervisors, "、".join(w for _name, words in findings.alerts for w in words))
        # WeChat inboxes: the agent's or bot's line goes out as a delivery job (refused outside WeChat's reply rules).
        outbound.enqueue(conversation, message)
        if message.is_private or message.sender_kind in (SenderKind.BOT, SenderKind.SYSTEM):
            return
        configured = config.for_workspace(conversation.workspace_id)
        if message.sender_kind == SenderKind.AGENT:
            if configured.has_settings:  # only hosting schedules these: a workspace without settings pays no UPDATE
                scheduler.cancel(conversation.pk, Deadline.Kind.NO_ANSWER)  # answered: no hosting reply for this wait
            return
        if configured.has_rules or configured.has_settings or conversation.state == Conversation.State.BOT:
            # Keyword replies, the bot and hosting answer after the commit, exactly once (a job row).
            followups.enqueue(conversation, FollowUp.Kind.CUSTOMER_MESSAGE, message=message.pk)
        push.notify_message(conversation, message)

    def state_changed(self, conversation, from_state, to_state, actor):
        was_open, is_open = from_state in OPEN, to_state in OPEN
        if conversation.assignee_id is not None and was_open != is_open:
            routing.adjust_load(conversation.workspace_id, conversation.assignee_id, 1 if is_open else -1)
        if to_state == Conversation.State.RESOLVED:
            auto.resolved_message(conversation)
            timers.conversation_resolved(conversation)
        elif is_open and not was_open:
            timers.conversation_reopened(conversation)  # a fresh inactivity deadline
        _wecom_kf_state(conversation, from_state)
        if to_state == Conversation.State.QUEUED:
            _route_after_commit(conversation.pk)
        elif was_open and not is_open:
            workspace_id = conversation.workspace_id
            transaction.on_commit(lambda: routing.drain(workspace_id))  # a slot is free

    def conversation_queued(self, conversation, staffed=True):
        timers.conversation_queued(conversation)
        if staffed:
            auto.queued_message(conversation)  # a place in the queue means something only when someone serves it
        else:
            _nobody_can_serve(conversation)
        push.notify_conversation_waiting(conversation)  # claimable: those serving the inbox hear of it

    def conversation_assigned(self, conversation, actor):
        if actor is None or actor.user_id == conversation.assignee_id:  # routing or a claim (a transfer says its own line)
            post_system_message(conversation.pk, _("%(name)s is serving you now.") % {"name": _member_name(conversation)})
        if actor is None or actor.user_id != conversation.assignee_id:  # nobody is pushed about their own claim
            push.notify_conversation_waiting(conversation)

    def left_as_message(self, conversation, reason):
        _nobody_can_serve(conversation)


FLOW = Flow()


def _configured_quiet(configured, sender_kind):
    """Nothing in the workspace's configuration follows a plain message of this sender kind: no word
    lists, no settings, and for a customer's message no rules (quiet_for adds push devices)."""
    if sender_kind == SenderKind.AGENT:
        return not (configured.word_lists or configured.has_settings)
    return not (configured.word_lists or configured.has_rules or configured.has_settings)


def _nobody_can_serve(conversation):
    """Nobody can answer now (outside hours, nobody on duty): one line, which offers the contact form
    (留下联系方式). The hosting message where hosting speaks for the workspace now (at most once per
    customer in its limit: said already, nothing more), else the generic line.

    Not in WeChat inboxes: there the customer is reached through the channel itself (no form to fill),
    and a line sent from routing's transaction would take the channel user's reply count while holding
    the conversation, the reverse of an inbound batch's order (a deadlock); the customer-message job's
    hosting speaks for those, in its own transaction."""
    if outbound.is_channel(conversation.inbox_id):
        return
    if not auto.host_now(conversation):
        auto.leave_message_line(conversation)


def _member_name(conversation):
    membership = Membership.objects.select_related("user").filter(workspace_id=conversation.workspace_id, user_id=conversation.assignee_id).first()
    return membership.shown_name if membership else _("An agent")


def _route_after_commit(conversation_id):
    # robust: the message is committed; a routing error (a race with another process) is logged and
    # the routing sweep tries again. Raised here, it would reach the sender's send after the commit,
    # whose IntegrityError handling would then answer a first message as a duplicate.
    transaction.on_commit(lambda: routing.route(conversation_id), robust=True)


# --- WeCom 微信客服: its session state follows the conversation (a follow-up job) ----------------

KF_STATE_JOB = "wecom_kf_state"


def _wecom_kf_state(conversation, from_state=None):
    """WeCom's session (new, API, ended) follows the conversation; the HTTP call waits for the commit."""
    if kf.follows_state(conversation, from_state):  # cached per process: no query for other inboxes
        followups.enqueue(conversation, KF_STATE_JOB)


followups.register(KF_STATE_JOB, followups.Handler(apply=lambda job, _prepared: kf.service_state_job(job.conversation_id), leased=True))


# --- answering a customer message (a follow-up job) ---------------------------------------------


def _prepare_answer(job):
    """Outside any transaction: the keyword rule that answers, else (bot-first chats) the bot's reply."""
    message = (Message.objects.select_related("conversation__inbox", "conversation__workspace", "conversation__customer")
               .filter(pk=job.data["message"]).first())
    if message is None or message.conversation.state not in OPEN:
        return None
    conversation = message.conversation
    rule = None
    if conversation.state == Conversation.State.BOT or conversation.first_response_at is None:
        rule = auto.rule_for(conversation, message)  # only while no person has answered
    reply = bot.reply_to(message) if conversation.state == Conversation.State.BOT and rule is None else None
    return message, rule, reply


def _apply_answer(job, prepared):
    """One answer per customer message: a keyword reply, else the bot (bot-first chats), else hosting
    (and hosting only when no other automatic line answered this message, the welcome included)."""
    if prepared is None:
        return
    message, rule, reply = prepared
    conversation = message.conversation
    answered = rule is not None and auto.send_keyword_reply(conversation, message, rule) is not None
    if conversation.state == Conversation.State.BOT:
        if not answered and reply is not None:
            bot.deliver(conversation.pk, reply)
        return
    found = auto.settings_for(conversation)
    if found is None or not found.hosting_enabled:
        return
    now = timezone.now()
    reason = hosting.active_reason(found, conversation.inbox, conversation.workspace.timezone, now)
    # A hosting window speaks only while nobody can serve (someone on duty: the queue line stands).
    if reason and not answered and inbox_availability(conversation.inbox, now)["state"] != "open":
        auto.send_hosting(conversation.pk, found, reason, now)
    if found.hosting_no_answer_minutes and found.hosting_message.strip():
        # The wait starts at the first unanswered message: later ones do not push it back.
        scheduler.schedule(conversation, Deadline.Kind.NO_ANSWER, now + timedelta(minutes=found.hosting_no_answer_minutes),
                           data={"after_seq": message.seq}, keep_earlier=True)


# --- delivering to an outside channel (a leased follow-up job: it calls WeChat) ---------------------


def _schedule_channel_send(conversation, message_out):
    followups.enqueue(conversation, FollowUp.Kind.CHANNEL_SEND, outbound=message_out.pk)


def _channel_send(job, _prepared):
    """Transient failures raise (the runner retries with backoff); on the last attempt they mark the message failed."""
    outbound.deliver(job.data["outbound"], final=job.attempts + 1 >= settings.FOLLOWUPS["MAX_ATTEMPTS"])


followups.register(FollowUp.Kind.CUSTOMER_MESSAGE, followups.Handler(apply=_apply_answer, prepare=_prepare_answer))
followups.register(FollowUp.Kind.CHANNEL_SEND, followups.Handler(apply=_channel_send, leased=True))
outbound.install_scheduler(_schedule_channel_send)
push.register_jobs()
