#!/usr/bin/env python
"""PostgreSQL CPU per customer text: the one-statement send alone against the batch statement
(chat.fast_send._sql and ._batch_sql, the statements send_on_loop runs), in-process on one
autocommit connection, prepared as on the loop. The backend's utime+stime from /proc, divided by
the messages stored; wall time per message beside it. Rounds alternate (alone, then batches of 2,
4, 8, 16), so a drift of the machine shows as a spread between rounds.

Needs a seeded product database (e.g. the one `scripts/bench_ratio.py` leaves,
helpdesk_bench_ratio_product): the texts go round-robin into its customers' open conversations
(every send stored; the database grows by rounds x sizes x --sends messages).

Usage: python scripts/bench_send_batch.py --database postgres://postgres@127.0.0.1:5432/helpdesk_bench_ratio_product
Method and results: docs/benchmarks.md."""

import argparse
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TICK = os.sysconf("SC_CLK_TCK")
SIZES = (2, 4, 8, 16)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", required=True, help="postgres://… of a seeded product database")
    parser.add_argument("--sends", type=int, default=3000, help="messages per measurement")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    import django

    django.setup()
    import psycopg
    from django.db import connection
    from django.utils import timezone

    from chat import fast_send
    from chat.models import Conversation

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    with psycopg.connect(autocommit=True, **params) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        chats = conn.execute(f'SELECT "id", "customer_id", "inbox_id", "workspace_id" FROM "{Conversation._meta.db_table}" '
                             "WHERE state = ANY(%s) ORDER BY id", [[str(s) for s in fast_send.PLAIN_STATES]]).fetchall()
        if not chats:
            sys.exit("no open conversation in that database: seed it first (scripts/bench_ratio.py leaves one)")

        def cpu_seconds():
            with open(f"/proc/{backend}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / TICK

        class Actor:  # what fast_send._params reads of a customer
            is_customer, is_agent, kind, user_id, name = True, False, "customer", None, ""

            def __init__(self, chat):
                self.customer_id, self.inbox_id, self.workspace_id = chat[1], chat[2], chat[3]
                self.key = f"c:{chat[1]}"

        actors = [Actor(chat) for chat in chats]
        cursor = [0]

        def next_send():
            actor = actors[cursor[0] % len(actors)]
            cursor[0] += 1
            return fast_send._params(actor, client_msg_id=f"b{uuid.uuid4().hex[:16]}", body=f"第{cursor[0]}条消息 message {cursor[0]}",
                                     msg_type="text", conversation_id=None, attachments=[])

        def measure(size, count):
            sql = fast_send._sql(False) if size == 1 else fast_send._batch_sql(size)
            stored, cpu0, wall0 = 0, cpu_seconds(), time.perf_counter()
            while stored < count:
                if size == 1:
                    rows = conn.execute(sql, next_send(), prepare=True).fetchall()
                else:
                    rows = conn.execute(sql, fast_send._batch_params([next_send() for _ in range(size)], timezone.now()), prepare=True).fetchall()
                assert len(rows) == size, "a send was not stored: is every conversation open?"
                stored += size
            return (cpu_seconds() - cpu0) * 1000 / stored, (time.perf_counter() - wall0) * 1000 / stored

        for size in (1, *SIZES):  # warm-up: prepared statements (after 5 runs), caches
            measure(size, 20 * size)
        print(f"{len(chats)} open conversations; {args.sends} messages per measurement; PostgreSQL CPU and wall ms per message")
        for round_ in range(1, args.rounds + 1):
            line = []
            for size in (1, *SIZES):
                cpu, wall = measure(size, args.sends)
                line.append(f"{'alone' if size == 1 else f'batch {size}'}: {cpu:.3f} / {wall:.3f}")
            print(f"round {round_}: " + "; ".join(line), flush=True)


if __name__ == "__main__":
    main()
