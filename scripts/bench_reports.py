#!/usr/bin/env python
"""Reports benchmark (报表, issue 18 item 2): the reports page over 90 days of 1,000,000
conversations on PostgreSQL.

Builds a fresh database `helpdesk_bench_reports` (migrate, then generate_series INSERTs in SQL, no
Python per row): one workspace (Asia/Shanghai) with 5 inboxes of different channels, 8 groups,
40 agents, 5 customer tags; --conversations conversations spread over --days days (created at
random times, each with its `created` event; 10% start with the bot, half of those hand off; 90%
answered within 10 minutes, 70% resolved within 2 hours; 30% rated), 200,000 customers of whom 10%
carry a tag. The aggregates are then built by the product's own rebuild
(reports.rollups.rebuild_range: one bucket per local day, timed), not by SQL of the benchmark's own.

Then times the page as the console serves it: GET /console/reports/ through Django's test client
(session, middleware, the two GROUP BY queries on the aggregates, names, online time, template
with the chart JSON and five tables), 3 warm-up and --repeat timed requests per variant (90 days
by day and agent, by week and group, by month and tag, one inbox, the agent's own figures),
p50/p95/max per variant and over all.

Usage: python scripts/bench_reports.py [--conversations 1000000] [--days 90] [--repeat 20] [--keep]
       (make bench-reports BENCH_ARGS="--conversations 200000")
"""

import argparse
import functools
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
print = functools.partial(print, flush=True)  # noqa: A001 - progress shows as it happens
sys.path.insert(0, str(BASE))
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
DB_NAME = "helpdesk_bench_reports"
CUSTOMERS = 200_000
AGENTS, GROUPS, TAGS = 40, 8, 5
KINDS = ["web", "app", "wechat_mp", "wechat_oa", "wecom_kf"]


def admin(sql):
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def percentile(times, fraction):
    ordered = sorted(times)
    return ordered[max(0, int(len(ordered) * fraction + 0.5) - 1)]


