#!/usr/bin/env python
"""History search benchmark (会话记录, issue 18): keyword search over many messages on PostgreSQL.

Builds a fresh database `helpdesk_bench_history` (migrate, then generate_series INSERTs in SQL, no
Python per row): one workspace, --conversations conversations of --per messages each (customer
and agent turns), bodies of 4-9 random fragments from a shop vocabulary in simplified and
traditional Chinese and English, a rare word ("zebracorn") in about 1 message in 20,000; a founder
(view all history) and an agent who took part in 2% of the conversations. The stored terms column
(reports/migrations/0003) is filled by the INSERT itself; its GIN index is dropped before the load
and built after it, as a bulk load would.
Then times reports.history.search() in-process (the page the console renders: the conversations
query, tags, snippets), 3 warm-up and --repeat timed runs per query, p50/p95/max per query and
p95 over all, for the founder and the agent.

Usage: python scripts/bench_history.py [--conversations 100000] [--per 10] [--repeat 20] [--keep]
       (make bench-history BENCH_ARGS="--conversations 200000")
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE))
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
DB_NAME = "helpdesk_bench_history"

VOCAB = """退货 换货 退款 发票 運費 快递 物流 地址 收货地址 优惠券 尺码 保修 保固 维修 客服 您好 请问 谢谢 已经 发货 订单 付款 支付宝
微信支付 會員 积分 颜色 质量 破损 少发 错发 丢件 签收 多久 什么时候 可以 怎么 帮我 查一下 麻烦 稍等 好的 没问题 明天 今天
上海 北京 广州 深圳 顺丰 中通 圆通 商品 链接 图片 视频 型号 库存 预售 定金 尾款 活动 满减 包邮 七天无理由 售后 退回 寄回
order refund shipping address invoice coupon size warranty thanks hello please tracking package delivered broken iphone
""".split()
QUERIES = ["退货", "發票", "保修", "运费", "退货 地址", "iphone 退款", "refund", "tracking number", "七天无理由", "zebracorn",
           "收货地址", "顺丰 破损", "火星快递", "退货 zebracorn"]


def admin(sql):
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def build(args, cursor):
    vocab = "ARRAY[" + ",".join("'" + w + "'" for w in VOCAB) + "]"
    n, per = args.conversations, args.per
    cursor.execute("DROP INDEX IF EXISTS chat_message_history_tsv")
    # Columns other work may add (NOT NULL, no database default) get an empty value.
    cursor.execute("""SELECT column_name FROM information_schema.columns WHERE table_name = 'chat_customer' AND is_nullable = 'NO'
        AND column_default IS NULL AND data_type = 'character varying' AND column_name NOT IN ('public_id', 'name')""")
    extra = [row[0] for row in cursor.fetchall()]
    columns = "".join(f", {c}" for c in extra)
    values = ", ''" * len(extra)
    cursor.execute(f"""INSERT INTO chat_customer (public_id, workspace_id, first_inbox_id, name, attributes, created_at{columns})
        SELECT md5(g::text), %s, %s, '客户' || g, '{{}}', now(){values} FROM generate_series(1, %s) g""", [args.ws, args.inbox, n])
    cursor.execute("SELECT min(id) FROM chat_customer WHERE workspace_id = %s", [args.ws])
    first_customer = cursor.fetchone()[0]
    cursor.execute("""INSERT INTO chat_conversation (workspace_id, inbox_id, customer_id, state, entry_page, is_leave_message,
            vip_level, last_seq, last_message_at, created_at, updated_at)
        SELECT %s, %s, %s + g - 1, 'resolved', '', false, 0, %s,
               now() - (%s - g) * interval '30 seconds', now() - (%s - g) * interval '30 seconds' - interval '10 minutes', now()
        FROM generate_series(1, %s) g""", [args.ws, args.inbox, first_customer, per, n, n, n])
    cursor.execute("SELECT min(id), max(id) FROM chat_conversation WHERE workspace_id = %s", [args.ws])
    lo, hi = cursor.fetchone()
    t0 = time.perf_counter()
    cursor.execute(f"""INSERT INTO chat_message (conversation_id, seq, sender_kind, sender_key, sender_name, client_msg_id, msg_type,
            body, attachments, is_private, created_at)
        SELECT c, s, CASE WHEN s %% 2 = 1 THEN 'customer' ELSE 'agent' END, CASE WHEN s %% 2 = 1 THEN 'c:' || c ELSE 'u:1' END, '',
               '', 'text',
               (SELECT string_agg(({vocab})[1 + floor(random() * {len(VOCAB)})::int], CASE WHEN random() < 0.3 THEN ' ' ELSE '' END)
                  FROM generate_series(1, 4 + (random() * 5)::int + (c * 0 + s * 0))) ||
               CASE WHEN random() < 0.00005 THEN ' zebracorn' ELSE '' END,
               '[]', false, now()
        FROM generate_series(%s, %s) c, generate_series(1, %s) s""", [lo, hi, per])
    load = time.perf_counter() - t0
    cursor.execute("""INSERT INTO chat_participant (conversation_id, user_id, created_at)
        SELECT id, %s, now() FROM chat_conversation WHERE workspace_id = %s AND id %% 50 = 0""", [args.agent_id, args.ws])
    cursor.execute("SET maintenance_work_mem = '512MB'")
    t0 = time.perf_counter()
    cursor.execute("CREATE INDEX chat_message_history_tsv ON chat_message USING gin (history_tsv)")
    index = time.perf_counter() - t0
    cursor.execute("ANALYZE chat_message")
    cursor.execute("ANALYZE chat_conversation")
    cursor.execute("ANALYZE chat_participant")
    cursor.execute("SELECT pg_size_pretty(pg_relation_size('chat_message')), pg_size_pretty(pg_relation_size('chat_message_history_tsv'))")
    sizes = cursor.fetchone()
    return load, index, sizes


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--per", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="reuse the database if it is there (no rebuild)")
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--queries", nargs="*", default=QUERIES, help="only these keywords")
    args = parser.parse_args()
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + DB_NAME
    os.environ.update({"DATABASE_URL": url, "REDIS_URL": "", "DEBUG": "false", "DJANGO_SETTINGS_MODULE": "helpdesk.settings"})
    if not args.keep:
        admin(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        admin(f"CREATE DATABASE {DB_NAME}")
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=BASE, check=True)
    import django

    django.setup()
    from django.db import connection

    from accounts.models import Membership, Role, Workspace
    from chat import access
    from chat.models import Inbox, Message
    from conftest import make_agent
    from reports import history

    if not args.keep:
        workspace = Workspace.objects.create(name="Bench", slug="bench")
        inbox = Inbox.objects.create(workspace=workspace, name="Site")
        owner_user, _ = make_agent(workspace, [inbox], role=Role.FOUNDER, username="bench_owner")
        agent_user, _ = make_agent(workspace, [inbox], username="bench_agent")
        args.ws, args.inbox, args.agent_id = workspace.pk, inbox.pk, agent_user.pk
        with connection.cursor() as cursor:
            load, index, sizes = build(args, cursor)
        print(f"built: {args.conversations:,} conversations × {args.per} = {args.conversations * args.per:,} messages; "
              f"INSERT {load:.0f} s, GIN index {index:.0f} s; table {sizes[0]}, index {sizes[1]}")
    workspace = Workspace.objects.get(slug="bench")
    print(f"messages: {Message.objects.count():,}")
    owner = access.agent_actor(Membership.objects.get(workspace=workspace, role=Role.FOUNDER))
    agent = access.agent_actor(Membership.objects.get(workspace=workspace, user__username="bench_agent"))
    all_times = {"founder": [], "agent": []}
    for who, actor in (("founder", owner), ("agent", agent)):
        print(f"\n{who} ({'view all history' if actor.view_all_history else 'own history'})")
        print(f"  {'query':<16} {'hits':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        for q in args.queries:
            f = history.parse_filters(actor, {"q": q})
            times, cancelled, hits = [], 0, []
            for run in range(3 + args.repeat):
                t0 = time.perf_counter()
                try:
                    hits, _more = history.search(actor, f, "Asia/Shanghai")
                except history.SearchTooSlow:  # counted at its full time: the page said "too slow"
                    cancelled += 1
                if run >= 3:
                    times.append((time.perf_counter() - t0) * 1000)
            all_times[who] += times
            times.sort()
            p95 = times[max(0, int(len(times) * 0.95) - 1)]
            note = f"  ({cancelled} cancelled at HISTORY_SEARCH_TIMEOUT_MS)" if cancelled else ""
            print(f"  {q:<16} {len(hits):>5} {statistics.median(times):>8.1f} {p95:>8.1f} {times[-1]:>8.1f}{note}")
            if args.explain:
                sql, params = history.filtered(actor, f)[:21].query.sql_with_params()
                with connection.cursor() as cursor:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                    print("\n".join("      " + r[0] for r in cursor.fetchall()))
    for who, times in all_times.items():
        times.sort()
        print(f"{who}: all queries p50 {statistics.median(times):.1f} ms, p95 {times[int(len(times) * 0.95) - 1]:.1f} ms, "
              f"max {times[-1]:.1f} ms over {len(times)} searches")


if __name__ == "__main__":
    main()
