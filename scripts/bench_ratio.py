#!/usr/bin/env python
"""Product vs bare stack, side by side in one run (issue 15): the yardstick for the message path.

Starts the product (scale-out: 2 uvicorn processes, PostgreSQL, channels-redis pub/sub) and the
bare stack (scripts/bare_stack: one Channels consumer, one INSERT per message, same layer, same
server flags, 2 processes), opens the scale-out benchmark's sockets on both (1,960 customers +
40 agents over 20 inboxes each), then climbs a rate ladder with short steps, the two targets
interleaved rung by rung (which goes first alternates). A rung passes if one of two attempts does;
the first failed rung ends a target's climb, then one rung halfway refines it. Each step uses scripts/bench.py's client:
customers send at the rate, one agent per inbox answers every tenth message, every acked seq is
checked at every receiver (resume for what did not arrive live).

Per target it prints the highest rate sustained (ack p99 <= 100 ms, nothing lost, unacked or
refused), CPU per message at --cpu-rate (utime+stime from /proc of the target's server
processes, its database's PostgreSQL backends and redis-server, over the step, divided by the
messages acknowledged), and product/bare for both.

Usage: python scripts/bench_ratio.py [--rates 100,150,...] [--step 8] [--cpu-rate 150] [--json]
Method and results: docs/benchmarks.md.
"""

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from collections import defaultdict

import bench  # scripts/bench.py: client pieces (puts the project on sys.path)
import psycopg
from bare_stack import stack
from bench import Connection, Stats, open_all, percentile

from helpdesk import processes

P99_LIMIT_MS = 100.0
TICK = os.sysconf("SC_CLK_TCK")
LADDER = "100,150,200,250,300,350,400,460,520,600,680,760,850,950,1050,1200,1400,1600"


