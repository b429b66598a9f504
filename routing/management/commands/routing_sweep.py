"""The routing sweep: drains queues an event may have missed and re-routes chats nobody
answered in time. `--once` for cron; otherwise it loops (run one per deployment, or several:
every step takes row locks, so two sweepers never assign the same conversation)."""

import time

from django.core.management.base import BaseCommand

from routing.actions import sweep


class Command(BaseCommand):
    help = "Drain routing queues and re-route unanswered chats, once or every --interval seconds."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true")
        parser.add_argument("--interval", type=float, default=5.0)

    def handle(self, *args, once=False, interval=5.0, **options):
        while True:
            result = sweep()
            if once:
                self.stdout.write(f"assigned from queue: {result['assigned_from_queue']}, timed out: {result['timed_out']}")
                return
            time.sleep(interval)
