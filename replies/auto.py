"""The system's own replies: welcome, keyword auto-replies, queue and resolved lines, hosting (托管),
and the supervisors' alert for sensitive words.

Inside a transaction (the caller holds the conversation row lock): welcome, queued_message,
resolved_message, flag_sensitive. After the commit, as a follow-up job (lifecycle.flow decides
when): rule_for → send_keyword_reply while no person has answered yet (and before the bot in
bot-first chats), then send_hosting. The no-answer timeout is a deadline (chat.scheduler) that
an agent's reply cancels; no_answer_due fires it."""

from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import roles
from accounts.access import member_ids_with
from chat.messages import post_automatic_reply
from chat.models import Conversation, ConversationEvent, Message, SenderKind
from helpdesk import realtime
from knowledge import synonyms
from knowledge.bot import article_url, locale_of
from knowledge.models import Article, ArticleVersion
from routing.selection import QueueEntry, queue_positions

from . import config, hosting
from .actions import fill_variables
from .matching import keyword_matches, keywords_of
from .models import AutoReplyRule, HostingMark, ReplySettings

OPEN = Conversation.OPEN_STATES


def settings_for(conversation):
    """The reply settings that apply to a conversation (settings_of_inbox)."""
    return settings_of_inbox(conversation.workspace_id, conversation.inbox_id)


def settings_of_inbox(workspace_id, inbox_id):
    """The inbox's own reply settings, else the workspace's (one query; none when the workspace has none)."""
    if not config.for_workspace(workspace_id).has_settings:
        return None
    rows = list(ReplySettings.objects.filter(workspace_id=workspace_id).filter(Q(inbox_id=inbox_id) | Q(inbox__isnull=True)))
    return next((r for r in rows if r.inbox_id), rows[0] if rows else None)


def _customer_name(conversation):
    return conversation.customer.name if conversation.customer_id else ""


def _fill(text, conversation, **extra):
    text = fill_variables(text, customer_name=_customer_name(conversation), agent_name="")
    for key, value in extra.items():
        text = text.replace("{%s}" % key, str(value))
    return text


def _post(conversation, body, kind, **options):
    data = {"kind": kind, **options.pop("event_data", {})}
    return post_automatic_reply(conversation, body, event=options.pop("event", ConversationEvent.Kind.AUTO_REPLIED), event_data=data, **options)


# --- inside the caller's transaction ---------------------------------------------------------


def welcome(conversation):
    """First customer message of a conversation: the welcome line right after it (returned; None: no welcome)."""
    found = settings_for(conversation)
    if found and found.welcome_message.strip():
        return _post(conversation, _fill(found.welcome_message, conversation), "welcome")
    return None


def queued_message(conversation):
    """The chat waits for an agent (queued or in the claim pool): the queue line with the position."""
    found = settings_for(conversation)
    if not found or not found.queue_message.strip():
        return
    rows = Conversation.objects.filter(workspace_id=conversation.workspace_id, group_id=conversation.group_id,
                                       state=Conversation.State.QUEUED, assignee__isnull=True).values_list("pk", "queued_at", "vip_level")
    now = timezone.now()
    positions = queue_positions([QueueEntry(pk, conversation.group_id, queued_at or now, vip) for pk, queued_at, vip in rows])
    position = positions.get(conversation.pk, 1)
    _post(conversation, _fill(found.queue_message, conversation, position=position), "queue", event_data={"position": position})


def contact_choice():
    """The 留下联系方式 button under a line that asks the customer to leave a message (the widget opens
    a small form; elsewhere the name is shown in brackets, WeChat gets the line alone)."""
    return {"name": _("Leave your phone or WeChat ID"), "choice": "contact"}


def leave_message_line(conversation):
    """Nobody can answer now and hosting does not speak: the generic line, with the contact form."""
    return _post(conversation, _("We are away right now. Leave your message and contact details, and we will reply as soon as we are back."),
                 "leave_message", attachments=[contact_choice()])


def welcome_text(inbox, customer=None):
    """The welcome as the widget shows it before the customer writes ("" when none is set)."""
    found = settings_of_inbox(inbox.workspace_id, inbox.pk)
    if found is None or not found.welcome_message.strip():
        return ""
    return fill_variables(found.welcome_message, customer_name=customer.name if customer else "", agent_name="")


def resolved_message(conversation):
    found = settings_for(conversation)
    if found and found.resolved_message.strip():
        _post(conversation, _fill(found.resolved_message, conversation), "resolved")


def flag_sensitive(conversation, message, alerts):
    """Delivered as written, but the agents see a private note and supervisors get an alert.
    Returns the supervisors alerted."""
    lists = [{"list": name, "words": words} for name, words in alerts]
    words = "、".join(w for _name, ws in alerts for w in ws)
    post_automatic_reply(conversation, _("Sensitive words in the message above: %(words)s") % {"words": words},
                         private=True, event=ConversationEvent.Kind.FLAGGED, event_data={"seq": message.seq, "lists": lists})
    supervisors = sorted(member_ids_with(conversation.workspace_id, roles.CONFIGURE))
    alert = {"type": "alert", "alert": "sensitive_words", "conversation_id": conversation.pk, "seq": message.seq, "lists": lists}
    realtime.publish([(realtime.group_for_agent(user_id), alert) for user_id in supervisors])
    return supervisors


# --- after commit (a follow-up job) -----------------------------------------------------------


