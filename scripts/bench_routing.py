#!/usr/bin/env python
"""Routing decision benchmark: time routing.actions.route (snapshot + select + lock +
assign) for new conversations in a workspace with many agents and open conversations.

Defaults (issue 4): 500 agents online, 10,000 open conversations already assigned,
10 rule groups of 50 agents plus the default group, PostgreSQL. Prints p50/p95/p99/max.

Usage: python scripts/bench_routing.py [--agents 500] [--open 10000] [--routes 500] [--sqlite]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE))
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def prepare(args):
    if args.sqlite:
        return f"sqlite:///{tempfile.mkdtemp(prefix='bench-routing-')}/db.sqlite3"
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS helpdesk_bench_routing WITH (FORCE)")
        conn.execute("CREATE DATABASE helpdesk_bench_routing")
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/helpdesk_bench_routing"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=500)
    parser.add_argument("--open", type=int, default=10_000)
    parser.add_argument("--routes", type=int, default=500)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--no-groups", action="store_true", help="only the default reception group (all 500 agents)")
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = prepare(args)
    os.environ["REDIS_URL"] = ""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE, check=True)

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.utils import timezone

    from accounts.models import Membership, Role, Workspace
    from chat.models import Conversation, Customer, Inbox, InboxUserPermission
    from routing import actions
    from routing.models import AgentGroup, AgentPresence

    t0 = time.perf_counter()
    ws = Workspace.objects.create(name="Bench", slug="bench-routing")
    inbox = Inbox.objects.create(workspace=ws, name="Site")
    User = get_user_model()
    users = User.objects.bulk_create([User(username=f"ra{i}") for i in range(args.agents)])
    Membership.objects.bulk_create([Membership(workspace=ws, user=u, role=Role.AGENT) for u in users])
    perm = Permission.objects.get(codename="reply_in_inbox")
    InboxUserPermission.objects.bulk_create([InboxUserPermission(user=u, permission=perm, content_object=inbox) for u in users])
    AgentPresence.objects.bulk_create([AgentPresence(workspace=ws, user=u, status="online", capacity=1000) for u in users])
    regions = [f"省{g}/市{g}" for g in range(10)]
    for g, region in enumerate([] if args.no_groups else regions):
        group = AgentGroup.objects.create(workspace=ws, name=f"Region {g}", priority=g + 1, rules=[{"field": "region", "values": [region]}])
        group.members.set(users[g * 50 % len(users): g * 50 % len(users) + 50])
    actions.default_group(ws.pk)
    customers = Customer.objects.bulk_create(
        [Customer(workspace=ws, first_inbox=inbox, attributes={"region": regions[i % 10]}) for i in range(args.open + args.routes)]
    )
    now = timezone.now()
    Conversation.objects.bulk_create(
        [Conversation(workspace=ws, inbox=inbox, customer=customers[i], state="assigned", assignee=users[i % len(users)], last_message_at=now)
         for i in range(args.open)]
    )
    fresh = Conversation.objects.bulk_create(
        [Conversation(workspace=ws, inbox=inbox, customer=customers[args.open + i], state="queued") for i in range(args.routes)]
    )
    actions.recount_loads()  # bulk-created assignments bypassed the counters: as the sweep would
    if not args.sqlite:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")  # as autovacuum would have by now on a live system
    seed_seconds = time.perf_counter() - t0

    timings, kinds = [], {}

    def timed_route(pk):
        start = time.perf_counter()
        decision = actions.route(pk)
        timings.append((time.perf_counter() - start) * 1000)
        kinds[decision.kind] = kinds.get(decision.kind, 0) + 1

    async def run_like_the_server():
        # As in a server process: database work on a worker thread of a running event loop,
        # so live events are handed to the loop's publisher instead of a loop per call.
        from asgiref.sync import sync_to_async

        for conversation in fresh:
            await sync_to_async(timed_route)(conversation.pk)

    import asyncio

    asyncio.run(run_like_the_server())
    timings.sort()

    def pct(p):
        return timings[min(len(timings) - 1, int(round(p / 100 * (len(timings) - 1))))]

    backend = "SQLite" if args.sqlite else "PostgreSQL"
    groups = "the default group only" if args.no_groups else "10 rule groups of 50 + the default group"
    print(f"routing decision on {backend}: {args.agents} agents online, {args.open} open conversations, {groups}")
    print(f"  seeded in {seed_seconds:.1f} s; routed {len(timings)} new conversations: {kinds}")
    print(f"  p50 {pct(50):.1f} ms  p95 {pct(95):.1f} ms  p99 {pct(99):.1f} ms  max {timings[-1]:.1f} ms  mean {statistics.mean(timings):.1f} ms")


if __name__ == "__main__":
    main()
