#!/usr/bin/env python
"""Agent console list benchmark: server time of the conversation list pages with many
conversations in the workspace, on PostgreSQL.

Builds (COPY into a fresh database `helpdesk_bench_console`) one workspace with 100,000
conversations over 12 inboxes + a tiny one, 50 agents serving 2-3 inboxes each, a founder
who sees everything, 5% open (queued, assigned, snoozed, left messages, with the bot) and
the rest resolved/closed, 1-3 messages each, read states, tags on ~10% of customers; and a
second workspace with 20,000 conversations interleaved in time whose rows must never show.
Then times the console views in-process with Django's test Client (middleware + view +
queries + template render, DEBUG off): 5 warm-up requests and --requests (100) timed ones per
scenario, printing p50/p95/p99/max and the number of queries per request, checking that
the count never varies and is the same for a page of 1 row as for a page of 40.

Usage: python scripts/bench_console.py [--conversations 100000] [--other 20000] [--inboxes 12]
       [--agents 50] [--requests 100] [--keep] [--explain]
"""

import argparse
import gc
import html
import os
import random
import re
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote

BASE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE))
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
DB_NAME = "helpdesk_bench_console"

OPEN_SHARE = 0.05  # 5,000 of 100,000
MINE = 40  # open conversations of the benchmarked agent
TAGS = ["VIP", "wholesale", "complaint", "returning", "refund", "new", "gift", "b2b", "urgent", "press"] + [f"campaign-{i}" for i in range(20)]
TAG_WEIGHTS = [30, 12, 10, 10, 8, 6, 4, 3, 3, 1] + [0.5] * 20


