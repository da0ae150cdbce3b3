"""Measure search relevance on a labelled data set: ``make eval``.

Imports the data set's corpus into a fresh temporary site, runs every query through
the same search code as the site, and prints P@1, MRR@10, Recall@5 and latency. A
result is relevant when its question carries the query's label (see the data set's
README). The site itself never depends on this data. ``--backend postgres`` measures the
PostgreSQL backend, in a throwaway database.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from kb.bench.site import FreshSite
from kb.management.commands.bench import DEFAULT_POSTGRES, percentile

DEFAULT_DATA = settings.BASE_DIR.parent / "shared" / "eval" / "banking77-dev"


def read_tsv(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return [tuple(line.rstrip("\n").rsplit("\t", 1)) for line in handle if line.strip()]


class Command(BaseCommand):
    help = "Measure P@1, MRR@10 and Recall@5 of search on a labelled data set."

    def add_arguments(self, parser):
        parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Data set folder.")
        parser.add_argument(
            "--measure",
            action="store_true",
            help="Measure against this site's current index (the corpus must be imported).",
        )
        parser.add_argument("--limit", type=int, default=0, help="Only the first N queries.")
        parser.add_argument(
            "--backend",
            choices=["whoosh", "postgres"],
            default="whoosh",
            help="Search backend to measure (postgres: in a throwaway database).",
        )
        parser.add_argument(
            "--postgres",
            default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_POSTGRES),
            help="PostgreSQL server for --backend postgres; the site gets a throwaway "
            f"database there (default $BENCH_DATABASE_URL or {DEFAULT_POSTGRES}).",
        )

    def handle(
        self,
        *args,
        data: Path,
        measure: bool,
        limit: int,
        backend: str,
        postgres: str,
        **options,
    ):
        for name in ("corpus.jsonl", "corpus-labels.tsv", "queries.tsv"):
            if not (data / name).exists():
                raise CommandError(f"{data / name} is missing.")
        if measure:
            self.stdout.write(json.dumps(self.measure(data, limit)))
            return
        with FreshSite(postgres=postgres if backend == "postgres" else None) as site:
            import_seconds = site.timed_import(data / "corpus.jsonl")
            arguments = ["evaluate", "--measure", "--data", str(data), "--limit", str(limit)]
            figures = site.measure(*arguments)
        self.stdout.write(
            f"\nRelevance on {data.name} ({backend}): {figures['queries']:,} queries over "
            f"{figures['entries']:,} entries (import {import_seconds:.1f} s)\n"
            f"  P@1       {figures['p_at_1']:6.1f}\n"
            f"  MRR@10    {figures['mrr_at_10']:6.1f}\n"
            f"  Recall@5  {figures['recall_at_5']:6.1f}\n"
            f"  latency   p50 {figures['p50']:.1f} ms, p95 {figures['p95']:.1f} ms, "
            f"p99 {figures['p99']:.1f} ms"
        )

    def measure(self, data: Path, limit: int) -> dict:
        from django.contrib.auth.models import User

        from kb import search
        from kb.models import Entry

        label_of = dict(read_tsv(data / "corpus-labels.tsv"))
        entry_label = {
            pk: label_of.get(question)
            for pk, question in Entry.objects.values_list("pk", "question")
        }
        queries = read_tsv(data / "queries.tsv")
        if limit:
            queries = queries[:limit]
        user, _ = User.objects.get_or_create(username="eval-rep")
        for text, _label in queries[:20]:  # warm up
            search.search(text, user=user, limit=10)
        first, reciprocal, recall, latencies = [], [], [], []
        for text, label in queries:
            started = time.perf_counter()
            found = search.search(text, user=user, limit=10)
            latencies.append((time.perf_counter() - started) * 1000)
            labels = [entry_label.get(result.entry.pk) for result in found.results]
            rank = next((i for i, hit in enumerate(labels, 1) if hit == label), None)
            first.append(rank == 1)
            reciprocal.append(1 / rank if rank else 0.0)
            recall.append(rank is not None and rank <= 5)
        return {
            "queries": len(queries),
            "entries": len(entry_label),
            "p_at_1": 100 * statistics.mean(first),
            "mrr_at_10": 100 * statistics.mean(reciprocal),
            "recall_at_5": 100 * statistics.mean(recall),
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99),
        }
