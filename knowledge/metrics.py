"""Deflection metrics, computed from rows (search log, help sessions, conversation events,
the bot's answers), never from counters kept on the side.

Two kinds of self-service outcome, added together in `deflected` / `sessions`:
- a help-center or widget help session is deflected when its customer did not reach a human
  within 24 hours of its start (reaching a human = an `assigned` or `handed_off` event, or, for
  anonymous help-center visitors, who are not linked to a customer, a conversation created
  from a help-center page: its entry page is under /help/<workspace>/);
- a bot answer (a `bot_answered` event) is deflected when no `handed_off` event of its
  conversation follows within KB_BOT["DEFLECTION_WINDOW_MINUTES"] (default 10) and the customer
  did not mark it 未解决. Bot conversations are no longer sessions of their own: what counts
  is each answer, so a chat where the bot answered twice and the customer then asked for a
  person counts the answers given in the window before as not deflected."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Sum

from chat.models import Conversation, ConversationEvent

from .models import Article, BotAnswer, HelpSession, SearchLog

HUMAN_WINDOW = timedelta(hours=24)
HUMAN_EVENTS = [ConversationEvent.Kind.ASSIGNED, ConversationEvent.Kind.HANDED_OFF]


def answer_window():
    """How long after a bot answer a handoff (转人工) means the answer did not help."""
    return timedelta(minutes=settings.KB_BOT.get("DEFLECTION_WINDOW_MINUTES", 10))


@dataclass
class Report:
    searches: int
    zero_result_searches: int
    zero_result_queries: list  # [(query, count)], most frequent first
    article_views: int
    helpful_votes: int
    not_helpful_votes: int
    bot_conversations: int
    bot_answered_conversations: int
    bot_answers: int
    bot_deflected_answers: int  # not followed by a handoff within the window, not marked 未解决
    resolved_feedback: int  # answers the customer marked 已解决
    unresolved_feedback: int  # … and 未解决
    sessions: int  # help sessions + bot answers
    deflected: int

    @property
    def deflection_rate(self):
        return self.deflected / self.sessions if self.sessions else 0.0


def report(workspace, since, until):
    searches = SearchLog.objects.filter(workspace=workspace, created_at__gte=since, created_at__lt=until)
    zero = searches.filter(result_count=0)
    zero_queries = list(zero.values("query").annotate(n=Count("pk")).order_by("-n", "query").values_list("query", "n")[:50])
    totals = Article.objects.filter(workspace=workspace).aggregate(
        views=Sum("view_count"), helpful=Sum("helpful_count"), not_helpful=Sum("not_helpful_count"))

    bot = Conversation.objects.filter(workspace=workspace, created_at__gte=since, created_at__lt=until).filter(
        Exists(ConversationEvent.objects.filter(conversation=OuterRef("pk"), kind=ConversationEvent.Kind.CREATED, to_state="bot")))
    bot_total = bot.count()
    bot_answered = bot.filter(Exists(ConversationEvent.objects.filter(conversation=OuterRef("pk"), kind=ConversationEvent.Kind.BOT_ANSWERED))).count()

    answers = ConversationEvent.objects.filter(conversation__workspace=workspace, kind=ConversationEvent.Kind.BOT_ANSWERED,
                                               created_at__gte=since, created_at__lt=until)
    handed_off_soon = ConversationEvent.objects.filter(
        conversation_id=OuterRef("conversation_id"), kind=ConversationEvent.Kind.HANDED_OFF,
        created_at__gte=OuterRef("created_at"), created_at__lt=OuterRef("created_at") + answer_window())
    marked_unresolved = BotAnswer.objects.filter(event_id=OuterRef("pk"), feedback=BotAnswer.Feedback.UNRESOLVED)
    answers_total = answers.count()
    answers_deflected = answers.exclude(Exists(handed_off_soon)).exclude(Exists(marked_unresolved)).count()
    feedback = dict(BotAnswer.objects.filter(workspace=workspace, created_at__gte=since, created_at__lt=until)
                    .exclude(feedback=BotAnswer.Feedback.NONE).values("feedback").annotate(n=Count("pk")).values_list("feedback", "n"))

    sessions = HelpSession.objects.filter(workspace=workspace, started_at__gte=since, started_at__lt=until)
    customer_reached = Exists(ConversationEvent.objects.filter(
        conversation__customer_id=OuterRef("customer_id"), kind__in=HUMAN_EVENTS,
        created_at__gte=OuterRef("started_at"), created_at__lt=OuterRef("started_at") + HUMAN_WINDOW))
    known = sessions.filter(customer__isnull=False)
    known_deflected = known.exclude(customer_reached).count()
    anonymous = sessions.filter(customer__isnull=True)
    escalations = Conversation.objects.filter(workspace=workspace, created_at__gte=since, created_at__lt=until + HUMAN_WINDOW,
                                              entry_page__contains=f"/help/{workspace.slug}/").count()
    anonymous_total = anonymous.count()
    anonymous_deflected = max(anonymous_total - escalations, 0)
    return Report(
        searches=searches.count(), zero_result_searches=zero.count(), zero_result_queries=zero_queries,
        article_views=totals["views"] or 0, helpful_votes=totals["helpful"] or 0, not_helpful_votes=totals["not_helpful"] or 0,
        bot_conversations=bot_total, bot_answered_conversations=bot_answered,
        bot_answers=answers_total, bot_deflected_answers=answers_deflected,
        resolved_feedback=feedback.get(BotAnswer.Feedback.RESOLVED, 0), unresolved_feedback=feedback.get(BotAnswer.Feedback.UNRESOLVED, 0),
        sessions=known.count() + anonymous_total + answers_total, deflected=known_deflected + anonymous_deflected + answers_deflected,
    )