def ticks(pid):
    """utime + stime of a process (all its threads), in clock ticks; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError):
        return None


def scan(dbname):
    """PostgreSQL backends connected to `dbname` (their process title names it) and redis-server."""
    pg, redis = {}, {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode("latin-1")
        except OSError:
            continue
        if cmd.startswith("postgres: ") and f" {dbname} " in cmd:
            pg[int(entry.name)] = ticks(entry.name)
        elif cmd.startswith("redis-server"):
            redis[int(entry.name)] = ticks(entry.name)
    return pg, redis


class Target:
    def __init__(self, name, dbname, procs, ports, seed):
        self.name, self.dbname, self.procs, self.ports, self.seed = name, dbname, procs, ports, seed
        self.steps, self.stopped, self.idle_cpu = [], False, {}

    def cpu(self):
        pg, redis = scan(self.dbname)
        servers = {p.pid: ticks(p.pid) for p in self.procs}
        return {"server": servers, "postgres": pg, "redis": redis, "client": sum(os.times()[:2])}

    async def connect(self):
        n = len(self.ports)
        agent_specs = [(f"ws://127.0.0.1:{self.ports[i % n]}/ws/agent/", {"Cookie": f"sessionid={a['session']}"}) for i, a in enumerate(self.seed["agents"])]
        # As bench.py: a customer sits on the other process than most agents of its inbox (cross-process fan-out).
        customer_specs = [(f"ws://127.0.0.1:{self.ports[(i + 1) % n]}/ws/customer/?token={c['token']}", {}) for i, c in enumerate(self.seed["customers"])]
        stats = Stats()
        self.agents, seen_inbox = [], set()
        for ws, a in zip(await open_all(agent_specs), self.seed["agents"]):
            conn = Connection("agent", ws, stats)
            conn.replier = a["inbox_id"] not in seen_inbox
            seen_inbox.add(a["inbox_id"])
            self.agents.append(conn)
        self.customers = [Connection("customer", ws, stats) for ws in await open_all(customer_specs)]
        for conn in self.customers:
            conn.replier = False
        of_inbox = defaultdict(list)
        for conn, a in zip(self.agents, self.seed["agents"]):
            of_inbox[a["inbox_id"]].append(conn)
        self.receivers_of = {c["conversation_id"]: [conn] + of_inbox[c["inbox_id"]] for conn, c in zip(self.customers, self.seed["customers"])}

    async def close(self):
        for conn in self.agents + self.customers:
            await conn.ws.close()


def delta(before, after):
    """CPU seconds between two snapshots; a process that appeared in between counts from zero."""
    out = {}
    for part in ("server", "postgres", "redis"):
        out[part] = sum((t or 0) - (before[part].get(pid) or 0) for pid, t in after[part].items() if t is not None) / TICK
    out["client"] = after["client"] - before["client"]
    return out


async def step(target, rate, seconds, label, record=True):
    """Send at `rate` customer messages/s for `seconds`, drain, check delivery; returns the step's figures."""
    stats = Stats()
    for conn in target.agents + target.customers:
        conn.stats = stats
    customers, seed = target.customers, target.seed["customers"]
    duplicates_before = sum(c.duplicates for c in target.agents + target.customers)  # the client counts per socket, not per step
    cpu0 = target.cpu()
    stats.sending = True
    start, n, interval = time.perf_counter(), 0, 1.0 / rate
    while start + n * interval - start < seconds:
        delay = start + n * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        i = n % len(customers)
        # The number after the last dash drives the agents' one-in-ten replies (bench.Connection.handle).
        stats.send(customers[i], seed[i]["conversation_id"], f"{label}m{i}-{n}", f"第{n}条消息 message {n}")
        n += 1
    stats.sending = False
    send_seconds = time.perf_counter() - start
    deadline = time.perf_counter() + 10
    while sum(len(s) for s in stats.acked.values()) < stats.sent and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    # Let the last fan-out arrive: stop when no delivery came for 0.3 s.
    while time.perf_counter() - stats.last_delivery_at < 0.3 and time.perf_counter() < deadline + 3:
        await asyncio.sleep(0.05)
    cpu = delta(cpu0, target.cpu())
    window = time.perf_counter() - start
    acked = sum(len(s) for s in stats.acked.values())
    if not record:
        return None
    lost = dropped = 0
    for cid, seqs in stats.acked.items():
        for conn in target.receivers_of[cid]:
            missing = seqs - conn.live[cid]
            if missing:
                dropped += len(missing)
                try:
                    await conn.resume(cid, min(missing) - 1)
                except TimeoutError:
                    pass
                lost += len(missing - conn.resumed[cid])
    result = {
        "target": target.name, "rate": rate, "sent": stats.sent, "acked": acked,
        "messages_in_per_s": round(acked / max(send_seconds, stats.last_ack_at - start), 1),
        "ack_p50_ms": round(percentile(stats.ack_latency, 50) * 1000, 1), "ack_p99_ms": round(percentile(stats.ack_latency, 99) * 1000, 1),
        "e2e_p99_ms": round(percentile(stats.e2e, 99) * 1000, 1),
        "lost": lost, "dropped_live": dropped, "unacked": stats.sent - acked, "errors": len(stats.errors),
        "duplicates": sum(c.duplicates for c in target.agents + target.customers) - duplicates_before,
        **{f"cpu_{k}_ms_per_msg": round(v * 1000 / max(acked, 1), 2) for k, v in cpu.items()},
    }
    result["cpu_ms_per_msg"] = round(sum(result[f"cpu_{k}_ms_per_msg"] for k in ("server", "postgres", "redis")), 2)
    # The same less the idle cost over the step's window: what the messages themselves cost.
    idle = sum(target.idle_cpu.get(k, 0) for k in ("server", "postgres", "redis")) * window
    result["cpu_net_of_idle_ms_per_msg"] = round((sum(cpu[k] for k in ("server", "postgres", "redis")) - idle) * 1000 / max(acked, 1), 2)
    result["ok"] = (result["ack_p99_ms"] <= P99_LIMIT_MS and lost == 0 and result["unacked"] == 0 and result["errors"] == 0
                    and result["duplicates"] == 0)
    return result


def start_product(args, workdir, prefix):
    with psycopg.connect(bench.PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.product_db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.product_db}"')
    env = {"DATABASE_URL": f"{bench.PG_ADMIN_URL.rsplit('/', 1)[0]}/{args.product_db}", "REDIS_URL": bench.REDIS_URL,
           "CHANNEL_PREFIX": f"{prefix}p", "DB_CONN_MAX_AGE": "600", "LOG_LEVEL": "ERROR", "RATE_LIMITS_ENABLED": "false"}
    bench.manage(env, "migrate", "--noinput")
    bench.manage(env, "bench_seed", "--customers", str(args.customers), "--agents", str(args.agents), "--inboxes", str(args.inboxes),
                 "--out", f"{workdir}/seed.json")
    with open(f"{workdir}/seed.json") as fh:
        seed = json.load(fh)
    ports = [processes.free_port() for _ in range(args.processes)]
    procs = [processes.start_uvicorn(p, env, f"{workdir}/product-{p}.log") for p in ports]
    return Target("product", args.product_db, procs, ports, seed)


