# The PostgreSQL search backend's tables. Both are created on every database, so the
# migration history is the same everywhere; the pg_trgm extension and the GIN indexes
# exist only on PostgreSQL. They stay out of the model state: SQLite has no such indexes
# and would fail to rebuild a table whose model state declared them. (Not Django's
# TrigramExtension: its reverse queries pg_extension on SQLite too, and dropping an
# extension other objects may use is not this migration's business.)

import django.contrib.postgres.search
import django.db.models.deletion
from django.db import migrations, models

POSTGRES_INDEXES = {
    "kb_searchdocument_vector_gin": "ON kb_searchdocument USING gin (vector)",
    "kb_searchword_trgm": "ON kb_searchword USING gin (word gin_trgm_ops)",
}


def create_postgres_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, definition in POSTGRES_INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} {definition}")


def drop_postgres_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in POSTGRES_INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("kb", "0009_review_indexes"),
    ]

    operations = [
        migrations.CreateModel(
            name="SearchDocument",
            fields=[
                (
                    "entry",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="kb.entry",
                    ),
                ),
                ("vector", django.contrib.postgres.search.SearchVectorField()),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("draft", "Draft"),
                            ("published", "Published"),
                            ("validated", "Validated"),
                            ("archived", "Archived"),
                        ],
                        max_length=16,
                    ),
                ),
                ("author_id", models.BigIntegerField(null=True)),
                ("updated_at", models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name="SearchWord",
            fields=[
                ("word", models.CharField(max_length=64, primary_key=True, serialize=False)),
            ],
        ),
        migrations.RunPython(create_postgres_indexes, drop_postgres_indexes, elidable=False),
    ]
