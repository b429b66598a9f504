"""咨询分类 report for a workspace: how many conversations resolved in a period were wrapped up with
each category (chat.wrapup.counts; the admin's wrap-up page shows the last 30 days)."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import Workspace
from chat.wrapup import counts


def _day(text, zone):
    try:
        return timezone.make_aware(datetime.combine(datetime.strptime(text, "%Y-%m-%d").date(), time.min), zone)
    except ValueError:
        raise CommandError(f"Not a date (YYYY-MM-DD): {text!r}") from None


class Command(BaseCommand):
    help = "Count the conversations resolved in a period per wrap-up category (咨询分类)."

    def add_arguments(self, parser):
        parser.add_argument("--workspace", required=True, help="workspace slug")
        parser.add_argument("--days", type=int, default=30, help="the last N days (when --since is not given)")
        parser.add_argument("--since", help="first day, YYYY-MM-DD, in the workspace's time zone")
        parser.add_argument("--until", help="day after the last, YYYY-MM-DD (default: now)")

    def handle(self, *args, workspace, days, since, until, **options):
        ws = Workspace.objects.filter(slug=workspace).first()
        if ws is None:
            raise CommandError(f"No workspace {workspace!r}.")
        zone = ZoneInfo(ws.timezone)
        end = _day(until, zone) if until else timezone.now()
        start = _day(since, zone) if since else end - timedelta(days=days)
        if start >= end:
            raise CommandError("The period is empty: --since must be before --until.")
        report = counts(ws.pk, start, end)
        self.stdout.write(f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M}: {report.resolved} resolved")
        for name, n in report.rows:
            self.stdout.write(f"  {name}: {n}")
        self.stdout.write(f"  (no category): {report.unclassified}")
