"""Raw SQL for migrations whose statements differ by database (the history index is built in each
database's own terms)."""


def run_sql(statements_by_vendor):
    """A RunPython function running the statements listed for the database in use, in order."""
    def run(apps, schema_editor):
        with schema_editor.connection.cursor() as cursor:
            for statement in statements_by_vendor.get(schema_editor.connection.vendor, ()):
                cursor.execute(statement)
    return run
