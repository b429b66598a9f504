"""Create the bare stack's database (fresh, seeded in SQL) and start its uvicorn processes with
the product's server flags (helpdesk/processes.py), so only the application differs."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg

SCRIPTS = Path(__file__).resolve().parent.parent

SCHEMA = """
CREATE TABLE bare_customer (id bigserial PRIMARY KEY, token text NOT NULL UNIQUE, name text NOT NULL);
CREATE TABLE bare_agent (id bigserial PRIMARY KEY, session_key text NOT NULL UNIQUE, inbox_id bigint NOT NULL, name text NOT NULL);
CREATE TABLE bare_conversation (
    id bigserial PRIMARY KEY, inbox_id bigint NOT NULL, customer_id bigint NOT NULL REFERENCES bare_customer,
    last_seq integer NOT NULL DEFAULT 0, last_message_at timestamptz);
CREATE TABLE bare_message (
    id bigserial PRIMARY KEY, conversation_id bigint NOT NULL REFERENCES bare_conversation, seq integer NOT NULL,
    sender_kind text NOT NULL, sender_key text NOT NULL, sender_name text NOT NULL, client_msg_id text NOT NULL, body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (conversation_id, seq), UNIQUE (sender_key, client_msg_id));
"""


def prepare(admin_url, dbname, *, customers, agents, inboxes):
    """Drop and create `dbname`, seed it like manage.py bench_seed (every customer has a conversation
    with one message, agents spread over inboxes). Returns (conninfo, seed) in bench_seed's JSON shape."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{dbname}"')
    url = f"{admin_url.rsplit('/', 1)[0]}/{dbname}"
    tokens = [secrets.token_urlsafe(16) for _ in range(customers)]
    sessions = [secrets.token_urlsafe(16) for _ in range(agents)]
    seed = {"customers": [], "agents": []}
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(SCHEMA)
        cur.executemany("INSERT INTO bare_agent (session_key, inbox_id, name) VALUES (%s, %s, %s)",
                        [(s, i % inboxes + 1, f"Agent {i}") for i, s in enumerate(sessions)])
        for i, token in enumerate(tokens):
            cur.execute("INSERT INTO bare_customer (token, name) VALUES (%s, %s) RETURNING id", (token, f"Visitor {i}"))
            customer_id = cur.fetchone()[0]
            cur.execute("INSERT INTO bare_conversation (inbox_id, customer_id, last_seq, last_message_at) VALUES (%s, %s, 1, now()) RETURNING id",
                        (i % inboxes + 1, customer_id))
            cid = cur.fetchone()[0]
            cur.execute("INSERT INTO bare_message (conversation_id, seq, sender_kind, sender_key, sender_name, client_msg_id, body) "
                        "VALUES (%s, 1, 'customer', %s, %s, 'seed', 'hello')", (cid, f"c{customer_id}", f"Visitor {i}"))
            seed["customers"].append({"token": token, "inbox_id": i % inboxes + 1, "conversation_id": cid})
        seed["agents"] = [{"session": s, "inbox_id": i % inboxes + 1} for i, s in enumerate(sessions)]
        cur.execute("ANALYZE")
    return url, seed


def start(port, env_overrides, log_path):
    """One uvicorn process of the bare app, flags as helpdesk.processes.start_uvicorn."""
    from helpdesk import processes

    env = {**os.environ, **env_overrides}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bare_stack.app:application", "--app-dir", str(SCRIPTS), "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning", "--no-access-log", "--ws-max-size", "1048576", "--ws-per-message-deflate", "false", "--backlog", "4096"],
        cwd=SCRIPTS.parent, env=env, stdout=open(log_path, "ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )
    processes.wait_for_port(port, proc=proc)
    return proc
