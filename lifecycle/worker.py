"""The worker loop: every INTERVAL_SECONDS it fires due deadlines (chat.scheduler, with the
handlers named here) and runs pending follow-up jobs a process left behind (lifecycle.followups);
every SWEEP_INTERVAL_SECONDS the routing sweep; every WECOM_KF_SYNC_SECONDS a backstop pull of the
WeCom kf accounts (connectors.wechat.kf.sync_all); every reports.rollups.INTERVAL_SECONDS the report
aggregates of days that changed; every OFFLINE_NOTIFY_SECONDS the notices to off-duty members
(lifecycle.offline_notify); every ALERT_INTERVAL_SECONDS the service alerts (reports.alerts, pushes:
lifecycle.alert_push) and every BOARD_INTERVAL_SECONDS the live boards' change notices; hourly it prunes old rows and unused uploads. It runs inside the
app process on the embedded default (start_embedded, from helpdesk.asgi's lifespan) and as
`manage.py run_scheduler` at scale (any number of them: each deadline and job still runs once).
See docs/scheduler.md."""

import logging
import threading
import time

from asgiref.sync import SyncToAsync
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from chat import scheduler
from chat.models import Deadline
from connectors.wechat import kf
from replies.auto import no_answer_due
from reports import board, rollups
from routing.actions import sweep

from . import alert_push, followups, invite_email, offline_notify, storage, timers  # noqa: F401 (invite_email registers its job)

log = logging.getLogger(__name__)

HANDLERS = {
    Deadline.Kind.NO_ANSWER: no_answer_due,
    Deadline.Kind.QUEUE_TIMEOUT: timers.queue_timeout_due,
    Deadline.Kind.AUTO_RESOLVE: timers.auto_resolve_due,
    Deadline.Kind.CSAT_PROMPT: timers.csat_prompt_due,
}


def fire_due(now=None, limit=500, stop=None):
    """chat.scheduler.fire_due with the lifecycle's handlers."""
    return scheduler.fire_due(HANDLERS, now=now, limit=limit, stop=stop)


def fire_all_due(batch=None, stop=None):
    """chat.scheduler.fire_all_due with the lifecycle's handlers."""
    return scheduler.fire_all_due(HANDLERS, batch, stop)


def _guarded(stats, what, work):
    try:
        return work()
    except Exception:  # the database may be away for a while: log, count, go on
        stats["errors"] += 1
        log.exception("scheduler: %s failed", what)
        return 0


def run_loop(stop, *, interval=None, sweep_interval=None, batch=None, once=False, stats=None, kf_interval=None):
    """Run until `stop` (a threading.Event) is set; sweep_interval / kf_interval 0: never. Returns counts.
    An idle turn is two indexed reads and no transaction."""
    conf = settings.SCHEDULER
    interval = conf["INTERVAL_SECONDS"] if interval is None else interval
    sweep_interval = conf["SWEEP_INTERVAL_SECONDS"] if sweep_interval is None else sweep_interval
    stats = stats if stats is not None else {}
    kf_interval = kf.sync_interval() if kf_interval is None else kf_interval
    stats.update(fired=0, followups=0, sweeps=0, errors=0, turns=0, pruned=0, kf_stored=0, rolled_up=0, offline_notices=0)
    next_sweep = next_prune = next_kf = next_rollup = next_offline = time.monotonic()  # kf at start too: a restart picks up what a dead sync left
    # 预警 and the live board (reports.alerts, reports.board): from the first turn on.
    next_alerts = next_board = time.monotonic()
    board_watch = board.BoardWatch()
    stats.update(alerts=0, boards=0)
    while True:
        close_old_connections()  # a connection the database dropped is replaced, not reused
        stats["fired"] += _guarded(stats, "firing deadlines", lambda: fire_all_due(batch, stop))
        stats["followups"] += _guarded(stats, "follow-up jobs",
                                       lambda: followups.run_due(stop=stop) if followups.due_exists() else 0)
        if sweep_interval and time.monotonic() >= next_sweep and not stop.is_set():
            next_sweep = time.monotonic() + sweep_interval
            if _guarded(stats, "routing sweep", lambda: sweep() or 1):
                stats["sweeps"] += 1
        if kf_interval and time.monotonic() >= next_kf and not stop.is_set():
            next_kf = time.monotonic() + kf_interval
            stats["kf_stored"] += _guarded(stats, "WeCom kf backstop sync", kf.sync_all)
        if time.monotonic() >= next_rollup and not stop.is_set():
            next_rollup = time.monotonic() + rollups.INTERVAL_SECONDS
            stats["rolled_up"] += _guarded(stats, "report rollups", rollups.run_due)
        if time.monotonic() >= next_offline and not stop.is_set():
            next_offline = time.monotonic() + offline_notify.check_seconds()
            stats["offline_notices"] += _guarded(stats, "offline notifications", offline_notify.run_due)
        if conf.get("ALERT_INTERVAL_SECONDS") and time.monotonic() >= next_alerts and not stop.is_set():
            next_alerts = time.monotonic() + conf["ALERT_INTERVAL_SECONDS"]
            stats["alerts"] += _guarded(stats, "service alerts", alert_push.evaluate_and_push)
        if conf.get("BOARD_INTERVAL_SECONDS") and time.monotonic() >= next_board and not stop.is_set():
            next_board = time.monotonic() + conf["BOARD_INTERVAL_SECONDS"]
            stats["boards"] += _guarded(stats, "board notices", lambda: board_watch.announce(timezone.now()))
        if time.monotonic() >= next_prune and not stop.is_set():
            next_prune = time.monotonic() + 3600
            stats["pruned"] += _guarded(stats, "pruning old rows", lambda: scheduler.prune() + followups.prune()
                                       + storage.sweep_unattached_uploads(stop=stop))
        close_old_connections()
        stats["turns"] += 1
        if once or stop.wait(interval):
            return stats


_embedded = {}
_embedded_lock = threading.Lock()


def start_embedded(loop=None):
    """Run the loop on a daemon thread of this process (once). loop: the server's event loop,
    so realtime events published by handlers go through its publisher like a request's."""
    with _embedded_lock:
        thread = _embedded.get("thread")
        if thread is not None and thread.is_alive():
            return thread
        stop = threading.Event()

        def run():
            if loop is not None:
                SyncToAsync.threadlocal.main_event_loop = loop  # read by helpdesk.realtime._send
            try:
                run_loop(stop)
            finally:
                connection.close()

        thread = threading.Thread(target=run, name="scheduler", daemon=True)
        _embedded.update(thread=thread, stop=stop)
        thread.start()
        log.info("scheduler: embedded loop started")
        return thread


def stop_embedded(timeout=10.0):
    with _embedded_lock:
        thread, stop = _embedded.pop("thread", None), _embedded.pop("stop", None)
    if thread is not None:
        stop.set()
        thread.join(timeout)
