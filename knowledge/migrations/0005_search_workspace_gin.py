"""The search GIN index keyed by workspace first (btree_gin), so that a workspace's query visits
only its own documents' rows, not those of every workspace sharing the index (knowledge/search_pg.py
chooses per query whether to use the key: docs/knowledge.md). It replaces the GIN on `terms` alone:
a condition on `terms` only uses the two-column index as well. PostgreSQL only (SQLite has no
index to change). Built CONCURRENTLY: searches and index writes go on while it builds."""

from django.db import migrations

NEW = ("CREATE INDEX CONCURRENTLY IF NOT EXISTS kb_search_workspace_terms_gin ON knowledge_searchdocument "
       "USING gin (workspace_id, terms) WITH (gin_pending_list_limit = 256)")
OLD = ("CREATE INDEX CONCURRENTLY IF NOT EXISTS kb_search_terms_gin ON knowledge_searchdocument "
       "USING gin (terms) WITH (gin_pending_list_limit = 256)")


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # btree_gin is a trusted extension (PostgreSQL 13+): the database owner may create it.
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
    schema_editor.execute(NEW)
    schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS kb_search_terms_gin")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(OLD)
    schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS kb_search_workspace_terms_gin")


class Migration(migrations.Migration):
    atomic = False  # CREATE / DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("knowledge", "0004_article_internal_only"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
