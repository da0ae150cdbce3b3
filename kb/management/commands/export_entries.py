"""Export every entry, with its history, as JSON Lines (the import format plus ids)."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Prefetch

from kb.models import Entry, Revision
from kb.transfer import export_lines

BATCH = 1_000


@contextmanager
def output(file: str):
    if file == "-":
        yield sys.stdout
    else:
        with Path(file).open("w", encoding="utf-8") as handle:
            yield handle


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
        count = 0
        try:
            with output(file) as handle:
                for line in export_lines(entries.iterator(chunk_size=BATCH)):
                    handle.write(line + "\n")
                    count += 1
        except OSError as error:
            raise CommandError(f"Cannot write {file}: {error.strerror or error}") from error
        if file != "-":
            self.stdout.write(self.style.SUCCESS(f"Exported {count:,} entries to {file}."))