def matching_rule(conversation, text):
    """The rule that answers this text: lowest priority number, then the longest keyword, then the oldest rule."""
    if not config.for_workspace(conversation.workspace_id).has_rules:
        return None  # a workspace with hosting settings only: no rules query per message
    best = None
    rules = AutoReplyRule.objects.filter(workspace_id=conversation.workspace_id, enabled=True).filter(Q(inbox__isnull=True) | Q(inbox_id=conversation.inbox_id))
    groups = synonyms.groups(conversation.workspace_id)
    for rule in rules:
        exact = rule.match == AutoReplyRule.Match.EXACT
        hits = [k for k in keywords_of(rule.keywords)
                if keyword_matches(text, k, exact=exact, script=rule.ignore_script, pinyin=rule.ignore_pinyin and not exact, synonyms=groups)]
        if hits:
            rank = (rule.priority, -max(len(k) for k in hits), rule.pk)
            if best is None or rank < best[0]:
                best = (rank, rule)
    return best[1] if best else None


def rule_for(conversation, message):
    """The keyword rule that answers this customer message, if any."""
    if message.msg_type != Message.Type.TEXT or not message.body:
        return None
    return matching_rule(conversation, message.body)


def send_keyword_reply(conversation, message, rule):
    """The rule's reply, unless the conversation finished meanwhile. Returns the rule when it answered."""
    body, msg_type, attachments = _reply_content(rule, conversation, message.body)
    if not body and not attachments:
        return None
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().select_related("customer").get(pk=conversation.pk)
        if locked.state not in OPEN:
            return None
        _post(locked, body, "keyword", msg_type=msg_type, attachments=attachments, event_data={"rule": rule.pk, "seq": message.seq})
    return rule


def _reply_content(rule, conversation, question):
    text = _fill(rule.reply_text, conversation)
    kind = rule.reply_kind
    if kind == AutoReplyRule.ReplyKind.ARTICLE:
        link = _article_link(rule.article_id, question)
        return (text, Message.Type.ARTICLE, [link]) if link else (text, Message.Type.TEXT, [])
    # Links and cards are card messages (a titled link); a card's image is for SDKs and channels that draw it.
    if kind in (AutoReplyRule.ReplyKind.LINK, AutoReplyRule.ReplyKind.CARD) and rule.link_url:
        card = {"url": rule.link_url, "name": rule.card_title or rule.link_url}
        if kind == AutoReplyRule.ReplyKind.CARD and rule.card_image_url:
            card["image"] = rule.card_image_url
        return text, Message.Type.CARD, [card]
    return text, Message.Type.TEXT, []


def _article_link(article_id, question):
    """The published article in the customer's script when it has that version, else any published one."""
    versions = {v.locale: v for v in ArticleVersion.objects.filter(article_id=article_id, article__status=Article.Status.PUBLISHED,
                                                                   article__internal_only=False).select_related("article__workspace")}
    if not versions:
        return None
    version = versions.get(locale_of(question)) or versions.get("zh-hans") or next(iter(versions.values()))
    return {"url": article_url(version), "name": version.title}


# --- hosting -------------------------------------------------------------------------------


def host_now(conversation, now=None):
    """Nobody can serve: the hosting message when hosting speaks for the workspace now. True when it
    does (whether or not it spoke again: once per customer in its limit), False when the generic
    line must speak instead."""
    found = settings_for(conversation)
    now = now or timezone.now()
    reason = hosting.active_reason(found, conversation.inbox, conversation.workspace.timezone, now) if found else None
    if not reason:
        return False
    send_hosting(conversation.pk, found, reason, now)
    return True


def _take_hosting_slot(customer_id, now, limit_minutes):
    """At most once per customer every `limit_minutes`: one conditional UPDATE decides, even between processes."""
    HostingMark.objects.get_or_create(customer_id=customer_id)
    due = Q(last_hosted_at__isnull=True) | Q(last_hosted_at__lte=now - timedelta(minutes=limit_minutes))
    return HostingMark.objects.filter(due, customer_id=customer_id).update(last_hosted_at=now) == 1


def send_hosting(conversation_id, found, reason, now):
    """The hosting message, unless the customer had it recently or (in a window) an agent spoke within the limit.
    The no-answer deadline has checked already that nobody answered this wait."""
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().select_related("customer").filter(pk=conversation_id).first()
        if conversation is None or conversation.state not in OPEN or conversation.state == Conversation.State.BOT:
            return None
        since = now - timedelta(minutes=found.hosting_limit_minutes)
        if reason != "no_answer" and Message.objects.filter(conversation_id=conversation_id, sender_kind=SenderKind.AGENT, is_private=False, created_at__gte=since).exists():
            return None  # a person is in this conversation right now
        if not _take_hosting_slot(conversation.customer_id, now, found.hosting_limit_minutes):
            return None
        return _post(conversation, _fill(found.hosting_message, conversation), "hosting", event=ConversationEvent.Kind.HOSTED, event_data={"reason": reason},
                     attachments=[contact_choice()])


def no_answer_due(deadline, now):
    """Scheduler handler: nobody answered the customer for N minutes (an agent's reply cancels the deadline)."""
    conversation = Conversation.objects.select_related("inbox", "workspace").filter(pk=deadline.conversation_id).first()
    if conversation is None or conversation.state not in OPEN:
        return
    found = settings_for(conversation)
    if found is None or not found.hosting_enabled or not found.hosting_no_answer_minutes:
        return
    after = deadline.data.get("after_seq", 0)
    if Message.objects.filter(conversation_id=conversation.pk, sender_kind=SenderKind.AGENT, is_private=False, seq__gt=after).exists():
        return
    send_hosting(conversation.pk, found, "no_answer", now)
