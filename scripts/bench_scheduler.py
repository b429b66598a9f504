#!/usr/bin/env python
"""Scheduler benchmark (issue 8): how fast `manage.py run_scheduler` fires due deadlines on
PostgreSQL with one and with two processes, how late they fire, and what an idle turn of the
embedded loop costs on SQLite.

PostgreSQL (a fresh scratch database `helpdesk_bench_scheduler`, dropped afterwards):
- burst: --deadlines (10,000) rating requests on as many resolved conversations, all due at
  the same instant, inserted while the schedulers are already polling (--interval 0.2 s):
  deadlines/s from the insert to the last firing, lateness (fired_at - due_at) p50/p95/max,
  and how many each process fired. Each firing is the real handler: lock the conversation,
  post the system line (seq under the row lock), write the event, mark the deadline fired.
- steady: --steady-rate deadlines/s (100) due over --steady-seconds (20): lateness p50/p95
  when the scheduler keeps up (bounded by the poll interval).
SQLite (a scratch file; in a child process): the cost of one idle turn of the loop (nothing
due, 10,000 deadlines pending later): the "anything due?" read, and the whole turn with
close_old_connections; and one routing sweep with nothing to do.

Usage: python scripts/bench_scheduler.py [--deadlines 10000] [--steady-rate 100]
       [--steady-seconds 20] [--interval 0.2] [--keep]
"""

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE))
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
DB_NAME = "helpdesk_bench_scheduler"


def admin(sql):
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


# --- PostgreSQL ----------------------------------------------------------------------------------


def conversations(inbox, n):
    from django.utils import timezone

    from chat.models import Conversation, Customer

    customers = Customer.objects.bulk_create([Customer(workspace_id=inbox.workspace_id, first_inbox=inbox) for _ in range(n)], batch_size=2000)
    now = timezone.now()
    return Conversation.objects.bulk_create([
        Conversation(workspace_id=inbox.workspace_id, inbox=inbox, customer=c, state="resolved", resolved_at=now, last_message_at=now)
        for c in customers
    ], batch_size=2000)


