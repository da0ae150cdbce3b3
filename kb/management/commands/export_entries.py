"""Export every entry, with its history, as JSON Lines (the import format plus ids)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Prefetch

from kb.models import Entry, Revision
from kb.transfer import export_lines

BATCH = 1_000


class Command(BaseCommand):
    help = "Export all entries and their revisions to a .jsonl file ('-' for stdout)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="Where to write; '-' writes to standard output.")

    def handle(self, *args, file: str, **options):
        entries = (
            Entry.objects.order_by("pk")
            .select_related("author", "owner")
            .prefetch_related(
                "tags",
                Prefetch(
                    "revisions",
                    queryset=Revision.objects.select_related("editor").order_by("number"),
                ),
            )
        )
        lines = export_lines(entries.iterator(chunk_size=BATCH))
        if file == "-":
            for line in lines:
                self.stdout.write(line)
            return
        count = 0
        try:
            with Path(file).open("w", encoding="utf-8") as handle:
                for line in lines:
                    handle.write(line + "\n")
                    count += 1
        except OSError as error:
            raise CommandError(f"Cannot write {file}: {error.strerror or error}") from error
        self.stdout.write(self.style.SUCCESS(f"Exported {count:,} entries to {file}."))
