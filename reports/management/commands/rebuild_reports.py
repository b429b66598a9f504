"""Rebuild the report aggregates of a range of days at once (after a data repair or a time zone
change, or to backfill old history without waiting for the worker's windows). Idempotent: a day
rebuilt twice, or while the worker rebuilds it, ends with the same rows (docs/reports.md)."""

from datetime import date, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import Workspace
from reports import rollups


class Command(BaseCommand):
    help = "Rebuild the report aggregates (报表) of every workspace, or one, for the last N days or a date range."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", type=int, help="workspace id (default: every workspace)")
        parser.add_argument("--days", type=int, default=90, help="the last N local days up to today (default 90)")
        parser.add_argument("--from", dest="date_from", help="first day, YYYY-MM-DD (instead of --days)")
        parser.add_argument("--to", dest="date_to", help="last day, YYYY-MM-DD (default today)")

    def handle(self, *args, workspace=None, days=90, date_from=None, date_to=None, **options):
        workspaces = Workspace.objects.order_by("pk")
        if workspace is not None:
            workspaces = workspaces.filter(pk=workspace)
            if not workspaces.exists():
                raise CommandError(f"No workspace {workspace}.")
        for ws in workspaces:
            today = timezone.localdate(timezone.now(), rollups.zone(ws.timezone))
            try:
                last = date.fromisoformat(date_to) if date_to else today
                first = date.fromisoformat(date_from) if date_from else last - timedelta(days=days - 1)
            except ValueError as exc:
                raise CommandError(f"Dates are YYYY-MM-DD: {exc}") from None
            if first > last:
                raise CommandError("--from is after --to.")
            rows = rollups.rebuild_range(ws.pk, first, last)
            self.stdout.write(f"{ws.name}: {first} … {last}, {rows} rows")
