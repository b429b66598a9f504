"""「是否解决了您的问题？」: after each answer the bot asks, and the customer taps 已解决 or 未解决.

post_answer writes, in one transaction under the conversation's lock: the answer message, its
bot_answered event, the question with its two choices (widget inboxes only: on WeChat every bot
line spends one of the 5 replies its rules allow, and nothing there can be tapped), and a
BotAnswer row linking them. give_feedback records the customer's tap: only the conversation's
own customer (another's conversation is a 404, as for every customer endpoint), once (a
conditional update from "no feedback": a repeat or a concurrent double tap records nothing
more, and a contradicting second answer is refused). 已解决 is thanked; 未解决 counts the
question as unanswered (knowledge.unanswered) and offers 转人工."""

from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from chat import access
from chat.messages import post_automatic_reply, post_bot_message
from chat.models import Conversation, ConversationEvent, Inbox, Message, SenderKind
from helpdesk.errors import DomainError, forbidden, invalid
from helpdesk.validation import int_or_none

from . import choices, unanswered
from .models import BotAnswer, UnansweredQuestion

# Inboxes whose customers see the widget (the web page, the H5 page in an app): they get buttons.
CHOICE_INBOX_KINDS = {Inbox.Kind.WEB, Inbox.Kind.APP}


def _assistant(conversation):
    return access.Actor(SenderKind.BOT, conversation.workspace_id, name=str(_("Assistant")))


def post_answer(conversation_id, text, links, *, question, locale):
    """The bot's answer (links: [{"url", "name", "article"}]) and the feedback question after it.
    Nothing when a person has taken the chat meanwhile. Returns the BotAnswer or None."""
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().select_related("inbox").get(pk=conversation_id)
        if conversation.state != Conversation.State.BOT:
            return None
        attachments = [{"url": link["url"], "name": link["name"]} for link in links]
        post_automatic_reply(conversation, text, msg_type=Message.Type.ARTICLE if attachments else Message.Type.TEXT, attachments=attachments)
        event = ConversationEvent.record(conversation, ConversationEvent.Kind.BOT_ANSWERED, _assistant(conversation),
                                         data={"articles": [link["url"] for link in links]})
        prompt = None
        if conversation.inbox.kind in CHOICE_INBOX_KINDS:
            prompt = post_automatic_reply(conversation, _("Did this solve your problem?"), attachments=[
                {"name": _("Solved"), "choice": choices.RESOLVED}, {"name": _("Not solved"), "choice": choices.UNRESOLVED}])
        return BotAnswer.objects.create(
            workspace_id=conversation.workspace_id, conversation=conversation, event=event, prompt=prompt,
            article_id=links[0]["article"] if links else None, question=" ".join(str(question).split())[:200], locale=locale)


def give_feedback(actor, conversation_id, message_id, resolved):
    """The customer's answer to the feedback question `message_id`. Returns (feedback, recorded):
    recorded is False for a repeat of the answer already given."""
    if not actor.is_customer:
        raise forbidden()
    if not isinstance(resolved, bool):
        raise invalid("invalid_feedback", gettext_lazy("Answer with resolved: true or false."))
    conversation = access.get_conversation(actor, conversation_id)
    answer = BotAnswer.objects.filter(conversation_id=conversation.pk, prompt_id=int_or_none(message_id)).first()
    if answer is None:
        raise DomainError("not_found", gettext_lazy("There is no such question in this conversation."), status=404)
    value = BotAnswer.Feedback.RESOLVED if resolved else BotAnswer.Feedback.UNRESOLVED
    with transaction.atomic():
        if not BotAnswer.objects.filter(pk=answer.pk, feedback=BotAnswer.Feedback.NONE).update(feedback=value, feedback_at=timezone.now()):
            given = BotAnswer.objects.filter(pk=answer.pk).values_list("feedback", flat=True).first()
            if given != value:
                raise DomainError("feedback_given", gettext_lazy("You have already answered this question."), status=409)
            return value, False
        with translation.override(answer.locale or None):
            if resolved:
                post_bot_message(conversation.pk, _("Glad we could help!"))
            else:
                unanswered.record(conversation.workspace_id, answer.question, answer.locale, UnansweredQuestion.Reason.UNRESOLVED)
                post_bot_message(conversation.pk, _("Sorry that did not help. You can ask in other words, or talk to a person."),
                                 attachments=[{"name": _("Talk to a person"), "choice": choices.HANDOFF}])
    return value, True
