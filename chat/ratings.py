"""Customer satisfaction: one rating per finished conversation, credited to the agent who had it."""

from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from helpdesk.errors import DomainError, forbidden, invalid
from helpdesk.validation import is_int

from . import access
from .identity import clean_text
from .models import Conversation, ConversationEvent, Inbox, SatisfactionRating
from .notify import notify_conversation

MAX_RATING_COMMENT_CHARS = 1000


RATABLE_STATES = (Conversation.State.RESOLVED, Conversation.State.CLOSED)

# What the widget labels each rating with (非常不满意 … 非常满意).
LABELS = {1: _("Very dissatisfied"), 2: _("Dissatisfied"), 3: _("Neutral"), 4: _("Satisfied"), 5: _("Very satisfied")}
# The reasons a customer may tick: what went well (ratings 4-5) or what did not (1-3). Codes are stored.
PRAISE = {"quick": _("Quick reply"), "solved": _("Problem solved"), "friendly": _("Friendly"), "expert": _("Knowledgeable")}
COMPLAINTS = {"slow": _("Slow reply"), "unsolved": _("Problem not solved"), "attitude": _("Unfriendly"), "off_topic": _("Did not understand me")}
REASONS = {**PRAISE, **COMPLAINTS}


def reasons_for(rating):
    return PRAISE if rating >= 4 else COMPLAINTS


def rate_conversation(actor, conversation_id, rating, comment="", reasons=()):
    """The customer rates their finished conversation once, with reasons of the rating's side
    (REASONS); the agent who had it is credited."""
    if not actor.is_customer:
        raise forbidden(_("Only the customer can rate a conversation."))
    if not is_int(rating) or not 1 <= rating <= 5:
        raise invalid("invalid_rating", _("The rating must be a whole number from 1 to 5."))
    if reasons is None:
        reasons = []
    if not isinstance(reasons, (list, tuple)) or len(reasons) > len(REASONS) or any(not isinstance(r, str) or r not in reasons_for(rating) for r in reasons):
        raise invalid("invalid_reasons", _("Choose reasons from the list shown with this rating."))
    reasons = sorted(set(reasons), key=list(REASONS).index)
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise invalid("invalid_comment", _("The comment must be text."))
    comment = clean_text(comment, MAX_RATING_COMMENT_CHARS, lines=True)
    if comment is None:
        raise invalid("invalid_comment", _("The comment is too long (at most %(n)s characters).") % {"n": MAX_RATING_COMMENT_CHARS})
    already = DomainError("already_rated", _("You have already rated this conversation."), status=409)
    try:
        with transaction.atomic():
            conversation = access.get_conversation(actor, conversation_id, lock=True)
            if not Inbox.objects.filter(pk=conversation.inbox_id, csat_enabled=True).exists():
                raise DomainError("csat_disabled", _("Ratings are not collected in this chat."), status=403)
            if conversation.state not in RATABLE_STATES:
                raise DomainError("not_finished", _("A conversation can be rated once it is finished."), status=409)
            if SatisfactionRating.objects.filter(conversation=conversation).exists():
                raise already
            # One rating per conversation (unique): the backstop if two ratings race past the check.
            rated = SatisfactionRating.objects.create(
                conversation=conversation, customer_id=conversation.customer_id, agent_id=conversation.assignee_id,
                rating=rating, comment=comment, reasons=reasons,
            )
            ConversationEvent.record(conversation, ConversationEvent.Kind.RATED, actor, data={"rating": rating, "reasons": reasons})
            notify_conversation(conversation)
    except IntegrityError:
        raise already from None
    return rated


def conversation_rating(actor, conversation_id):
    """The rating of a conversation the actor can see; 404 not_rated when there is none yet."""
    conversation = access.get_conversation(actor, conversation_id)
    rated = SatisfactionRating.objects.filter(conversation=conversation).first()
    if rated is None:
        raise DomainError("not_rated", _("This conversation has not been rated."), status=404)
    return rated
