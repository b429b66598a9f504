#!/usr/bin/env python
"""Bot answer latency on the embedded default: how long after a customer's message is
acknowledged the deflection bot's answer arrives, measured against a real server.

Starts one uvicorn process as `make run` does (SQLite file, in-memory channel layer, the
embedded scheduler), with a scratch database and a private knowledge-search index in a temp
directory; seeds a workspace, a bot-first inbox and three published articles; then customers
(HTTP session, customer WebSocket) ask questions the bot is sure about, over HTTP:
  warm-up     a separate customer asks a few questions (not counted; the first shows the cold start)
  sequential  --questions questions from --customers customers, one at a time, a pause between
              (uniform in 0.5–1.5 × --pause; --fixed-pause for a constant one)
  concurrent  --concurrent of those customers at once, each asking its next question as soon as
              the last one was answered (plus --pause), --questions in all
For each question: ack = the 201 of POST /api/v1/customer/messages; answer = the bot's `message`
frame on the customer's WebSocket. Printed: ack→answer and send→answer percentiles (client side),
stored→stored (bot message created_at − customer message created_at, from the database),
stored→ws (bot message created_at to its frame on the socket: the delivery; same host clock), and,
from the database after the run, each question's bot answers (exactly one expected: missing and
duplicates are printed), conversation states and, where the table exists, follow-up job states.

Works on checkouts before and after follow-up jobs (lifecycle.followups): it uses only HTTP,
the WebSocket, the test factories in conftest.py and knowledge.actions.
Usage: .venv/bin/python scripts/bench_followups.py [--json] [--questions 200] [--customers 20] ...
Extra server environment: --env KEY=VALUE (repeatable), e.g. --env FOLLOWUPS_SYNC=true."""

import argparse
import asyncio
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

BASE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE))

ARTICLES = [
    ("returns", "如何退货", "收到商品 7 天内可以申请退货：在订单页点击“申请售后”。", ["怎么退货", "我要退货", "退貨怎麼辦"]),
    ("shipping", "发货时间", "付款后 48 小时内发货，发货后短信通知物流单号。", ["什么时候发货", "多久发货"]),
    ("invoice", "如何开发票", "在订单详情页点击“申请发票”，电子发票会发到您的邮箱。", ["怎么开发票", "发票怎么开"]),
]
QUESTIONS = ["请问怎么退货？", "什么时候发货？", "发票怎么开？"]


# --- seeding (a child process with the server's environment) --------------------------------


def seed(out_path):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    import django

    django.setup()
    from accounts.models import Membership, Role
    from conftest import make_agent, make_inbox, make_workspace
    from knowledge import actions as kb
    from knowledge import search

    workspace = make_workspace("Bench shop")
    inbox = make_inbox(workspace, name="Bot first", bot_first=True)
    user, _agent = make_agent(workspace, [inbox], role=Role.FOUNDER, username="bench-founder")
    founder = Membership.objects.get(user=user)
    for slug, title, body, similar in ARTICLES:
        article = kb.save_article(founder, slug=slug, versions={"zh-hans": {"title": title, "body": body, "similar_questions": similar}})
        kb.publish(founder, article.pk)
    hits = {q: len(search.search(workspace.pk, q, locale="zh-hans", limit=3)) for q in QUESTIONS}
    with open(out_path, "w") as fh:
        json.dump({"inbox_key": inbox.public_key, "workspace_id": workspace.pk, "search_hits": hits}, fh, ensure_ascii=False)


# --- load ------------------------------------------------------------------------------------


def percentile(values, p):
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary(values_s):
    ms = [v * 1000 for v in values_s]
    return {"n": len(ms), "p50": round(percentile(ms, 50), 1), "p95": round(percentile(ms, 95), 1),
            "p99": round(percentile(ms, 99), 1), "max": round(max(ms), 1) if ms else float("nan")}


class Question:
    def __init__(self, phase, client_msg_id, body):
        self.phase, self.client_msg_id, self.body = phase, client_msg_id, body
        self.sent = self.acked = self.answered_at = self.answered_wall = None
        self.status = None
        self.seq = self.conversation_id = None
        self.answer = None  # the bot's message payload
        self.extra_frames = 0  # further bot frames before the customer's next question
        self.done = asyncio.Event()


