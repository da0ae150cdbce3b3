"""Import entries from a JSON Lines file: all lines or none."""

from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kb import actions
from kb.management.progress import Progress
from kb.transfer import ImportFileError, parse_lines


class Command(BaseCommand):
    help = (
        "Import entries from a .jsonl file, one JSON object a line: question, answer, "
        "tags, state, author, created. Nothing is written unless every line is valid."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="The .jsonl file to import.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Check the file and report; write nothing."
        )

    def handle(self, *args, file: Path, dry_run: bool, **options):
        started = time.monotonic()
        try:
            with file.open(encoding="utf-8") as handle:
                total_lines = sum(1 for _ in handle)
            with file.open(encoding="utf-8") as handle:
                reading = Progress(self.stdout, total_lines, "Checking")
                records = parse_lines(handle, progress=reading)
                reading.finish()
        except OSError as error:
            raise CommandError(f"Cannot read {file}: {error.strerror or error}") from error
        except UnicodeDecodeError as error:
            raise CommandError(f"{file} is not UTF-8 text ({error.reason}).") from error
        except ImportFileError as error:
            shown = "\n".join(f"  {line}" for line in error.errors)
            more = error.total_bad - len(error.errors)
            if more > 0:
                shown += f"\n  … and {more:,} more bad lines"
            raise CommandError(
                f"Nothing imported: {error.total_bad:,} bad line(s) in {file}:\n{shown}"
            ) from error
        if dry_run:
            self.stdout.write(f"{len(records):,} entries would be imported (dry run).")
            return
        writing = Progress(self.stdout, len(records), "Importing")
        entry_ids = actions.import_entries(records=records, progress=writing)
        writing.finish()
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {len(entry_ids):,} entries in {time.monotonic() - started:.1f} s."
            )
        )
