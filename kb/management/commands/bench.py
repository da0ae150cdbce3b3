"""Measure search speed on a fresh site: ``make bench``.

For each size, builds a new site in a temporary data dir (migrate, import N entries),
then measures search latency through the JSON API's code path and the time from
saving an entry to finding it. Prints figures; asserts nothing.
"""

from __future__ import annotations

import json
import statistics
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from kb.bench import corpus
from kb.bench.site import FreshSite


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


class Command(BaseCommand):
    help = "Benchmark import and search on fresh temporary sites and print the figures."

    def add_arguments(self, parser):
        parser.add_argument(
            "--sizes", default="10000", help="Comma-separated entry counts (default 10000)."
        )
        parser.add_argument("--queries", type=int, default=500, help="Searches per size.")
        parser.add_argument("--measure", action="store_true", help="(internal) measure here.")

    def handle(self, *args, sizes: str, queries: int, measure: bool, **options):
        if measure:
            self.stdout.write(json.dumps(self.measure(queries)))
            return
        rows = [self.run_size(int(size), queries) for size in sizes.split(",")]
        self.print_table(rows, queries)

    def run_size(self, size: int, queries: int) -> dict:
        with FreshSite() as site:
            source = site.data_dir / "corpus.jsonl"
            corpus.write_jsonl(source, size)
            import_seconds = site.timed_import(source)
            index_mb = site.folder_size("index") / 2**20
            figures = site.measure("bench", "--measure", "--queries", str(queries))
        self.stderr.write(f"{size:,} entries measured.")
        return {"size": size, "import_s": import_seconds, "index_mb": index_mb, **figures}

    def measure(self, count: int) -> dict:
        """Runs inside the fresh site (its settings point at the temporary data dir)."""
        from django.contrib.auth.models import User
        from django.test import Client

        from kb import actions, search
        from kb.actions import EntryContent

        user = User.objects.create_user("bench-rep", password="bench-password-1")
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        texts = corpus.queries(count)
        for text in texts[:20]:  # warm up: open the index, load caches
            client.get("/api/v1/search", {"q": text})
        latencies, took, totals = [], [], []
        for text in texts:
            started = time.perf_counter()
            response = client.get("/api/v1/search", {"q": text})
            latencies.append((time.perf_counter() - started) * 1000)
            body = response.json()
            took.append(body["took_ms"])
            totals.append(body["total"])
        saved_to_found = []
        for i in range(20):
            marker = f"zqx{i}benchmarker"
            started = time.perf_counter()
            actions.capture_entry(
                author=user,
                content=EntryContent(question=f"Bench entry {marker}", answer="Saved by bench."),
            )
            while not search.search(marker, user=user).total:
                time.sleep(0.001)
            saved_to_found.append((time.perf_counter() - started) * 1000)
        return {
            "p50": percentile(latencies, 50),
            "p95": percentile(latencies, 95),
            "p99": percentile(latencies, 99),
            "took_median": statistics.median(took),
            "zero_results": sum(1 for t in totals if not t),
            "saved_p50": percentile(saved_to_found, 50),
            "saved_p95": percentile(saved_to_found, 95),
        }

    def print_table(self, rows: list[dict], queries: int) -> None:
        self.stdout.write(
            f"\nSearch benchmark ({settings.KB_SEARCH_BACKEND}), {queries} queries per size, "
            "latency of GET /api/v1/search in ms"
        )
        header = (
            f"{'entries':>8} {'import s':>9} {'index MB':>9} {'p50':>7} {'p95':>7} {'p99':>7} "
            f"{'took_ms med':>11} {'saved→found p50':>15} {'p95':>7}"
        )
        self.stdout.write(header)
        for row in rows:
            self.stdout.write(
                f"{row['size']:>8,} {row['import_s']:>9.1f} {row['index_mb']:>9.1f} "
                f"{row['p50']:>7.1f} {row['p95']:>7.1f} {row['p99']:>7.1f} "
                f"{row['took_median']:>11.1f} {row['saved_p50']:>15.1f} {row['saved_p95']:>7.1f}"
            )