class Customer:
    def __init__(self, http, base, ws_base, name):
        self.http, self.base, self.ws_base, self.name = http, base, ws_base, name
        self.pending = None
        self.last = None
        self.stray_bot_frames = 0
        self.ws_duplicates = 0
        self.seen = set()
        self.hello = asyncio.Event()

    async def open(self, inbox_key):
        async with self.http.post(f"{self.base}/api/v1/customer/session", json={"inbox_key": inbox_key}) as r:
            assert r.status == 200, (r.status, await r.text())
            self.token = (await r.json())["token"]
        self.ws = await self.http.ws_connect(f"{self.ws_base}/ws/customer/?token={self.token}", origin="http://127.0.0.1", heartbeat=None)
        self.reader = asyncio.create_task(self.read())
        await asyncio.wait_for(self.hello.wait(), 10)

    async def read(self):
        import aiohttp

        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            now = time.perf_counter()
            frame = json.loads(msg.data)
            if frame["type"] == "hello":
                self.hello.set()
            elif frame["type"] == "message":
                m = frame["message"]
                key = (m["conversation_id"], m["seq"])
                if key in self.seen:
                    self.ws_duplicates += 1
                    continue
                self.seen.add(key)
                if m["sender"]["kind"] != "bot":
                    continue
                q = self.pending or self.last
                if q is None:
                    self.stray_bot_frames += 1
                elif q.answer is None:
                    q.answer, q.answered_at, q.answered_wall = m, now, time.time()
                    q.done.set()
                else:
                    q.extra_frames += 1

    async def ask(self, q, timeout):
        self.pending = q
        headers = {"Authorization": f"Customer {self.token}"}
        q.sent = time.perf_counter()
        async with self.http.post(f"{self.base}/api/v1/customer/messages", json={"client_msg_id": q.client_msg_id, "body": q.body},
                                  headers=headers) as r:
            q.acked = time.perf_counter()
            q.status = r.status
            body = await r.json()
        if r.status == 201:
            q.seq, q.conversation_id = body["message"]["seq"], body["message"]["conversation_id"]
        try:
            await asyncio.wait_for(q.done.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        self.pending, self.last = None, q

    async def close(self):
        await self.ws.close()
        self.reader.cancel()


async def load(port, seed_info, args):
    import aiohttp

    base, ws_base = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    questions = []
    run_id = uuid.uuid4().hex[:6]
    n = 0

    def question(phase):
        nonlocal n
        n += 1
        q = Question(phase, f"{run_id}-{phase}-{n}", QUESTIONS[n % len(QUESTIONS)])
        questions.append(q)
        return q

    rng = random.Random(args.seed)

    def pause():  # jittered by default: a fixed pause would phase-lock the questions to any periodic tick of the server
        return args.pause if args.fixed_pause else rng.uniform(0.5 * args.pause, 1.5 * args.pause)

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        warm = Customer(http, base, ws_base, "warm")
        await warm.open(seed_info["inbox_key"])
        for _ in range(args.warmup):
            await warm.ask(question("warmup"), args.timeout)
            await asyncio.sleep(pause())
        customers = [Customer(http, base, ws_base, f"c{i}") for i in range(args.customers)]
        for c in customers:
            await c.open(seed_info["inbox_key"])
        await asyncio.sleep(1)

        t = time.perf_counter()
        for i in range(args.questions):
            await customers[i % len(customers)].ask(question("sequential"), args.timeout)
            await asyncio.sleep(pause())
        seq_seconds = time.perf_counter() - t

        async def loop(c, count):
            for _ in range(count):
                await c.ask(question("concurrent"), args.timeout)
                await asyncio.sleep(pause())

        k = min(args.concurrent, len(customers))
        per = [args.questions // k + (1 if i < args.questions % k else 0) for i in range(k)]
        t = time.perf_counter()
        if k and args.questions:
            await asyncio.gather(*(loop(c, count) for c, count in zip(customers[:k], per)))
        conc_seconds = time.perf_counter() - t

        await asyncio.sleep(args.settle)  # late or repeated answers (a re-run by the scheduler loop) show up as extra frames
        everyone = [warm, *customers]
        ws_info = {"stray_bot_frames": sum(c.stray_bot_frames for c in everyone), "ws_duplicate_frames": sum(c.ws_duplicates for c in everyone)}
        for c in everyone:
            await c.close()
    return questions, {"sequential_s": round(seq_seconds, 1), "concurrent_s": round(conc_seconds, 1), **ws_info}


# --- after the run: the database's view --------------------------------------------------------


def parse_ts(value):
    """Django (USE_TZ) stores UTC on SQLite, without an offset."""
    ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def database_check(db_path, questions):
    con = sqlite3.connect(db_path)
    rows = con.execute("SELECT conversation_id, seq, sender_kind, client_msg_id, msg_type, created_at FROM chat_message "
                       "WHERE is_private = 0 ORDER BY conversation_id, seq").fetchall()
    by_id = {q.client_msg_id: q for q in questions}
    answers = {}  # client_msg_id -> [bot rows]
    current, current_conv = None, None
    for conv, seq, kind, cmid, msg_type, created in rows:
        if conv != current_conv:
            current, current_conv = None, conv
        if kind == "customer":
            current = cmid if cmid in by_id else None
            if current:
                answers[current] = [(created, None, None)]
        elif kind == "bot" and current:
            answers[current].append((created, msg_type, seq))
    stored, bot_created = {}, {}
    counts = Counter()
    types = Counter()
    bad = []
    for q in questions:
        got = answers.get(q.client_msg_id)
        if got is None:
            counts["customer_message_not_stored"] += 1
            continue
        bots = got[1:]
        counts[f"bot_messages_{min(len(bots), 2)}{'+' if len(bots) >= 2 else ''}"] += 1
        for _created, msg_type, _seq in bots:
            types[msg_type] += 1
        if len(bots) != 1:
            bad.append({"client_msg_id": q.client_msg_id, "phase": q.phase, "bot_messages": len(bots)})
        if bots:
            stored[q.client_msg_id] = (parse_ts(bots[0][0]) - parse_ts(got[0][0])).total_seconds()
            bot_created[q.client_msg_id] = parse_ts(bots[0][0])
    states = dict(con.execute("SELECT state, COUNT(*) FROM chat_conversation GROUP BY state").fetchall())
    events = dict(con.execute("SELECT kind, COUNT(*) FROM chat_conversationevent WHERE kind LIKE 'bot_%' OR kind = 'handed_off' "
                              "GROUP BY kind").fetchall())
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    followups = None
    if "lifecycle_followup" in tables:
        followups = {f"{kind}/{state}": c for kind, state, c in con.execute(
            "SELECT kind, state, COUNT(*) FROM lifecycle_followup GROUP BY kind, state").fetchall()}
        followups["max_attempts"] = con.execute("SELECT MAX(attempts) FROM lifecycle_followup").fetchone()[0]
    con.close()
    return {"answers_per_question": dict(counts), "bot_message_types": dict(types), "not_exactly_one": bad[:20],
            "conversation_states": states, "bot_events": events, "followup_jobs": followups}, stored, bot_created


def phase_figures(questions, stored, bot_created, phase):
    qs = [q for q in questions if q.phase == phase]
    answered = [q for q in qs if q.answered_at is not None]
    return {
        "questions": len(qs),
        "acked_201": sum(q.status == 201 for q in qs),
        "answered_on_ws": len(answered),
        "missing_on_ws": len(qs) - len(answered),
        "extra_bot_frames": sum(q.extra_frames for q in qs),
        "answer_before_ack": sum(q.answered_at < q.acked for q in answered),
        "ack_ms": summary([q.acked - q.sent for q in qs if q.acked]),
        "ack_to_answer_ms": summary([q.answered_at - q.acked for q in answered]),
        "send_to_answer_ms": summary([q.answered_at - q.sent for q in answered]),
        "stored_to_stored_ms": summary([stored[q.client_msg_id] for q in qs if q.client_msg_id in stored]),
        # The bot message's created_at (server clock) to its frame on the customer's socket (client wall clock, same host).
        "stored_to_ws_ms": summary([q.answered_wall - bot_created[q.client_msg_id].timestamp()
                                    for q in answered if q.client_msg_id in bot_created]),
    }


def manage(env, *args):
    subprocess.run([sys.executable, "manage.py", *args], cwd=BASE, env=env, check=True, stdout=subprocess.DEVNULL)


def commit_of_checkout():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=BASE, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--questions", type=int, default=200, help="per phase (sequential, concurrent)")
    parser.add_argument("--concurrent", type=int, default=10, help="customers asking at once in the second phase")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--pause", type=float, default=0.1, help="seconds after each answer before the customer's next question")
    parser.add_argument("--fixed-pause", action="store_true", help="the same pause every time (default: uniform in 0.5–1.5 × --pause)")
    parser.add_argument("--seed", type=int, default=1, help="of the pause jitter")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds to wait for an answer (more than FOLLOWUPS_GRACE_SECONDS)")
    parser.add_argument("--settle", type=float, default=12.0, help="seconds to wait for late or repeated answers at the end")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server (and migrate/seed)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument("--seed-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seed_out:
        seed(args.seed_out)
        return
    from helpdesk import processes

    with tempfile.TemporaryDirectory(prefix="bench-followups-") as workdir:
        db_path = f"{workdir}/bench.sqlite3"
        env_overrides = {"DATABASE_URL": f"sqlite:///{db_path}", "REDIS_URL": "", "SEARCH_URL": "", "WHOOSH_PATH": f"{workdir}/whoosh",
                         "RATE_LIMITS_ENABLED": "false"}  # simulated visitors all come from 127.0.0.1
        env_overrides.update(dict(kv.split("=", 1) for kv in args.env))
        env = {**os.environ, **env_overrides}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        manage(env, "migrate", "--noinput")
        seed_path = f"{workdir}/seed.json"
        subprocess.run([sys.executable, str(Path(__file__).resolve()), "--seed-out", seed_path], cwd=BASE, env=env, check=True)
        with open(seed_path) as fh:
            seed_info = json.load(fh)
        port = processes.free_port()
        log_path = f"{workdir}/uvicorn.log"
        proc = processes.start_uvicorn(port, env_overrides, log_path)
        try:
            time.sleep(1)
            questions, run_info = asyncio.run(load(port, seed_info, args))
        finally:
            processes.stop(proc)
        log_text = Path(log_path).read_text(errors="replace")
        db, stored, bot_created = database_check(db_path, questions)
        if args.keep_logs:
            print(log_text[-5000:], file=sys.stderr)
    warm = [q for q in questions if q.phase == "warmup"]
    result = {
        "checkout": commit_of_checkout(),
        "server_env": {k: v for k, v in env_overrides.items() if k not in ("DATABASE_URL", "WHOOSH_PATH")},
        "search_hits_at_seed": seed_info["search_hits"],
        "warmup_first_ack_to_answer_ms": round((warm[0].answered_at - warm[0].acked) * 1000, 1) if warm and warm[0].answered_at else None,
        "pause": f"{args.pause} s" + (" fixed" if args.fixed_pause else f" ±50% (seed {args.seed})"),
        "sequential": phase_figures(questions, stored, bot_created, "sequential"),
        "concurrent": phase_figures(questions, stored, bot_created, "concurrent"),
        **run_info,
        "database": db,
        "server_log_tracebacks": log_text.count("Traceback"),
        "server_log_error_lines": sum(1 for line in log_text.splitlines() if "ERROR" in line),
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            if isinstance(value, dict) and any(isinstance(v, dict) for v in value.values()):
                print(f"{key}:")
                for k, v in value.items():
                    print(f"  {k:22} {json.dumps(v, ensure_ascii=False)}")
            else:
                print(f"{key:24} {json.dumps(value, ensure_ascii=False)}")
    failed = any(result[p]["missing_on_ws"] or result[p]["extra_bot_frames"] for p in ("sequential", "concurrent")) or db["not_exactly_one"]
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
