"""History search on PostgreSQL reads a stored tsvector instead of computing one per message.

With the expression index of 0001, every message the planner visits outside the index (a walk by
recency that tests each conversation's messages) computed history_terms(body) again, about 70 µs
a message; over ten million messages a word that matched nothing walked for minutes
(docs/benchmarks.md, "10,000,000 messages"). A generated column computes it once, when the
message is written (the expression index computed it then too), so a visit costs a read, and the
planner's estimates of a walk and of an index scan are in the same units again.

The send stays one statement (PostgreSQL fills a generated column itself). Adding the column
rewrites chat_message once, under a lock, for the length of that rewrite (two to three minutes per
million messages on a busy 2-core box): docs/console.md, "History search", says so for upgrades.
SQLite keeps its FTS5 table (0001)."""

from django.db import migrations

from reports.raw_sql import run_sql

PG_FORWARD = [
    # strip(): no positions (nothing searches phrases), a third smaller (179 → 124 bytes a message).
    "ALTER TABLE chat_message ADD COLUMN IF NOT EXISTS history_tsv tsvector GENERATED ALWAYS AS (strip(history_terms(body))) STORED",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS chat_message_history_tsv ON chat_message USING gin (history_tsv)",
    "DROP INDEX CONCURRENTLY IF EXISTS chat_message_history_terms",
]
PG_BACKWARD = [
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS chat_message_history_terms ON chat_message USING gin (history_terms(body))",
    "DROP INDEX CONCURRENTLY IF EXISTS chat_message_history_tsv",
    "ALTER TABLE chat_message DROP COLUMN IF EXISTS history_tsv",
]


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [("reports", "0002_report_rollups")]

    operations = [migrations.RunPython(run_sql({"postgresql": PG_FORWARD}), run_sql({"postgresql": PG_BACKWARD}), elidable=False)]
