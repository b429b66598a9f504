#!/usr/bin/env python
"""Fault run of the messaging benchmark (issue 15): the scale-out configuration (two uvicorn
processes, PostgreSQL in its own database, and a redis-server of its own on a free port) under a
steady customer send rate while, at set times, one app process is SIGKILLed and restarted on its
port, the redis-server is SIGKILLed and restarted on its port, and a fraction of the client sockets
on both processes is cut without a close frame (the TCP transport aborted).

The clients behave as docs/protocol.md asks of the widget and the console: every send stays in an
outbox until its ack; on a lost connection they reconnect with exponential backoff and full jitter
(to the same port), wait for hello, resume every conversation from the last contiguous seq they
hold, and re-send every unacked send with the SAME client_msg_id; a live message with a seq gap
before it triggers a resume; an `internal` error re-sends.

Afterwards (drain, then a last resume pass) it checks, against the clients and with SQL:
acked messages lost (missing from the database, or not held by every receiver after resume),
client ids stored twice, seq gaps (each conversation's seqs exactly 1..last_seq), every client
complete (holds 1..last_seq of each of its conversations), sends never acked. Exit status 1 if any
acked message is lost or mismatched, any duplicate is stored, any gap, any client incomplete.

Usage: python scripts/bench_faults.py [--customers 400] [--agents 20] [--rate 100] [--duration 40] [--json]
Method and recorded results: docs/benchmarks.md ("Fault run").
"""

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import websockets  # noqa: E402
from websockets.protocol import State  # noqa: E402
from bench import REPLY_EVERY, manage, percentile, prepare_database  # noqa: E402

from helpdesk import processes  # noqa: E402

FAULTS_DB_NAME = os.environ.get("BENCH_FAULTS_DB_NAME", "helpdesk_bench_faults")
OPEN_STATE = State.OPEN


def now():
    return time.perf_counter()


class Run:
    """Everything shared by the clients: what was sent, acked, and the fault timeline."""

    def __init__(self, backoff_cap):
        self.backoff_cap = backoff_cap
        self.sent_at = {}  # client_msg_id -> first send time
        self.acked = {}  # client_msg_id -> (conversation_id, seq)
        self.ack_mismatch = []  # an id acked twice with different (conversation, seq)
        self.ack_latency, self.e2e = [], []
        self.send_frames = 0  # every send frame written, re-sends included
        self.resends = 0  # re-sent after a reconnect or an internal error
        self.duplicate_acks = 0  # acks with duplicate: true (the server answered the original)
        self.gap_resumes = 0  # resumes started by a live message with a seq gap before it
        self.errors = Counter()
        self.replied = set()
        self.sending = False
        self.start = None
        self.events = []  # (t, text)

    def event(self, text):
        t = now() - self.start if self.start else 0.0
        self.events.append((round(t, 1), text))


