"""Deflection report for a workspace: searches, zero-result searches (for authors), article
views and votes, bot-answered conversations, and the deflection rate."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import Workspace
from knowledge.metrics import report


class Command(BaseCommand):
    help = "Print the knowledge base's deflection metrics for a workspace."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--days", type=int, default=30)

    def handle(self, *args, workspace, days, **options):
        ws = Workspace.objects.filter(slug=workspace).first()
        if ws is None:
            raise CommandError(f"No workspace {workspace!r}.")
        until = timezone.now()
        r = report(ws, until - timedelta(days=days), until)
        self.stdout.write(f"searches: {r.searches} (zero results: {r.zero_result_searches})")
        self.stdout.write(f"article views: {r.article_views}, helpful: {r.helpful_votes}, not helpful: {r.not_helpful_votes}")
        self.stdout.write(f"bot conversations: {r.bot_conversations}, answered by the bot: {r.bot_answered_conversations}")
        self.stdout.write(f"bot answers: {r.bot_answers}, deflected (no handoff soon after, not 未解决): {r.bot_deflected_answers}; "
                          f"feedback 已解决: {r.resolved_feedback}, 未解决: {r.unresolved_feedback}")
        self.stdout.write(f"help sessions + bot answers: {r.sessions}, deflected: {r.deflected} ({r.deflection_rate:.0%})")
        for query, n in r.zero_result_queries:
            self.stdout.write(f"  zero results ×{n}: {query}")