def start_schedulers(count, url, interval, log_dir):
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": "", "DEBUG": "false"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    procs = []
    for n in range(count):
        log = Path(log_dir, f"scheduler-{count}-{n}.log")
        proc = subprocess.Popen([sys.executable, "manage.py", "run_scheduler", "--interval", str(interval), "--no-sweep"],
                                cwd=BASE, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
        proc.log = log
        procs.append(proc)
    deadline = time.monotonic() + 60
    while not all("started" in p.log.read_text() for p in procs):
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
            raise RuntimeError("schedulers did not start: " + " | ".join(p.log.read_text() for p in procs))
        time.sleep(0.05)
    return procs


def stop_schedulers(procs):
    counts = []
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
        found = re.search(r"fired (\d+)", proc.log.read_text())
        counts.append(int(found.group(1)) if found else None)
    return counts


def wait_until_fired(ids, timeout=1800):
    """Polls by id range (the rows are contiguous): a 10,000-id IN list every poll would cost
    the machine more than the schedulers under test."""
    from chat.models import Deadline

    pending = Deadline.objects.filter(pk__gte=min(ids), pk__lte=max(ids), state="pending")
    deadline = time.monotonic() + timeout
    while pending.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("deadlines still pending")
        time.sleep(0.05)
    return time.perf_counter()


def lateness_ms(ids):
    from chat.models import Deadline

    rows = Deadline.objects.filter(pk__gte=min(ids), pk__lte=max(ids)).values_list("due_at", "fired_at", "state")
    assert all(state == "fired" for _d, _f, state in rows), "a deadline did not fire"
    return [(fired - due).total_seconds() * 1000 for due, fired, _s in rows]


def burst(inbox, processes, n, interval, log_dir, url):
    from django.db import transaction
    from django.utils import timezone

    from chat.models import ConversationEvent, Deadline

    convs = conversations(inbox, n)
    procs = start_schedulers(processes, url, interval, log_dir)
    try:
        with transaction.atomic():
            due = timezone.now()
            rows = Deadline.objects.bulk_create([Deadline(workspace_id=c.workspace_id, conversation=c, kind="csat_prompt", due_at=due) for c in convs],
                                                batch_size=2000)
        t0 = time.perf_counter()
        t1 = wait_until_fired([r.pk for r in rows])
    finally:
        counts = stop_schedulers(procs)
    late = lateness_ms([r.pk for r in rows])
    prompts = ConversationEvent.objects.filter(conversation_id__gte=convs[0].pk, conversation_id__lte=convs[-1].pk, kind="csat_prompted").count()
    assert prompts == n, f"{prompts} rating requests for {n} deadlines"
    return {"processes": processes, "n": n, "seconds": t1 - t0, "rate": n / (t1 - t0), "p50": pct(late, 50), "p95": pct(late, 95),
            "max": max(late), "per_process": counts}


def steady(inbox, rate, seconds, interval, log_dir, url):
    from datetime import timedelta

    from django.utils import timezone

    from chat.models import Deadline

    n = int(rate * seconds)
    convs = conversations(inbox, n)
    procs = start_schedulers(1, url, interval, log_dir)
    try:
        start = timezone.now() + timedelta(seconds=2)
        rows = Deadline.objects.bulk_create([Deadline(workspace_id=c.workspace_id, conversation=c, kind="csat_prompt",
                                                      due_at=start + timedelta(seconds=i / rate)) for i, c in enumerate(convs)], batch_size=2000)
        wait_until_fired([r.pk for r in rows])
    finally:
        stop_schedulers(procs)
    late = lateness_ms([r.pk for r in rows])
    return {"n": n, "p50": pct(late, 50), "p95": pct(late, 95), "max": max(late)}


def run_postgresql(args, log_dir):
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + DB_NAME
    admin(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    admin(f"CREATE DATABASE {DB_NAME}")
    os.environ.update(DATABASE_URL=url, REDIS_URL="", DEBUG="false", DJANGO_SETTINGS_MODULE="helpdesk.settings")
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE, check=True)
        import django

        django.setup()
        from accounts.models import Workspace
        from chat.models import Inbox

        ws = Workspace.objects.create(name="bench", slug="bench-scheduler")
        inbox = Inbox.objects.create(workspace=ws, name="bench inbox")
        print(f"load average before: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
        print(f"PostgreSQL burst: {args.deadlines:,} rating requests due at once, poll interval {args.interval} s")
        for processes in (1, 2):
            r = burst(inbox, processes, args.deadlines, args.interval, log_dir, url)
            print(f"  {processes} process(es): {r['rate']:,.0f} deadlines/s ({r['seconds']:.1f} s); lateness p50 {r['p50']:,.0f} ms, "
                  f"p95 {r['p95']:,.0f} ms, max {r['max']:,.0f} ms; fired per process {r['per_process']}")
        r = steady(inbox, args.steady_rate, args.steady_seconds, args.interval, log_dir, url)
        print(f"PostgreSQL steady: {r['n']:,} deadlines due at {args.steady_rate}/s over {args.steady_seconds} s, 1 process: "
              f"lateness p50 {r['p50']:,.0f} ms, p95 {r['p95']:,.0f} ms, max {r['max']:,.0f} ms")
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            admin(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


# --- SQLite idle turn (child process) --------------------------------------------------------------


def run_sqlite_idle(turns):
    import django

    django.setup()
    import threading
    from datetime import timedelta

    from django.db import close_old_connections, connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from accounts.models import Workspace
    from chat.models import Deadline, Inbox
    from lifecycle import worker
    from routing.actions import sweep

    ws = Workspace.objects.create(name="bench", slug="bench-idle")
    inbox = Inbox.objects.create(workspace=ws, name="bench inbox")
    later = timezone.now() + timedelta(hours=1)
    Deadline.objects.bulk_create([Deadline(workspace_id=ws.pk, conversation=c, kind="csat_prompt", due_at=later)
                                  for c in conversations(inbox, 10_000)], batch_size=2000)
    stop = threading.Event()

    def timed(fn, n):
        for _ in range(20):
            fn()
        samples = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - t) * 1e6)
        return statistics.median(samples), pct(samples, 95)

    def turn():
        close_old_connections()
        worker.fire_all_due(stop=stop)
        close_old_connections()

    with CaptureQueriesContext(connection) as queries:
        worker.fire_all_due(stop=stop)
    read = timed(lambda: worker.fire_all_due(stop=stop), turns)
    whole = timed(turn, turns)
    swept = timed(sweep, 50)
    print(f"SQLite idle turn (10,000 deadlines pending later, {turns} turns): {len(queries.captured_queries)} query, no transaction; "
          f"'anything due?' p50 {read[0]:.0f} us, p95 {read[1]:.0f} us; whole turn p50 {whole[0]:.0f} us, p95 {whole[1]:.0f} us; "
          f"routing sweep with nothing to do p50 {swept[0] / 1000:.1f} ms, p95 {swept[1] / 1000:.1f} ms")


def run_sqlite(turns, log_dir):
    path = Path(log_dir, "idle.sqlite3")
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{path}", "REDIS_URL": "", "DEBUG": "false"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE, env=env, check=True)
    env["DJANGO_SETTINGS_MODULE"] = "helpdesk.settings"
    subprocess.run([sys.executable, __file__, "--sqlite-idle-child", str(turns)], cwd=BASE, env=env, check=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deadlines", type=int, default=10_000)
    parser.add_argument("--steady-rate", type=int, default=100)
    parser.add_argument("--steady-seconds", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.2, help="the schedulers' poll interval (s)")
    parser.add_argument("--idle-turns", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help=f"keep the database {DB_NAME}")
    parser.add_argument("--skip-postgresql", action="store_true")
    parser.add_argument("--sqlite-idle-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sqlite_idle_child:
        return run_sqlite_idle(args.sqlite_idle_child)
    with tempfile.TemporaryDirectory(prefix="bench-scheduler-") as log_dir:
        run_sqlite(args.idle_turns, log_dir)
        if not args.skip_postgresql:
            run_postgresql(args, log_dir)


if __name__ == "__main__":
    main()
