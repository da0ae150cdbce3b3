# The PostgreSQL search backend's GIN index without a pending list (fastupdate off): a
# saved entry goes straight into the index instead of a list every search scans until
# autovacuum merges it. Entries are saved far less often than searched. PostgreSQL only.

from django.db import migrations


def fastupdate_off(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER INDEX kb_searchdocument_vector_gin SET (fastupdate = off)")


def fastupdate_on(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER INDEX kb_searchdocument_vector_gin RESET (fastupdate)")


class Migration(migrations.Migration):
    dependencies = [
        ("kb", "0010_search_documents"),
    ]

    operations = [
        migrations.RunPython(fastupdate_off, fastupdate_on, elidable=False),
    ]
