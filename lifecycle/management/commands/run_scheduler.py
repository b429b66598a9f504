"""The scheduler as its own process (the worker at scale): fires due deadlines and runs the
routing sweep. Any number may run beside each other and beside the embedded loop: each
deadline still fires once (docs/scheduler.md). SIGTERM or SIGINT stop it after the current
deadline; SIGKILL loses nothing either (an uncommitted firing stays pending)."""

import os
import signal
import threading

from django.core.management.base import BaseCommand

from knowledge import search
from lifecycle.worker import run_loop


class Command(BaseCommand):
    help = "Fire due deadlines (auto-resolve, queue timeout, rating request, hosting reply), run follow-up jobs left behind and the routing sweep."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one turn: fire everything due, sweep once, exit")
        parser.add_argument("--interval", type=float, default=None, help="seconds between turns (default SCHEDULER INTERVAL_SECONDS)")
        parser.add_argument("--sweep-interval", type=float, default=None, help="seconds between routing sweeps (0: no sweep)")
        parser.add_argument("--no-sweep", action="store_true", help="deadlines only (another process sweeps)")
        parser.add_argument("--batch", type=int, default=None)

    def handle(self, *args, once=False, interval=None, sweep_interval=None, no_sweep=False, batch=None, **options):
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        pid = os.getpid()
        if not once:  # the bot answers customers from here: its first search should not pay for loading
            threading.Thread(target=search.warm, name="search-warm", daemon=True).start()
        self._say(f"scheduler {pid} started")
        stats = run_loop(stop, interval=interval, sweep_interval=0 if no_sweep else sweep_interval, batch=batch, once=once)
        self._say(f"scheduler {pid} stopped: fired {stats['fired']}, follow-ups {stats['followups']}, sweeps {stats['sweeps']}, errors {stats['errors']}")

    def _say(self, line):
        self.stdout.write(line)
        self.stdout.flush()  # read by tests and supervisors while the process runs