def build(args, cursor, ws, inboxes, groups, agents, tags, first_day_start):
    t0 = time.perf_counter()
    cursor.execute("""SELECT column_name FROM information_schema.columns WHERE table_name = 'chat_customer' AND is_nullable = 'NO'
        AND column_default IS NULL AND data_type = 'character varying' AND column_name NOT IN ('public_id', 'name')""")
    extra = [row[0] for row in cursor.fetchall()]
    columns, values = "".join(f", {c}" for c in extra), ", ''" * len(extra)
    cursor.execute(f"""INSERT INTO chat_customer (public_id, workspace_id, first_inbox_id, name, attributes, created_at{columns})
        SELECT md5('r' || g::text), %s, %s, '客户' || g, '{{}}', now(){values} FROM generate_series(1, %s) g""",
                   [ws, inboxes[0], CUSTOMERS])
    cursor.execute("SELECT min(id) FROM chat_customer WHERE workspace_id = %s", [ws])
    first_customer = cursor.fetchone()[0]
    cursor.execute("""INSERT INTO chat_customer_tags (customer_id, tag_id)
        SELECT id, (%s::bigint[])[1 + id %% %s] FROM chat_customer WHERE workspace_id = %s AND random() < 0.1""", [tags, len(tags), ws])
    seconds = args.days * 86400
    # Per conversation g: the agent (and so its group), the inbox and the customer follow g; times are random.
    cursor.execute("""CREATE TEMP TABLE gen AS
        SELECT g, %s::timestamptz + (random() * %s) * interval '1 second' AS created_at, random() AS r1, random() AS r2, random() AS r3
        FROM generate_series(1, %s) g""", [first_day_start, seconds, args.conversations])
    cursor.execute("""INSERT INTO chat_conversation (workspace_id, inbox_id, customer_id, state, assignee_id, group_id, entry_page,
            is_leave_message, vip_level, last_seq, last_message_at, first_response_at, resolved_at, created_at, updated_at)
        SELECT %s, (%s::bigint[])[1 + (g / 40) %% 5], %s + (g::bigint * 7919) %% %s,
               CASE WHEN r2 < 0.7 THEN 'resolved' WHEN r2 < 0.75 THEN 'closed' ELSE 'assigned' END,
               (%s::bigint[])[1 + g %% %s], (%s::bigint[])[1 + (g %% %s) %% %s], '', false, 0, 4, created_at,
               CASE WHEN r1 < 0.9 THEN created_at + (r1 * 600) * interval '1 second' END,
               CASE WHEN r2 < 0.7 THEN created_at + (r3 * 7200) * interval '1 second' END,
               created_at, created_at
        FROM gen ORDER BY created_at""",
                   [ws, inboxes, first_customer, CUSTOMERS, agents, len(agents), groups, len(agents), len(groups)])
    cursor.execute("""INSERT INTO chat_conversationevent (conversation_id, kind, from_state, to_state, actor_kind, data, created_at)
        SELECT id, 'created', '', CASE WHEN id %% 10 = 0 THEN 'bot' ELSE 'queued' END, 'customer', '{}', created_at
        FROM chat_conversation WHERE workspace_id = %s""", [ws])
    cursor.execute("""INSERT INTO chat_conversationevent (conversation_id, kind, from_state, to_state, actor_kind, data, created_at)
        SELECT id, 'bot_answered', '', '', 'bot', '{}'::jsonb, created_at + interval '5 seconds' FROM chat_conversation
        WHERE workspace_id = %s AND id %% 10 = 0
        UNION ALL
        SELECT id, 'handed_off', 'bot', 'queued', 'customer', '{}'::jsonb, created_at + interval '30 seconds' FROM chat_conversation
        WHERE workspace_id = %s AND id %% 20 = 0""", [ws, ws])
    cursor.execute("""INSERT INTO chat_satisfactionrating (conversation_id, customer_id, agent_id, rating, comment, reasons, created_at)
        SELECT id, customer_id, assignee_id, 1 + (id * 7) %% 5, '', '[]', resolved_at + interval '1 minute' FROM chat_conversation
        WHERE workspace_id = %s AND resolved_at IS NOT NULL AND id %% 10 < 4""", [ws])
    for table in ("chat_conversation", "chat_conversationevent", "chat_satisfactionrating", "chat_customer", "chat_customer_tags"):
        cursor.execute(f"ANALYZE {table}")
    return time.perf_counter() - t0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="reuse the database if it is there (no rebuild)")
    args = parser.parse_args()
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + DB_NAME
    os.environ.update({"DATABASE_URL": url, "REDIS_URL": "", "DEBUG": "false", "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
                       "SCHEDULER_EMBEDDED": "false"})
    if not args.keep:
        admin(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        admin(f"CREATE DATABASE {DB_NAME}")
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE, check=True)
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from accounts.models import Role, Workspace
    from chat.models import Conversation, Inbox, Tag
    from conftest import make_agent, verified_client
    from reports import rollups
    from reports.models import ReportRollup
    from routing.models import AgentGroup

    settings.ALLOWED_HOSTS = ["testserver", *settings.ALLOWED_HOSTS]
    tz = rollups.zone("Asia/Shanghai")
    today = timezone.localdate(timezone.now(), tz)
    first_day, last_day = today - timedelta(days=args.days), today - timedelta(days=1)
    if not args.keep:
        workspace = Workspace.objects.create(name="Bench", slug="bench", timezone="Asia/Shanghai")
        inboxes = [Inbox.objects.create(workspace=workspace, name=f"渠道 {i}", kind=kind) for i, kind in enumerate(KINDS)]
        make_agent(workspace, inboxes, role=Role.FOUNDER, username="bench_owner")
        agents = [make_agent(workspace, inboxes, username=f"bench_agent_{i:02d}")[0] for i in range(AGENTS)]
        groups = [AgentGroup.objects.create(workspace=workspace, name=f"客服组 {i}") for i in range(GROUPS)]
        for i, user in enumerate(agents):
            groups[i % GROUPS].members.add(user)
        tags = [Tag.objects.create(workspace=workspace, name=f"标签 {i}") for i in range(TAGS)]
        with connection.cursor() as cursor:
            load = build(args, cursor, workspace.pk, [i.pk for i in inboxes], [g.pk for g in groups], [a.pk for a in agents],
                         [t.pk for t in tags], rollups.day_bounds(first_day, tz)[0])
        print(f"generated {Conversation.objects.count():,} conversations over {args.days} days in {load:.0f} s")
        t0 = time.perf_counter()
        rows = rollups.rebuild_range(workspace.pk, first_day, last_day)
        took = time.perf_counter() - t0
        print(f"rollups: {rows:,} rows for {args.days} day buckets in {took:.0f} s ({took / args.days * 1000:.0f} ms per day, "
              f"~{args.conversations // args.days:,} conversations each)")
    workspace = Workspace.objects.get(slug="bench")
    print(f"aggregate rows: {ReportRollup.objects.filter(workspace=workspace).count():,}")
    from accounts.models import Membership

    owner = verified_client(Membership.objects.get(workspace=workspace, role=Role.FOUNDER).user, Client())
    agent = verified_client(Membership.objects.get(workspace=workspace, user__username="bench_agent_07").user, Client())
    span = {"from": first_day.isoformat(), "to": last_day.isoformat()}
    inbox = Inbox.objects.filter(workspace=workspace).order_by("pk").first()
    variants = [("founder: by day, per agent", owner, {**span}),
                ("founder: by week, per group", owner, {**span, "period": "week", "by": "group"}),
                ("founder: by month, per tag", owner, {**span, "period": "month", "by": "tag"}),
                ("founder: one inbox, per channel", owner, {**span, "inbox": inbox.pk, "by": "channel"}),
                ("agent: own figures", agent, {**span})]
    everything = []
    print(f"\n{'variant':<34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, client, params in variants:
        for _ in range(3):
            response = client.get("/console/reports/", params)
            assert response.status_code == 200, response.status_code
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            response = client.get("/console/reports/", params)
            times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200
        everything += times
        print(f"{name:<34} {statistics.median(times):>8.1f} {percentile(times, 0.95):>8.1f} {max(times):>8.1f}")
    print(f"\nall variants: p50 {statistics.median(everything):.1f} ms, p95 {percentile(everything, 0.95):.1f} ms, "
          f"max {max(everything):.1f} ms over {len(everything)} pages")
    t0 = time.perf_counter()
    rollups.rebuild_bucket(workspace.pk, last_day, tz)
    print(f"one day bucket rebuilt again (the worker's turn for a busy day): {(time.perf_counter() - t0) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