def start_bare(args, workdir, prefix):
    url, seed = stack.prepare(bench.PG_ADMIN_URL, args.bare_db, customers=args.customers, agents=args.agents, inboxes=args.inboxes)
    env = {"BARE_DATABASE_URL": url, "REDIS_URL": bench.REDIS_URL, "CHANNEL_PREFIX": f"{prefix}b"}
    ports = [processes.free_port() for _ in range(args.processes)]
    procs = [stack.start(p, env, f"{workdir}/bare-{p}.log") for p in ports]
    return Target("bare", args.bare_db, procs, ports, seed)


async def ladder(args, targets):
    for target in targets:
        await target.connect()
    await asyncio.sleep(3)  # hello frames done, servers idle
    # Idle cost with every socket open (keepalive pings both ways, the layer's reader, timers):
    # part of every step's CPU, so a low rate shows a higher cost per message.
    for target in targets:
        before, t = target.cpu(), time.perf_counter()
        await asyncio.sleep(4)
        idle = delta(before, target.cpu())
        target.idle_cpu = {k: v / (time.perf_counter() - t) for k, v in idle.items()}
        if not args.json:
            print(f"  {target.name:7} idle: {', '.join(f'{k} {v * 100:.1f}%' for k, v in target.idle_cpu.items())} of a core", flush=True)
    for target in targets:  # warm-up: first database connections, prepared statements, caches
        await step(target, args.rates[0], 3, f"w{target.name[0]}", record=False)
    for k, rate in enumerate(args.rates):
        order = targets if k % 2 == 0 else targets[::-1]
        for target in order:
            if not target.stopped:  # the first rung failed twice ends a target's climb
                target.stopped = not await rung(args, target, rate, f"s{k}{target.name[0]}")
        if all(t.stopped for t in targets):
            break
    # One rung halfway between the highest pass and the next failed rung halves the ladder's granularity.
    for target in targets:
        best = max((s["rate"] for s in target.steps if s["ok"]), default=None)
        above = [s["rate"] for s in target.steps if not s["ok"] and best is not None and s["rate"] > best]
        if above and (mid := round((best + min(above)) / 2)) not in (best, min(above)):
            await rung(args, target, mid, f"r{target.name[0]}")
    for target in targets:
        await target.close()


async def rung(args, target, rate, label):
    """A rung passes if one of two attempts does: on a shared 2-core box one stall (GC, another
    process) can push a short step's p99 over the limit; two in a row at one rate is the stack."""
    for attempt in "ab":
        await asyncio.sleep(1)  # the previous step's stragglers settle
        result = await step(target, rate, args.step, label + attempt)
        target.steps.append(result)
        if not args.json:
            print(f"  {target.name:7} rate {rate:5}: in {result['messages_in_per_s']:6}/s  ack p50/p99 {result['ack_p50_ms']}/{result['ack_p99_ms']} ms  "
                  f"lost {result['lost']} unacked {result['unacked']}  cpu {result['cpu_ms_per_msg']} ms/msg "
                  f"(server {result['cpu_server_ms_per_msg']}, pg {result['cpu_postgres_ms_per_msg']}, redis {result['cpu_redis_ms_per_msg']}; "
                  f"client {result['cpu_client_ms_per_msg']}; net of idle {result['cpu_net_of_idle_ms_per_msg']})  {'ok' if result['ok'] else 'FAIL'}",
                  flush=True)
        if result["ok"]:
            return True
    return False


