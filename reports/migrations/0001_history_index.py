"""The message index of history search (docs/console.md, "History search"), built by the database
from chat_message itself: no write of the engine changes (chat/fast_send.py's one-statement insert
stays one statement).

PostgreSQL: an expression GIN index over history_terms(body): the body in NFKC (full-width →
ASCII) and lower case, every run of Chinese characters as its overlapping bigrams plus its last
character, latin words and numbers as the 'simple' configuration's lexemes. The script is not
folded here (translate() over OpenCC's 4,000 characters cost 1.8 ms a message): the query asks
for each bigram in simplified and traditional script. Built CONCURRENTLY (writes go on meanwhile).

SQLite: an FTS5 external-content table over chat_message.body with the trigram tokenizer, kept by
three triggers (insert, delete, update of body)."""

from django.db import migrations

from reports.raw_sql import run_sql

CJK = "[\u3400-\u9fff\uf900-\ufaff]"


PG_FUNCTIONS = [
    """CREATE OR REPLACE FUNCTION history_fold(t text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS $$ SELECT lower(normalize(t, NFKC)) $$""",
    # Pass 1 pairs each run's characters from its first (退货 地址 + a lone last one); pass 2 drops each
    # run's first character and pairs again (货地 址): together every bigram and the run's last character.
    f"""CREATE OR REPLACE FUNCTION history_terms(t text) RETURNS tsvector LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
        AS $$ SELECT to_tsvector('simple'::regconfig,
                regexp_replace(s, '({CJK})({CJK})', ' \\1\\2 ', 'g') || ' ' ||
                regexp_replace(regexp_replace(s, '(^|[^\u3400-\u9fff\uf900-\ufaff]){CJK}', '\\1 ', 'g'), '({CJK})({CJK})', ' \\1\\2 ', 'g'))
              FROM (SELECT regexp_replace(history_fold(t), '({CJK}+)', ' \\1 ', 'g') AS s) AS folded $$""",
]
PG_INDEX = "CREATE INDEX CONCURRENTLY IF NOT EXISTS chat_message_history_terms ON chat_message USING gin (history_terms(body))"
PG_DROP = ["DROP INDEX CONCURRENTLY IF EXISTS chat_message_history_terms", "DROP FUNCTION IF EXISTS history_terms(text)",
           "DROP FUNCTION IF EXISTS history_fold(text)"]

SQLITE = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS history_message_fts USING fts5(body, content='chat_message', content_rowid='id', tokenize='trigram')",
    """CREATE TRIGGER IF NOT EXISTS history_fts_insert AFTER INSERT ON chat_message BEGIN
         INSERT INTO history_message_fts(rowid, body) VALUES (new.id, new.body); END""",
    """CREATE TRIGGER IF NOT EXISTS history_fts_delete AFTER DELETE ON chat_message BEGIN
         INSERT INTO history_message_fts(history_message_fts, rowid, body) VALUES ('delete', old.id, old.body); END""",
    """CREATE TRIGGER IF NOT EXISTS history_fts_update AFTER UPDATE OF body ON chat_message BEGIN
         INSERT INTO history_message_fts(history_message_fts, rowid, body) VALUES ('delete', old.id, old.body);
         INSERT INTO history_message_fts(rowid, body) VALUES (new.id, new.body); END""",
    "INSERT INTO history_message_fts(history_message_fts) VALUES ('rebuild')",
]
SQLITE_DROP = ["DROP TRIGGER IF EXISTS history_fts_insert", "DROP TRIGGER IF EXISTS history_fts_delete",
               "DROP TRIGGER IF EXISTS history_fts_update", "DROP TABLE IF EXISTS history_message_fts"]


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY

    dependencies = [("chat", "0017_inbox_answer_timeout_marks_away")]

    operations = [
        migrations.RunPython(run_sql({"postgresql": [*PG_FUNCTIONS, PG_INDEX], "sqlite": SQLITE}),
                             run_sql({"postgresql": PG_DROP, "sqlite": SQLITE_DROP}), elidable=False),
    ]
