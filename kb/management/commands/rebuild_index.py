"""Rebuild the search index from the database, the source of truth."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from kb import search
from kb.management.progress import Progress
from kb.models import Entry


class Command(BaseCommand):
    help = "Rebuild the search index from the database."

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Only rebuild when the index holds no entries but the database does, or"
            " cannot be read (missing, corrupt).",
        )

    def handle(self, *args, if_empty: bool, **options):
        total = Entry.objects.count()
        if if_empty and self.index_ready(total):
            self.stdout.write("Search index is ready.")
            return
        progress = Progress(self.stdout, total, "Indexing")
        try:
            done = search.rebuild(progress=progress)
        except search.IndexBusy as busy:
            raise CommandError(f"Cannot rebuild the search index: {busy}.") from None
        seconds = progress.finish()
        noun = "entry" if done == 1 else "entries"
        self.stdout.write(self.style.SUCCESS(f"Indexed {done:,} {noun} in {seconds:.1f} s."))

    @staticmethod
    def index_ready(total: int) -> bool:
        backend = search.get_backend()
        try:
            count = backend.document_count()  # opens the index, creating a missing one
            return backend.readable() and bool(count or not total)
        except Exception:  # corrupt: rebuild
            return False