def summary(target, cpu_rate):
    passed = [s for s in target.steps if s["ok"]]
    best = max(passed, key=lambda s: s["rate"]) if passed else None
    at_rate = [s for s in target.steps if s["rate"] == cpu_rate]
    at = next((s for s in at_rate if s["ok"]), at_rate[0] if at_rate else None)
    return {
        "target": target.name,
        "sustained_rate": best["rate"] if best else 0,
        "sustained_messages_in_per_s": best["messages_in_per_s"] if best else 0,
        "ack_p99_ms_at_sustained": best["ack_p99_ms"] if best else None,
        # Passed the ladder's top rung: the stack can do more than the figure says (raise --rates).
        "at_ladder_top": bool(best) and best["rate"] >= max(s["rate"] for s in target.steps),
        "cpu_rate": cpu_rate,
        **({k: at[k] for k in at if k.startswith("cpu_")} if at else {}),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default=LADDER, help="customer messages/s per step, comma-separated, rising")
    parser.add_argument("--step", type=float, default=8, help="seconds per step")
    parser.add_argument("--cpu-rate", type=float, default=150, help="the step whose CPU per message is compared")
    parser.add_argument("--only", choices=["product", "bare"], help="one target (develop the bare stack, check a build)")
    parser.add_argument("--customers", type=int, default=1960)
    parser.add_argument("--agents", type=int, default=40)
    parser.add_argument("--inboxes", type=int, default=20)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--product-db", default=os.environ.get("BENCH_RATIO_PRODUCT_DB", "helpdesk_bench_ratio_product"))
    parser.add_argument("--bare-db", default=os.environ.get("BENCH_RATIO_BARE_DB", "helpdesk_bench_ratio_bare"))
    parser.add_argument("--json", action="store_true", help="print the steps and the summary as one JSON object")
    args = parser.parse_args()
    args.rates = [float(r) if "." in r else int(r) for r in args.rates.split(",")]
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    prefix = f"ratio{uuid.uuid4().hex[:6]}"
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-ratio-") as workdir:
        targets = []
        t0 = time.perf_counter()
        try:
            if args.only != "bare":
                targets.append(start_product(args, workdir, prefix))
            if args.only != "product":
                targets.append(start_bare(args, workdir, prefix))
            if not args.json:
                print(f"== product vs bare stack: {args.customers + args.agents} sockets each, {args.processes} processes each, "
                      f"{args.step:g} s steps; load average before: {load[0]:.2f}; set up in {time.perf_counter() - t0:.0f} s ==", flush=True)
            asyncio.run(ladder(args, targets))
        finally:
            for target in targets:
                for proc in target.procs:
                    processes.stop(proc)
    summaries = {t.name: summary(t, args.cpu_rate) for t in targets}
    ratio = {}
    if len(targets) == 2 and summaries["bare"]["sustained_rate"]:
        p, b = summaries["product"], summaries["bare"]
        ratio["throughput_product_over_bare"] = round(p["sustained_messages_in_per_s"] / b["sustained_messages_in_per_s"], 2)
        if p.get("cpu_ms_per_msg") and b.get("cpu_ms_per_msg"):
            ratio["cpu_per_message_product_over_bare"] = round(p["cpu_ms_per_msg"] / b["cpu_ms_per_msg"], 2)
            if b["cpu_net_of_idle_ms_per_msg"] > 0:
                ratio["cpu_net_of_idle_product_over_bare"] = round(p["cpu_net_of_idle_ms_per_msg"] / b["cpu_net_of_idle_ms_per_msg"], 2)
    if args.json:
        print(json.dumps({"load_average_before": load, "steps": [s for t in targets for s in t.steps], "summary": summaries, "ratio": ratio}))
        return
    print("\n== sustained (ack p99 <= 100 ms, 0 lost) and CPU per message ==")
    for s in summaries.values():
        cpu = (f"{s['cpu_ms_per_msg']} ms (server {s['cpu_server_ms_per_msg']}, PostgreSQL {s['cpu_postgres_ms_per_msg']}, "
               f"Redis {s['cpu_redis_ms_per_msg']}; client {s['cpu_client_ms_per_msg']}; net of idle {s['cpu_net_of_idle_ms_per_msg']})" if "cpu_ms_per_msg" in s else "no step at that rate")
        print(f"  {s['target']:7} {'>= ' if s['at_ladder_top'] else ''}{s['sustained_messages_in_per_s']} msg/s in (rate {s['sustained_rate']}, ack p99 {s['ack_p99_ms_at_sustained']} ms); "
              f"CPU per message at rate {s['cpu_rate']:g}: {cpu}")
    for key, value in ratio.items():
        print(f"  {key:36} {value}")
    print(f"  load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
