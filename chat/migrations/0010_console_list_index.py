"""The console's conversation lists order by last_message_at DESC NULLS LAST, id DESC. PostgreSQL
reads conv_ws_recent (DESC, i.e. NULLS FIRST) in that order only when the NULLS placement matches
too, so without this index every list sorts the whole workspace (35 ms at 100,000 conversations,
scripts/bench_console.py). SQLite cannot declare NULLS LAST in an index (and its DESC already
puts NULLs last), so the index is PostgreSQL-only and kept out of the model's Meta: a SQLite
table rebuild would otherwise try to recreate it."""

from django.db import migrations

INDEX = "conv_ws_recent_console"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{INDEX}" ON "chat_conversation" ("workspace_id", "last_message_at" DESC NULLS LAST, "id" DESC)'
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'DROP INDEX IF EXISTS "{INDEX}"')


class Migration(migrations.Migration):

    dependencies = [
        ("chat", "0009_customervisit_pushsubscription_tag_and_more"),
    ]

    operations = [
        migrations.RunPython(create, drop, elidable=False),
    ]
