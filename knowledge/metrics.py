"""Deflection metrics, computed from rows (search log, help sessions, conversation events),
never from counters kept on the side.

deflection = self-service sessions (help center, widget help search, bot conversations)
whose customer did not reach a human within 24 hours of the session's start.
Reaching a human = an `assigned` or `handed_off` event, or a conversation created from a
help-center page (its entry page is under /help/<workspace>/) for anonymous help-center
visitors, who are not linked to a customer."""

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, Exists, OuterRef, Sum

from chat.models import Conversation, ConversationEvent

from .models import Article, HelpSession, SearchLog

HUMAN_WINDOW = timedelta(hours=24)
HUMAN_EVENTS = [ConversationEvent.Kind.ASSIGNED, ConversationEvent.Kind.HANDED_OFF]


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
    sessions: int
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

    reached_human = ConversationEvent.objects.filter(
        conversation=OuterRef("pk"), kind__in=HUMAN_EVENTS, created_at__lt=OuterRef("created_at") + HUMAN_WINDOW)
    bot = Conversation.objects.filter(workspace=workspace, created_at__gte=since, created_at__lt=until).filter(
        Exists(ConversationEvent.objects.filter(conversation=OuterRef("pk"), kind=ConversationEvent.Kind.CREATED, to_state="bot")))
    bot_total = bot.count()
    bot_answered = bot.filter(Exists(ConversationEvent.objects.filter(conversation=OuterRef("pk"), kind=ConversationEvent.Kind.BOT_ANSWERED))).count()
    bot_deflected = bot.exclude(Exists(reached_human)).count()

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
        sessions=known.count() + anonymous_total + bot_total, deflected=known_deflected + anonymous_deflected + bot_deflected,
    )