class Client:
    """One simulated widget or console tab, reconnecting on its own for the whole run."""

    def __init__(self, run, kind, url, headers, conversations, replier=False):
        self.run, self.kind, self.url, self.headers = run, kind, url, headers
        self.origin = url.split("/ws/")[0].replace("ws://", "http://", 1)
        self.port = int(url.split(":")[2].split("/")[0])
        self.conversations = conversations
        self.replier = replier
        self.held = {cid: set() for cid in conversations}  # seqs held: live, acked, or resumed
        self.contig = dict.fromkeys(conversations, 0)  # highest seq with everything below held
        self.live = set()  # (cid, seq) received as live message frames
        self.outbox = {}  # client_msg_id -> send frame, until acked
        self.written = set()  # client ids written to some socket at least once
        self.ws = None
        self.ready = False  # hello received on the current socket
        self.pending_resume = set()
        self.resume_waiters = {}
        self.duplicate_deliveries = 0  # a live message frame for a seq already received live (harmless: de-duplicated by seq)
        self.connects = self.disconnects = self.connect_failures = 0
        self.down_since, self.max_outage = None, 0.0
        self.stopping = False
        self.task = None

    def start(self):
        self.task = asyncio.ensure_future(self.loop())

    async def loop(self):
        attempt = 0
        while not self.stopping:
            try:
                ws = await websockets.connect(self.url, additional_headers=self.headers, origin=self.origin, max_queue=None, open_timeout=30)
            except (OSError, asyncio.TimeoutError, websockets.InvalidHandshake, websockets.ConnectionClosed):
                self.connect_failures += 1
                attempt += 1
                await asyncio.sleep(random.uniform(0, min(self.run.backoff_cap, 0.5 * 2**attempt)))
                continue
            self.ws = ws
            try:
                hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if hello.get("type") != "hello":
                    self.run.errors[f"no hello: {hello.get('code')}"] += 1
                    raise websockets.ConnectionClosedError(None, None)
                attempt = 0
                self.ready = True
                self.connects += 1
                if self.down_since is not None:
                    self.max_outage = max(self.max_outage, now() - self.down_since)
                    self.down_since = None
                for cid in self.conversations:  # resume every conversation from what is held
                    await self.request_resume(cid)
                for frame in list(self.outbox.values()):  # then (re-)send the outbox, same client ids
                    self.run.resends += frame["client_msg_id"] in self.written
                    await self.write(frame)
                async for raw in ws:
                    self.handle(json.loads(raw))
            except (websockets.ConnectionClosed, OSError, asyncio.TimeoutError):
                pass
            finally:
                self.ready = False
                self.ws = None
                self.pending_resume.clear()
            if self.stopping:
                break
            self.disconnects += 1
            self.down_since = self.down_since or now()
            attempt += 1
            await asyncio.sleep(random.uniform(0, min(self.run.backoff_cap, 0.5 * 2**attempt)))

    async def write(self, frame):
        ws = self.ws
        if ws is None:
            return
        if frame.get("type") == "send":
            self.run.send_frames += 1
            self.written.add(frame["client_msg_id"])
        try:
            await ws.send(json.dumps(frame, ensure_ascii=False))
        except (websockets.ConnectionClosed, OSError):
            pass  # the loop reconnects; the outbox still holds a send

    def send(self, cid, client_msg_id, body):
        frame = {"type": "send", "client_msg_id": client_msg_id, "conversation_id": cid, "body": body}
        self.run.sent_at.setdefault(client_msg_id, now())
        self.outbox[client_msg_id] = frame
        if self.ready:
            asyncio.ensure_future(self.write(frame))

    async def request_resume(self, cid):
        self.pending_resume.add(cid)
        await self.write({"type": "resume", "conversation_id": cid, "after_seq": self.contig[cid], "limit": 200})

    def hold(self, cid, seq):
        held = self.held[cid]
        held.add(seq)
        c = self.contig[cid]
        while c + 1 in held:
            c += 1
        self.contig[cid] = c

    def handle(self, frame):
        kind, t = frame["type"], now()
        run = self.run
        if kind == "message":
            m = frame["message"]
            cid, seq = m["conversation_id"], m["seq"]
            if cid not in self.held:
                return
            if (cid, seq) in self.live:
                self.duplicate_deliveries += 1
            self.live.add((cid, seq))
            self.hold(cid, seq)
            sent_at = run.sent_at.get(m["client_msg_id"])
            if sent_at is not None and m["sender"]["kind"] != self.kind:
                run.e2e.append(t - sent_at)
            if seq > self.contig[cid] + 1 and cid not in self.pending_resume:  # a gap before it: resume
                run.gap_resumes += 1
                asyncio.ensure_future(self.request_resume(cid))
            self.maybe_reply(m)
        elif kind == "ack":
            m = frame["message"]
            cmid = frame["client_msg_id"]
            self.outbox.pop(cmid, None)
            got = (m["conversation_id"], m["seq"])
            if cmid in run.acked and run.acked[cmid] != got:
                run.ack_mismatch.append((cmid, run.acked[cmid], got))
            if cmid not in run.acked:
                run.acked[cmid] = got
                run.ack_latency.append(t - run.sent_at[cmid])
            run.duplicate_acks += bool(frame.get("duplicate"))
            if m["conversation_id"] in self.held:
                self.hold(*got)  # the sender holds its own message from the ack
        elif kind == "messages":
            cid = frame["conversation_id"]
            if cid not in self.held:
                return
            for m in frame["messages"]:
                self.hold(cid, m["seq"])
                self.maybe_reply(m)
            if frame["has_more"] and frame["messages"]:
                asyncio.ensure_future(self.write({"type": "resume", "conversation_id": cid, "after_seq": frame["messages"][-1]["seq"], "limit": 200}))
            else:
                self.pending_resume.discard(cid)
                waiter = self.resume_waiters.pop(cid, None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
        elif kind == "error":
            run.errors[frame.get("code")] += 1
            cmid = frame.get("client_msg_id")
            if frame.get("code") == "internal" and cmid in self.outbox:  # retryable: re-send the same id
                run.resends += 1
                asyncio.get_running_loop().call_later(0.5, lambda: asyncio.ensure_future(self.write(self.outbox.get(cmid) or {})))

    def maybe_reply(self, m):
        """Agents (one per inbox) answer one customer message in ten, once, live or resumed."""
        if not (self.kind == "agent" and self.replier and self.run.sending and m["sender"]["kind"] == "customer"):
            return
        match = re.fullmatch(r"m\d+-(\d+)", m.get("client_msg_id") or "")
        if match and int(match.group(1)) % REPLY_EVERY == 0 and m["client_msg_id"] not in self.run.replied:
            self.run.replied.add(m["client_msg_id"])
            self.send(m["conversation_id"], f"r-{m['client_msg_id']}", "收到，马上处理")

    async def resume_wait(self, cid, timeout=30):
        """Final pass: fetch everything after the last contiguous seq and wait for the answer."""
        future = asyncio.get_running_loop().create_future()
        self.resume_waiters[cid] = future
        await self.request_resume(cid)
        try:
            await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            self.run.errors["final resume timed out"] += 1

    async def send_then_cut(self, cid, client_msg_id, body):
        """A send written, then the socket cut a few ms later: the server may commit it and then find
        no socket for the ack. The reconnect re-sends it; the answer must be the original message."""
        if not self.ready:
            return False
        frame = {"type": "send", "client_msg_id": client_msg_id, "conversation_id": cid, "body": body}
        self.run.sent_at.setdefault(client_msg_id, now())
        self.outbox[client_msg_id] = frame
        await self.write(frame)
        await asyncio.sleep(random.uniform(0, 0.008))
        return self.cut()

    def cut(self):
        """Abort the TCP connection: no close frame, no FIN handshake from the client's side."""
        ws = self.ws
        if ws is not None and ws.state == OPEN_STATE:
            ws.transport.abort()
            return True
        return False


class Redis:
    def __init__(self, port, log_path):
        self.port, self.log_path, self.proc = port, log_path, None

    def start(self):
        out = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                                     stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        processes.wait_for_port(self.port, proc=self.proc)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Servers:
    def __init__(self, ports, env, log_dir):
        self.ports, self.env, self.log_dir = ports, env, log_dir
        self.procs = [processes.start_uvicorn(p, env, self.log(p)) for p in ports]

    def log(self, port):
        return f"{self.log_dir}/uvicorn-{port}.log"

    def kill(self, i):
        os.kill(self.procs[i].pid, signal.SIGKILL)
        self.procs[i].wait()

    def restart(self, i):
        self.procs[i] = processes.start_uvicorn(self.ports[i], self.env, self.log(self.ports[i]))

    def stop(self):
        for proc in self.procs:
            processes.stop(proc)


async def faults(args, run, servers, redis, clients):
    """The three faults, each at its own time (they may overlap: e.g. --cut-at inside the Redis outage)."""

    async def at(t):
        await asyncio.sleep(max(0.0, run.start + t - now()))

    async def app():
        await at(args.kill_app_at)
        servers.kill(0)
        run.event(f"SIGKILL uvicorn :{servers.ports[0]}")
        await asyncio.sleep(args.app_down)
        await asyncio.to_thread(servers.restart, 0)
        run.event(f"uvicorn :{servers.ports[0]} listening again")

    async def redis_restart():
        await at(args.kill_redis_at)
        redis.kill()
        run.event(f"SIGKILL redis-server :{redis.port}")
        await asyncio.sleep(args.redis_down)
        await asyncio.to_thread(redis.start)
        run.event(f"redis-server :{redis.port} listening again")

    async def cut():
        await at(args.cut_at)
        chosen = [c for c in clients if random.random() < args.cut_fraction]
        # Half the cut customers have just written a send (in flight when the socket goes).
        in_flight = [c for c in chosen if c.kind == "customer"][::2]
        done = await asyncio.gather(*(c.send_then_cut(c.conversations[0], f"x{i}", "in flight at the cut") for i, c in enumerate(in_flight)))
        per_port = Counter(c.port for c, ok in zip(in_flight, done) if ok)
        per_port.update(c.port for c in chosen if c not in in_flight and c.cut())
        run.event("sockets aborted without close frame: " + ", ".join(f":{p} {n}" for p, n in sorted(per_port.items()))
                  + f" ({sum(done)} just after writing a send)")

    await asyncio.gather(app(), redis_restart(), cut())
    run.events.sort()


def last_live_miss(clients, receivers_of, acked, window):
    """Send time (s into the run) of the last customer message in window that some receiver missed live."""
    missed = [t for cid, seq, t in acked if window[0] <= t < window[1] and any((cid, seq) not in c.live for c in receivers_of[cid])]
    return round(max(missed), 1) if missed else None


def live_ratio(clients, receivers_of, acked, window):
    """Share of the expected live deliveries received live, for customer messages acked in window."""
    expected = got = 0
    for cid, seq, t in acked:
        if window[0] <= t < window[1]:
            for client in receivers_of[cid]:
                expected += 1
                got += (cid, seq) in client.live
    return round(got / expected, 4) if expected else float("nan")


async def load(args, seed, servers, redis, dsn):
    run = Run(args.backoff_cap)
    ports = servers.ports
    agents, customers, replier_for_inbox = [], [], set()
    convs_of_inbox = defaultdict(list)
    for c in seed["customers"]:
        convs_of_inbox[c["inbox_id"]].append(c["conversation_id"])
    for i, a in enumerate(seed["agents"]):
        url = f"ws://127.0.0.1:{ports[i % len(ports)]}/ws/agent/"
        agents.append(Client(run, "agent", url, {"Cookie": f"sessionid={a['session']}"}, convs_of_inbox[a["inbox_id"]], a["inbox_id"] not in replier_for_inbox))
        replier_for_inbox.add(a["inbox_id"])
    for i, c in enumerate(seed["customers"]):
        customers.append(Client(run, "customer", f"ws://127.0.0.1:{ports[(i + 1) % len(ports)]}/ws/customer/?token={c['token']}", {}, [c["conversation_id"]]))
    clients = agents + customers
    for i in range(0, len(clients), 100):  # open in batches, then wait for every hello
        for client in clients[i : i + 100]:
            client.start()
        await asyncio.sleep(0.5)
    deadline = now() + 120
    while not all(c.ready for c in clients) and now() < deadline:
        await asyncio.sleep(0.2)
    await asyncio.sleep(2)
    connected_at_start = sum(c.ready for c in clients)

    run.sending = True
    run.start = start = now()
    fault_task = asyncio.ensure_future(faults(args, run, servers, redis, clients))
    interval, n, sends = 1.0 / args.rate, 0, []
    while (target := start + n * interval) - start < args.duration:
        delay = target - now()
        if delay > 0:
            await asyncio.sleep(delay)
        i = n % len(customers)
        cmid = f"m{i}-{n}"
        customers[i].send(seed["customers"][i]["conversation_id"], cmid, f"第{n}条消息 message {n}")
        sends.append(cmid)
        n += 1
    run.sending = False
    send_seconds = now() - start
    await fault_task
    run.event("sending stopped")

    # Drain: every client back and every outbox empty (bounded), then settle.
    deadline = now() + args.drain
    while now() < deadline and not all(c.ready and not c.outbox for c in clients):
        await asyncio.sleep(0.2)
    await asyncio.sleep(3)
    run.event("drained")
    connected_at_end = sum(c.ready for c in clients)

    # --- verification against the database ---
    import psycopg

    with psycopg.connect(dsn) as conn:
        last_seq = dict(conn.execute("SELECT id, last_seq FROM chat_conversation").fetchall())
        stored = {cmid: (cid, seq) for cmid, cid, seq in conn.execute(
            "SELECT client_msg_id, conversation_id, seq FROM chat_message WHERE client_msg_id <> ''").fetchall()}
        db_duplicates = conn.execute(
            "SELECT count(*), coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM chat_message WHERE client_msg_id <> '' "
            "GROUP BY sender_key, client_msg_id HAVING count(*) > 1) d").fetchone()
        gaps = conn.execute(
            "SELECT c.id, c.last_seq, count(m.id), count(DISTINCT m.seq), min(m.seq), max(m.seq) FROM chat_conversation c "
            "LEFT JOIN chat_message m ON m.conversation_id = c.id GROUP BY c.id, c.last_seq "
            "HAVING count(m.id) <> c.last_seq OR count(DISTINCT m.seq) <> c.last_seq OR min(m.seq) <> 1 OR max(m.seq) <> c.last_seq").fetchall()
        stored_total = conn.execute("SELECT count(*) FROM chat_message").fetchone()[0]

    receivers_of = defaultdict(list)
    for client in clients:
        for cid in client.conversations:
            receivers_of[cid].append(client)

    def missing_now():
        total, incomplete = 0, set()
        for client in clients:
            for cid in client.conversations:
                gap = last_seq[cid] - len(client.held[cid] & set(range(1, last_seq[cid] + 1)))
                if gap:
                    total += gap
                    incomplete.add(client)
        return total, incomplete

    missing_before, incomplete_before = missing_now()

    async def final_pass(client):
        for cid in client.conversations:
            if client.contig[cid] < last_seq[cid]:
                for _ in range(50):
                    if client.ready:
                        break
                    await asyncio.sleep(0.2)
                else:
                    run.errors["client not connected for final resume"] += 1
                    return
                await client.resume_wait(cid)

    await asyncio.gather(*(final_pass(c) for c in incomplete_before))
    missing_after, incomplete_after = missing_now()
    acked_missing_db = [cmid for cmid in run.acked if cmid not in stored]
    acked_db_mismatch = [cmid for cmid, got in run.acked.items() if cmid in stored and stored[cmid] != got]
    acked_not_received = sum(1 for cid, seq in run.acked.values() for client in receivers_of[cid] if seq not in client.held[cid])
    for client in clients:
        client.stopping = True
        if client.ws is not None:
            await client.ws.close()
    await asyncio.gather(*(c.task for c in clients), return_exceptions=True)

    # Live delivery before the first fault and after the last one (+ settling time).
    acked_at = [(*run.acked[c], run.sent_at[c] - start) for c in sends if c in run.acked]
    first_fault = min(args.kill_app_at, args.kill_redis_at, args.cut_at)
    last_fault = max(args.kill_app_at + args.app_down, args.kill_redis_at + args.redis_down, args.cut_at)
    redis_back = args.kill_redis_at + args.redis_down
    never_acked = [c for c in run.sent_at if c not in run.acked]
    outages = [c.max_outage for c in clients]
    return {
        "connections": len(clients),
        "connected_at_start": connected_at_start,
        "connected_at_end": connected_at_end,
        "send_seconds": round(send_seconds, 1),
        "faults": "; ".join(f"t={t}s {text}" for t, text in run.events),
        "sends": len(run.sent_at),
        "customer_sends": len(sends),
        "agent_replies": sum(c.startswith("r-") for c in run.sent_at),
        "sends_in_flight_at_cut": sum(c.startswith("x") for c in run.sent_at),
        "send_frames_written": run.send_frames,
        "resends": run.resends,
        "duplicate_acks": run.duplicate_acks,
        "sends_acknowledged": len(run.acked),
        "sends_never_acked": len(never_acked),
        "ack_p50_ms": round(percentile(run.ack_latency, 50) * 1000, 1),
        "ack_p99_ms": round(percentile(run.ack_latency, 99) * 1000, 1),
        "ack_max_ms": round(max(run.ack_latency, default=float("nan")) * 1000, 1),
        "e2e_p50_ms": round(percentile(run.e2e, 50) * 1000, 1),
        "e2e_p99_ms": round(percentile(run.e2e, 99) * 1000, 1),
        "acked_lost": len(acked_missing_db) + acked_not_received,
        "acked_missing_from_db": len(acked_missing_db),
        "acked_not_at_every_receiver": acked_not_received,
        "acked_seq_mismatch": len(acked_db_mismatch) + len(run.ack_mismatch),
        "db_messages": stored_total,
        "db_duplicate_client_ids": int(db_duplicates[1]),
        "db_conversations_with_seq_gaps": len(gaps),
        "missing_seqs_before_final_resume": missing_before,
        "clients_incomplete_before_final_resume": len(incomplete_before),
        "clients_incomplete_after_resume": len(incomplete_after),
        "missing_seqs_after_resume": missing_after,
        "duplicate_deliveries_harmless": sum(c.duplicate_deliveries for c in clients),
        "gap_resumes": run.gap_resumes,
        "disconnects": sum(c.disconnects for c in clients),
        "reconnect_failures": sum(c.connect_failures for c in clients),
        "max_client_outage_s": round(max(outages, default=0), 1),
        "live_ratio_before_faults": live_ratio(clients, receivers_of, acked_at, (2, first_fault - 1)),
        "live_ratio_redis_outage": live_ratio(clients, receivers_of, acked_at, (args.kill_redis_at, redis_back + 3)),
        "last_live_miss_after_redis_kill_s": last_live_miss(clients, receivers_of, acked_at, (args.kill_redis_at, args.cut_at)),
        "live_ratio_after_redis_back": live_ratio(clients, receivers_of, acked_at, (redis_back + 3, args.cut_at)),
        "live_ratio_after_last_fault": live_ratio(clients, receivers_of, acked_at, (last_fault + 3, args.duration)),
        "errors": dict(run.errors),
    }


def log_summary(log_dir):
    """Per server log: tracebacks, and the distinct exception / warning lines (evidence for the report)."""
    out = {}
    for path in sorted(Path(log_dir).glob("*.log")):
        text = path.read_text(errors="replace")
        lines = [line for line in text.splitlines() if re.search(r"Error|Exception|WARNING|failed|Traceback", line)]
        out[path.name] = {"tracebacks": text.count("Traceback"), "distinct": Counter(re.sub(r"\d+", "N", line)[:160] for line in lines).most_common(8)}
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=400)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--inboxes", type=int, default=10)
    parser.add_argument("--rate", type=float, default=100, help="customer messages per second (aggregate)")
    parser.add_argument("--duration", type=float, default=40)
    parser.add_argument("--kill-app-at", type=float, default=8)
    parser.add_argument("--app-down", type=float, default=2, help="seconds before the killed process is started again")
    parser.add_argument("--kill-redis-at", type=float, default=18)
    parser.add_argument("--redis-down", type=float, default=2)
    parser.add_argument("--cut-at", type=float, default=28)
    parser.add_argument("--cut-fraction", type=float, default=0.25)
    parser.add_argument("--backoff-cap", type=float, default=5, help="reconnect backoff cap in seconds (protocol: 20)")
    parser.add_argument("--drain", type=float, default=40, help="seconds to wait for reconnects and outstanding acks")
    parser.add_argument("--log-dir", help="keep the server and redis logs here")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not shutil.which("redis-server"):
        sys.exit("redis-server not found")
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as workdir:
        log_dir = args.log_dir or workdir
        os.makedirs(log_dir, exist_ok=True)
        redis = Redis(processes.free_port(), f"{log_dir}/redis.log")
        redis.start()
        servers = None
        try:
            env = {**prepare_database("scaleout", workdir, FAULTS_DB_NAME, f"redis://127.0.0.1:{redis.port}/0"),
                   "DB_CONN_MAX_AGE": "600", "LOG_LEVEL": "WARNING", "RATE_LIMITS_ENABLED": "false"}
            manage(env, "migrate", "--noinput")
            seed_path = f"{workdir}/seed.json"
            manage(env, "bench_seed", "--customers", str(args.customers), "--agents", str(args.agents), "--inboxes", str(args.inboxes), "--out", seed_path)
            with open(seed_path) as fh:
                seed = json.load(fh)
            servers = Servers([processes.free_port() for _ in range(2)], env, log_dir)
            time.sleep(1)
            result = asyncio.run(load(args, seed, servers, redis, env["DATABASE_URL"]))
        finally:
            if servers:
                servers.stop()
            redis.kill()
        logs = log_summary(log_dir)
    result = {"config": "scaleout+faults", "processes": 2, "customers": args.customers, "agents": args.agents, "inboxes": args.inboxes,
              "rate_target": args.rate, "duration_s": args.duration, "load_average": " ".join(open("/proc/loadavg").read().split()[:3]),
              **result, "server_logs": logs if args.log_dir else {k: v["tracebacks"] for k, v in logs.items()}}
    failed = result["acked_lost"] or result["acked_seq_mismatch"] or result["db_duplicate_client_ids"] \
        or result["db_conversations_with_seq_gaps"] or result["clients_incomplete_after_resume"]
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print("\n== scaleout, faults ==")
        for key, value in result.items():
            print(f"  {key:38} {value}")
        print("  verdict:", "FAIL" if failed else "ok (0 acked lost, 0 duplicates stored, no seq gaps, every client complete)")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