def admin(sql):
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def prepare():
    admin(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    admin(f"CREATE DATABASE {DB_NAME}")
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + DB_NAME


# --- data ------------------------------------------------------------------------------------


class Plan:
    """Rows of one workspace before ids are given (ids follow creation time across workspaces)."""

    def __init__(self, ws_id, n, inboxes, serving, now, rng, *, mine_agent=None, solo_agent=None, tiny_inbox=None):
        self.ws_id, self.rows = ws_id, []
        agents = sorted({a for users in serving.values() for a in users})
        others = [a for a in agents if a not in (mine_agent, solo_agent)]
        served_by = {a: [i for i in inboxes if a in serving[i]] for a in agents}
        span = timedelta(days=180).total_seconds()
        start = now - timedelta(days=180, hours=1)
        n_open = round(n * OPEN_SHARE)
        recent = range(n - round(n * 0.08), n)  # open conversations are among the newest 8%
        open_idx = rng.sample(recent, n_open)
        kinds = {}
        it = iter(open_idx)
        for kind, count in [("mine", MINE if mine_agent else 0), ("solo", 1 if solo_agent else 0), ("queued", round(n_open * 0.24)),
                            ("leave", round(n_open * 0.10)), ("bot", round(n_open * 0.02))]:
            for _ in range(count):
                kinds[next(it)] = kind
        for i in it:
            kinds[i] = "assigned"
        tiny_at = n // 2 if tiny_inbox else None
        for i in range(n):
            created = start + timedelta(seconds=span * i / n + rng.random() * 60)
            kind = kinds.get(i, "closed")
            assignee, leave, snoozed, state = None, False, None, None
            inbox = rng.choice(inboxes)
            if i == tiny_at:
                inbox, state, kind = tiny_inbox, "resolved", "tiny"
            elif kind == "mine":
                assignee = mine_agent
                inbox = rng.choice(served_by[mine_agent])
                state = "pending" if rng.random() < 0.1 else "assigned"
            elif kind == "solo":
                assignee, state = solo_agent, "assigned"
                inbox = rng.choice(served_by[solo_agent])
            elif kind == "assigned":
                assignee = rng.choice([a for a in serving[inbox] if a in others] or others)
                state = "pending" if rng.random() < 0.1 else "assigned"
            elif kind == "queued":
                state = "queued"
            elif kind == "leave":
                state, leave = "pending", True
            elif kind == "bot":
                state = "bot"
            else:
                state = "resolved" if rng.random() < 0.7 else "closed"
                if rng.random() < 0.93:
                    assignee = rng.choice([a for a in serving[inbox] if a != solo_agent] or others)
            if state == "pending" and not leave:
                snoozed = now + timedelta(hours=rng.randint(1, 48))
            self.rows.append({"ws": ws_id, "created": created, "inbox": inbox, "state": state, "assignee": assignee,
                              "leave": leave, "snoozed": snoozed, "kind": kind, "vip": 2 if rng.random() < 0.05 else 0})


def build(args, rng):
    """Workspaces, users, inboxes, permissions through the ORM; the bulk through COPY."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django.db import connection
    from django.utils import timezone
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.models import Membership, Role, Workspace
    from chat.models import Inbox, InboxUserPermission, Tag
    from routing.models import AgentGroup, AgentPresence

    User = get_user_model()
    now = timezone.now()
    perm = Permission.objects.get(codename="reply_in_inbox", content_type__app_label="chat")
    env = {}

    def workspace(slug, n_inboxes, n_agents, with_owner):
        ws = Workspace.objects.create(name=slug, slug=slug)
        inboxes = [Inbox.objects.create(workspace=ws, name=f"{slug} inbox {i:02d}") for i in range(n_inboxes)]
        users = User.objects.bulk_create([User(username=f"{slug}-agent-{i:02d}") for i in range(n_agents)])
        Membership.objects.bulk_create([Membership(workspace=ws, user=u, role=Role.AGENT, display_name=u.username) for u in users])
        serving = {inbox.pk: set() for inbox in inboxes}
        for k, user in enumerate(users):
            for j in range(2 + (k % 2)):  # 2 or 3 inboxes each
                serving[inboxes[(k + j * 5) % n_inboxes].pk].add(user.pk)
        owner = None
        if with_owner:
            owner = User.objects.create(username=f"{slug}-owner")
            Membership.objects.create(workspace=ws, user=owner, role=Role.FOUNDER, display_name="Owner")
            TOTPDevice.objects.create(user=owner, name="bench", confirmed=True)
            for inbox in inboxes:
                serving[inbox.pk].add(owner.pk)
        AgentPresence.objects.bulk_create([AgentPresence(workspace=ws, user=u, status=rng.choice(["online", "busy", "away", "offline"]),
                                                         capacity=8) for u in users])
        default = AgentGroup.objects.create(workspace=ws, name="Default", is_default=True)
        groups = [default] + [AgentGroup.objects.create(workspace=ws, name=f"Region {g}", priority=g + 1,
                                                        rules=[{"field": "region", "values": [f"R{g}"]}]) for g in range(3)]
        tags = Tag.objects.bulk_create([Tag(workspace=ws, name=name) for name in TAGS + ["rare"]])
        return ws, inboxes, users, owner, serving, groups, tags

    ws_a, inboxes_a, agents_a, owner, serving_a, groups_a, tags_a = workspace("bench-a", args.inboxes, args.agents, True)
    me, solo = agents_a[0], agents_a[-1]
    tiny = Inbox.objects.create(workspace=ws_a, name="bench-a tiny inbox")
    serving_a[tiny.pk] = {solo.pk, owner.pk}
    # The benchmarked agent serves three inboxes; the solo agent (one open conversation) two.
    for inbox in inboxes_a:
        serving_a[inbox.pk].discard(me.pk)
        serving_a[inbox.pk].discard(solo.pk)
    for inbox in inboxes_a[:3]:
        serving_a[inbox.pk].add(me.pk)
    serving_a[inboxes_a[3].pk].add(solo.pk)
    # A newcomer serving only the tiny inbox: sees one conversation of 100,000 (the sparse worst case).
    newcomer = User.objects.create(username="bench-a-newcomer")
    Membership.objects.create(workspace=ws_a, user=newcomer, role=Role.AGENT, display_name="Newcomer")
    serving_a[tiny.pk].add(newcomer.pk)
    ws_b, inboxes_b, agents_b, _owner_b, serving_b, groups_b, tags_b = workspace("bench-b", 3, 10, False)
    InboxUserPermission.objects.bulk_create(
        [InboxUserPermission(user_id=u, permission=perm, content_object_id=i) for serving in (serving_a, serving_b)
         for i, users in serving.items() for u in sorted(users)]
    )

    t0 = time.perf_counter()
    main_a = [i.pk for i in inboxes_a]
    plan_a = Plan(ws_a.pk, args.conversations, main_a, {i: serving_a[i] - {owner.pk} for i in main_a}, now, rng,
                  mine_agent=me.pk, solo_agent=solo.pk, tiny_inbox=tiny.pk)
    plan_b = Plan(ws_b.pk, args.other, [i.pk for i in inboxes_b], serving_b, now, rng)
    timeline = sorted(plan_a.rows + plan_b.rows, key=lambda r: r["created"])

    names = {u.pk: u.username for u in [*agents_a, owner, *agents_b]}
    groups = {ws_a.pk: [g.pk for g in groups_a], ws_b.pk: [g.pk for g in groups_b]}
    reusable = {ws_a.pk: [], ws_b.pk: []}
    customers, conversations, messages, reads = [], [], [], []
    tiny_conversation = tiny_customer = None
    served_by_me = {i.pk for i in inboxes_a[:3]}
    message_id = 0
    for conv_id, r in enumerate(timeline, start=1):
        ws = r["ws"]
        if reusable[ws] and r["kind"] != "tiny" and rng.random() < 0.2:
            customer_id = rng.choice(reusable[ws])  # a returning customer
        else:
            customer_id = len(customers) + 1
            identified = rng.random() < 0.7
            customers.append((customer_id, ws, r["inbox"], f"u{customer_id}" if identified else None,
                              f"Customer {customer_id}" if identified else "", '{"region": "R%d"}' % rng.randrange(3),
                              r["created"], r["created"]))
            if r["kind"] == "tiny":
                tiny_conversation, tiny_customer = conv_id, customer_id
            else:
                reusable[ws].append(customer_id)
        n_msgs = rng.choice([1, 2, 2, 3, 3, 3])
        at = r["created"]
        agent = r["assignee"]
        first_response = None
        for seq in range(1, n_msgs + 1):
            at = at + timedelta(seconds=rng.randint(10, 600))
            from_agent = agent is not None and seq % 2 == 0
            message_id += 1
            kind = "agent" if from_agent else "customer"
            key = f"u:{agent}" if from_agent else f"c:{customer_id}"
            mtype = "image" if rng.random() < 0.04 else "text"
            private = from_agent and rng.random() < 0.03
            recalled = at if rng.random() < 0.01 else None
            body = "" if mtype == "image" else f"{'Reply' if from_agent else 'Question'} {seq} about order #{conv_id}: " + "lorem ipsum " * rng.randint(1, 12)
            attachments = '[{"url": "/media/x.png", "name": "x.png"}]' if mtype == "image" else "[]"
            messages.append((message_id, conv_id, seq, kind, agent if from_agent else None, None if from_agent else customer_id, key,
                             names.get(agent, "") if from_agent else "", "", mtype, body, attachments, private, recalled, at))
            if from_agent and first_response is None:
                first_response = at
        closed = r["state"] in ("resolved", "closed")
        conversations.append((conv_id, ws, r["inbox"], customer_id, r["state"], agent,
                              None if r["state"] == "bot" else rng.choice(groups[ws]), "", r["created"],
                              r["created"] if agent else None, r["leave"], r["vip"], n_msgs, at, r["snoozed"], first_response,
                              at + timedelta(minutes=10) if closed else None, r["created"], at))
        if agent is not None and rng.random() < 0.6:
            reads.append((conv_id, f"u:{agent}", n_msgs if rng.random() < 0.7 else n_msgs - 1, at))
        if rng.random() < 0.4:
            reads.append((conv_id, f"c:{customer_id}", n_msgs, at))
        if agent is None and not closed and r["inbox"] in served_by_me and rng.random() < 0.3:
            reads.append((conv_id, f"u:{me.pk}", 1, at))
    tag_rows = []
    tag_ids = {ws_a.pk: [t.pk for t in tags_a if t.name != "rare"], ws_b.pk: [t.pk for t in tags_b if t.name != "rare"]}
    for customer_id, ws, *_rest in customers:
        if customer_id != tiny_customer and rng.random() < 0.1:
            for tag in set(rng.choices(tag_ids[ws], weights=TAG_WEIGHTS, k=rng.choice([1, 1, 2]))):
                tag_rows.append((customer_id, tag))
    rare = next(t for t in tags_a if t.name == "rare")
    tag_rows.append((tiny_customer, rare.pk))
    generate_seconds = time.perf_counter() - t0

    t1 = time.perf_counter()
    connection.ensure_connection()
    raw = connection.connection
    copies = [
        ("chat_customer", "id, workspace_id, first_inbox_id, external_id, name, attributes, created_at, last_seen_at", customers),
        ("chat_conversation", "id, workspace_id, inbox_id, customer_id, state, assignee_id, group_id, entry_page, queued_at, assigned_at, "
         "is_leave_message, vip_level, last_seq, last_message_at, snoozed_until, first_response_at, resolved_at, created_at, updated_at",
         conversations),
        ("chat_message", "id, conversation_id, seq, sender_kind, sender_user_id, sender_customer_id, sender_key, sender_name, client_msg_id, "
         "msg_type, body, attachments, is_private, recalled_at, created_at", messages),
        ("chat_readstate", "conversation_id, participant_key, last_read_seq, updated_at", reads),
        ("chat_customer_tags", "customer_id, tag_id", tag_rows),
    ]
    with raw.cursor() as cur:
        for table, columns, rows in copies:
            with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        for table in ("chat_customer", "chat_conversation", "chat_message"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    if not raw.autocommit:
        raw.commit()
    copy_seconds = time.perf_counter() - t1
    t2 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")  # as autovacuum would have by now on a live system
    analyze_seconds = time.perf_counter() - t2

    big_inbox = max(main_a, key=lambda i: sum(1 for r in plan_a.rows if r["inbox"] == i and r["state"] == "resolved"))
    env.update(
        ws_a=ws_a, ws_b=ws_b, owner=owner, me=me, solo=solo, newcomer=newcomer, tiny=tiny, big_inbox=big_inbox, tiny_conversation=tiny_conversation,
        other_ids={c[0] for c in conversations if c[1] == ws_b.pk},
        my_open=[c[0] for c in conversations if c[5] == me.pk and c[4] in ("assigned", "pending")],
        counts={"customers": len(customers), "conversations": len(conversations), "messages": len(messages), "read states": len(reads),
                "customer tags": len(tag_rows)},
        states={s: sum(1 for r in plan_a.rows if r["state"] == s) for s in ("bot", "queued", "assigned", "pending", "resolved", "closed")},
        build=(generate_seconds, copy_seconds, analyze_seconds),
    )
    return env


# --- measuring -------------------------------------------------------------------------------


def login(user):
    """A Client logged in as `user`, past the TOTP step when the user needs it (as conftest.verified_client)."""
    from django.test import Client
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from accounts.security import must_verify

    client = Client()
    client.force_login(user)
    if must_verify(user):
        session = client.session
        session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user, confirmed=True).persistent_id
        session.save()
    return client


ROW_ID = re.compile(r'data-conversation="(\d+)"')


def row_ids(response):
    return [int(x) for x in ROW_ID.findall(response.content.decode())]


def next_cursor(response):
    """The `before` cursor of the "Load more" button (the view's context["cursor"])."""
    match = re.search(r'data-more="([^"]*)"', response.content.decode())
    return parse_qs(html.unescape(match.group(1)))["before"][0] if match else ""


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class Result:
    def __init__(self, name, url, times, counts, rows, queries, status):
        self.name, self.url, self.times, self.counts, self.rows, self.queries, self.status = name, url, times, counts, rows, queries, status

    @property
    def p95(self):
        return pct(self.times, 95)


def measure(name, client, url, args, seen):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(args.warmup):
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.content[:300])
    times, counts, db = [], [], []
    for _ in range(args.requests):
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            response = client.get(url)
            elapsed = (time.perf_counter() - start) * 1000
        assert response.status_code == 200, (url, response.status_code)
        times.append(elapsed)
        counts.append(len(ctx.captured_queries))
        db.append(ctx.captured_queries)
    ids = row_ids(response)
    seen.update(ids)
    result = Result(name, url, times, counts, len(ids), db[-1], response.status_code)
    result.db_ms = statistics.median(sum(float(q["time"]) for q in queries) * 1000 for queries in db)
    return result


def query_counts(client, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    return len(ctx.captured_queries), len(row_ids(response)), ctx.captured_queries


def explain(sql):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        return "\n".join(row[0] for row in cursor.fetchall())


def main_query(queries):
    """The list query of a request: the one that selects conversations with the row annotations."""
    for q in queries:
        if 'AS "last_body"' in q["sql"]:
            return q
    return max(queries, key=lambda q: float(q["time"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--other", type=int, default=20_000, help="conversations of the second workspace (never shown)")
    parser.add_argument("--inboxes", type=int, default=12)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--requests", type=int, default=100, help="timed requests per scenario (at least 50)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help=f"keep the database {DB_NAME}")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of every scenario's list query")
    args = parser.parse_args()
    assert 2 <= args.inboxes <= 20 and args.agents >= 6

    os.environ["DATABASE_URL"] = prepare()
    os.environ["REDIS_URL"] = ""
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    try:
        run(args)
    finally:
        if not args.keep:
            from django.db import connections

            connections.close_all()
            admin(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
            print(f"dropped {DB_NAME}")


def run(args):
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE, check=True)
    migrate_seconds = time.perf_counter() - t0

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    settings.DEBUG = False
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]

    rng = random.Random(args.seed)
    t1 = time.perf_counter()
    env = build(args, rng)
    build_seconds = time.perf_counter() - t1
    gc.collect()  # the generated rows are garbage now; do not bill their collection to the first requests
    gen, copy, analyze = env["build"]
    print(f"console list on PostgreSQL {connection.pg_version // 10000}: workspace A {args.conversations:,} conversations over "
          f"{args.inboxes} inboxes + 1 tiny, {args.agents} agents + founder; workspace B {args.other:,} conversations")
    print(f"  A by state: {env['states']}; rows: " + ", ".join(f"{k} {v:,}" for k, v in env["counts"].items()))
    print(f"  migrate {migrate_seconds:.1f} s; build {build_seconds:.1f} s (ORM setup + generate {gen:.1f} s, COPY {copy:.1f} s, "
          f"VACUUM ANALYZE {analyze:.1f} s)")

    me, owner = login(env["me"]), login(env["owner"])
    big, tiny = env["big_inbox"], env["tiny"].pk
    seen = set()
    results = []

    def scenario(name, client, url):
        result = measure(name, client, url, args, seen)
        results.append(result)
        counts = sorted(set(result.counts))
        print(f"  {name:<44} rows {result.rows:>2}  p50 {pct(result.times, 50):6.1f}  p95 {result.p95:6.1f}  "
              f"p99 {pct(result.times, 99):6.1f}  max {max(result.times):6.1f} ms  queries {'/'.join(map(str, counts))}"
              f"  (db p50 {result.db_ms:.0f} ms)", flush=True)
        return result

    print(f"\n{args.requests} timed requests per scenario after {args.warmup} warm-up (ms, server time in-process):")
    scenario("agent: full page /console/?view=mine", me, "/console/?view=mine")
    scenario("agent: /console/list/?view=pool", me, "/console/list/?view=pool")
    scenario("agent: /console/list/?view=all", me, "/console/list/?view=all")
    scenario("agent: /console/list/?view=leave", me, "/console/list/?view=leave")
    scenario("newcomer (sees 1 row): /console/list/?view=all", login(env["newcomer"]), "/console/list/?view=all")
    scenario("owner: full page /console/?view=all", owner, "/console/?view=all")
    first = scenario("owner: /console/list/?view=all", owner, "/console/list/?view=all")
    scenario("owner: view=all&tag=VIP", owner, "/console/list/?view=all&tag=VIP")
    scenario("owner: view=all&tag=press (rarer)", owner, "/console/list/?view=all&tag=press")
    scenario("owner: view=all&inbox=<id>&state=resolved", owner, f"/console/list/?view=all&inbox={big}&state=resolved")
    cursor = next_cursor(owner.get(first.url))
    assert cursor, "the first page of the owner's list must have a next page"
    scenario("owner: second page (before=<cursor>)", owner, f"/console/list/?view=all&before={quote(cursor)}")
    deep_cursor = cursor
    for _ in range(48):  # follow the cursor to page 50
        deep_cursor = next_cursor(owner.get(f"/console/list/?view=all&before={quote(deep_cursor)}"))
    scenario("owner: page 50 (cursor followed)", owner, f"/console/list/?view=all&before={quote(deep_cursor)}")
    row_id = env["my_open"][0]
    scenario("agent: row /console/rows/<id>/?view=all", me, f"/console/rows/{row_id}/?view=all")
    scenario("owner: row /console/rows/<id>/?view=all", owner, f"/console/rows/{row_id}/?view=all")

    # Constant query count: a page of 1 row costs what a page of 40 rows costs.
    print("\nqueries per request, page of 1 row vs page of 40 rows:")
    checks = [
        ("full page view=mine (solo agent vs agent)", (login(env["solo"]), "/console/?view=mine"), (me, "/console/?view=mine")),
        ("list inbox&state=resolved", (owner, f"/console/list/?view=all&inbox={tiny}&state=resolved"),
         (owner, f"/console/list/?view=all&inbox={big}&state=resolved")),
        ("list tag", (owner, "/console/list/?view=all&tag=rare"), (owner, "/console/list/?view=all&tag=VIP")),
        ("full page view=all&inbox", (owner, f"/console/?view=all&inbox={tiny}"), (owner, f"/console/?view=all&inbox={big}")),
    ]
    constant = all(len(set(r.counts)) == 1 for r in results)
    for label, (c1, u1), (c40, u40) in checks:
        n1, rows1, q1 = query_counts(c1, u1)
        n40, rows40, q40 = query_counts(c40, u40)
        ok = n1 == n40 and rows1 == 1 and rows40 == 40
        constant = constant and ok
        print(f"  {label:<44} {rows1} row: {n1} queries, {rows40} rows: {n40} queries  {'same' if n1 == n40 else 'DIFFERENT'}")
        if n1 != n40:
            for q in q1:
                print("    1:", q["sql"][:160])
            for q in q40:
                print("   40:", q["sql"][:160])
    leaked = seen & env["other_ids"]
    print(f"\nrows of workspace B shown: {len(leaked)} (of {len(seen)} distinct rows listed)")
    assert not leaked

    worst = max(results, key=lambda r: r.p95)
    target = all(r.p95 <= 100 for r in results)
    print(f"\ntarget (issue 5): every list p95 ≤ 100 ms: {'met' if target else 'NOT met'} (slowest: {worst.name}, p95 {worst.p95:.1f} ms); "
          f"constant query count: {'met' if constant else 'NOT met'}")
    if args.explain or worst.p95 > 50:
        for r in results if args.explain else [worst]:
            q = main_query(r.queries)
            slowest = sorted(r.queries, key=lambda q: -float(q["time"]))[:3]
            print(f"\n--- {r.name}: slowest queries: " + ", ".join(f"{float(s['time']) * 1000:.1f} ms" for s in slowest))
            print(q["sql"])
            print(explain(q["sql"]))
            for s in slowest:
                if s is not q and float(s["time"]) * 1000 > 5:
                    print("\n" + s["sql"])
                    print(explain(s["sql"]))


if __name__ == "__main__":
    main()
