"""A message's history terms may come with its INSERT: the send computes them in Python
(helpdesk.text.history_terms_text), where the database spent about 0.2 ms of its CPU per message on
history_terms(body)'s four regular-expression passes (docs/benchmarks.md, issue 15).

history_tsv stops being a generated column (DROP EXPRESSION keeps every stored value and rewrites
nothing); a trigger fills it from history_terms(body) whenever an INSERT leaves it empty (every
write but chat.fast_send's) and whenever the body changes, so the column means what it meant.
PostgreSQL only: SQLite keeps its FTS5 table (0001)."""

from django.db import migrations

from reports.raw_sql import run_sql

PG_FORWARD = [
    """CREATE OR REPLACE FUNCTION history_tsv_fill() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.history_tsv IS NULL OR (TG_OP = 'UPDATE' AND NEW.body IS DISTINCT FROM OLD.body) THEN
                NEW.history_tsv := strip(history_terms(NEW.body));
            END IF;
            RETURN NEW;
        END $$""",
    "ALTER TABLE chat_message ALTER COLUMN history_tsv DROP EXPRESSION",
    """CREATE TRIGGER chat_message_history_tsv BEFORE INSERT OR UPDATE OF body, history_tsv ON chat_message
        FOR EACH ROW EXECUTE FUNCTION history_tsv_fill()""",
]
PG_BACKWARD = [
    "DROP TRIGGER IF EXISTS chat_message_history_tsv ON chat_message",
    "DROP FUNCTION IF EXISTS history_tsv_fill()",
    "ALTER TABLE chat_message DROP COLUMN history_tsv",
    "ALTER TABLE chat_message ADD COLUMN history_tsv tsvector GENERATED ALWAYS AS (strip(history_terms(body))) STORED",
    "CREATE INDEX chat_message_history_tsv ON chat_message USING gin (history_tsv)",
]


class Migration(migrations.Migration):
    # One transaction: no INSERT sees the column neither generated nor filled by the trigger.
    dependencies = [("reports", "0003_history_stored_terms")]

    operations = [migrations.RunPython(run_sql({"postgresql": PG_FORWARD}), run_sql({"postgresql": PG_BACKWARD}), elidable=False)]
