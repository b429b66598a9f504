"""SearchKey: the narrow rows the first stage of a PostgreSQL search visits (knowledge/search_pg.py).
On PostgreSQL the keys are filled from the documents already indexed, then the GIN index moves from
the documents' tsvector (migration 0005) to the keys' lexeme hashes. SQLite has no index to change."""

import django.db.models.deletion
import knowledge.models
from django.db import migrations, models


FILL = ("INSERT INTO knowledge_searchkey (document_id, workspace_id, locale, title_norm, similar_norm, body_norm, hashes) "
        "SELECT id, workspace_id, locale, title_norm, similar_norm, body_norm, "
        "ARRAY(SELECT hashtext(lexeme) FROM unnest(tsvector_to_array(terms)) AS lexeme) FROM knowledge_searchdocument")
KEY_GIN = ("CREATE INDEX kb_search_key_gin ON knowledge_searchkey USING gin (workspace_id, hashes) "
           "WITH (gin_pending_list_limit = 256)")
TERMS_GIN = ("CREATE INDEX kb_search_workspace_terms_gin ON knowledge_searchdocument USING gin (workspace_id, terms) "
             "WITH (gin_pending_list_limit = 256)")


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FILL)
    schema_editor.execute(KEY_GIN)
    schema_editor.execute("DROP INDEX IF EXISTS kb_search_workspace_terms_gin")
    schema_editor.execute("ANALYZE knowledge_searchkey")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(TERMS_GIN)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0009_membership_onboarding'),
        ('knowledge', '0005_search_workspace_gin'),
    ]

    operations = [
        migrations.CreateModel(
            name='SearchKey',
            fields=[
                ('document', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to='knowledge.searchdocument')),
                ('locale', models.CharField(max_length=10)),
                ('title_norm', models.PositiveIntegerField(default=0)),
                ('similar_norm', models.PositiveIntegerField(default=0)),
                ('body_norm', models.PositiveIntegerField(default=0)),
                ('hashes', knowledge.models.HashArrayField(blank=True)),
                ('workspace', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='accounts.workspace')),
            ],
        ),
        migrations.RunPython(forwards, backwards),
    ]
