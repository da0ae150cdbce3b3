"""Measure search speed and review pages on a fresh site: ``make bench``.

For each backend and size, builds a new site in a temporary data dir (migrate, import N
entries; with ``--backends postgres`` in a throwaway PostgreSQL database), then measures
search latency through the JSON API's code path and the time from saving an entry to
finding it. At ``--review-size`` entries it then adds a busy floor's history (100,000
searches and what followed) and times the supervisor and people pages. Prints figures;
asserts nothing.
"""

from __future__ import annotations

import json
import os
import statistics
import time

from django.core.management.base import BaseCommand, CommandError

from kb.bench import corpus
from kb.bench.site import FreshSite


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


DEFAULT_POSTGRES = "postgres://postgres@127.0.0.1:5432/postgres"


class Command(BaseCommand):
    help = "Benchmark import and search on fresh temporary sites and print the figures."

    def add_arguments(self, parser):
        parser.add_argument(
            "--sizes", default="10000", help="Comma-separated entry counts (default 10000)."
        )
        parser.add_argument("--queries", type=int, default=500, help="Searches per size.")
        parser.add_argument(
            "--backends",
            default="whoosh",
            help="Comma-separated search backends to measure side by side: whoosh, postgres.",
        )
        parser.add_argument(
            "--postgres",
            default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_POSTGRES),
            help="PostgreSQL server for --backends postgres; each site gets a throwaway "
            f"database there (default $BENCH_DATABASE_URL or {DEFAULT_POSTGRES}).",
        )
        parser.add_argument(
            "--review-size",
            type=int,
            default=10_000,
            help="At this size also time the review pages over 100,000 searches (0: never).",
        )
        parser.add_argument("--measure", action="store_true", help="(internal) measure here.")
        parser.add_argument(
            "--measure-review", action="store_true", help="(internal) time review pages here."
        )

    def handle(
        self,
        *args,
        sizes: str,
        queries: int,
        backends: str,
        postgres: str,
        review_size: int,
        measure: bool,
        measure_review: bool,
        **options,
    ):
        if measure:
            self.stdout.write(json.dumps(self.measure(queries)))
            return
        if measure_review:
            self.stdout.write(json.dumps(self.measure_review()))
            return
        for backend in backends.split(","):
            if backend not in ("whoosh", "postgres"):
                raise CommandError(f"Unknown backend {backend!r}: whoosh or postgres.")
        rows, review = [], None
        for backend in backends.split(","):
            server = postgres if backend == "postgres" else None
            for size in (int(size) for size in sizes.split(",")):
                row, pages = self.run_size(size, queries, server, review=size == review_size)
                rows.append({"backend": backend, **row})
                review = pages or review
        self.print_table(rows, queries)
        if review:
            self.print_review(review, review_size)

    def run_size(
        self, size: int, queries: int, postgres: str | None, *, review: bool
    ) -> tuple[dict, dict | None]:
        pages = None
        with FreshSite(postgres=postgres) as site:
            source = site.data_dir / "corpus.jsonl"
            corpus.write_jsonl(source, size)
            import_seconds = site.timed_import(source)
            index_mb = site.index_size() / 2**20
            figures = site.measure("bench", "--measure", "--queries", str(queries))
            if review:
                pages = site.measure("bench", "--measure-review")
        self.stderr.write(f"{size:,} entries measured ({'postgres' if postgres else 'whoosh'}).")
        row = {"size": size, "import_s": import_seconds, "index_mb": index_mb, **figures}
        return row, pages

    REVIEW_PAGES = [
        "/review/",
        "/review/no-results/",
        "/review/no-reuse/",
        "/review/questions/",
        "/review/flags/",
        "/review/stale/",
        "/review/tags/",
        "/review/no-results/?format=csv",
        "/review/measures/",
        "/questions/",
        "/people/",
        "/people/?period=month",
        "/people/floor-rep-1/",
        "/",
    ]
    REVIEW_RUNS = 15

    def measure_review(self) -> dict:
        """Runs inside the fresh site: grow the history, then time each page."""
        from django.contrib.auth.models import Group, User
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from kb.bench.history import grow

        started = time.perf_counter()
        grown = grow()
        grow_seconds = time.perf_counter() - started
        supervisor = User.objects.create_user("bench-supervisor", password="bench-password-1")
        supervisor.groups.add(Group.objects.get(name="Supervisors"))
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(supervisor)
        pages = {}
        for url in self.REVIEW_PAGES:
            response = client.get(url)  # warm up
            if response.status_code != 200:
                pages[url] = {"status": response.status_code}
                continue
            timings = []
            for _ in range(self.REVIEW_RUNS):
                with CaptureQueriesContext(connection) as queries:
                    began = time.perf_counter()
                    client.get(url)
                    timings.append((time.perf_counter() - began) * 1000)
            pages[url] = {
                "status": 200,
                "p50": percentile(timings, 50),
                "p95": percentile(timings, 95),
                "queries": len(queries),
            }
        return {"grown": grown, "grow_s": grow_seconds, "pages": pages}

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
        logging_ms = []  # the search log's share of each search (also inside the latencies)
        for text in texts[:200]:
            started = time.perf_counter()
            actions.log_search(user=user, text=text, result_count=1, source="api")
            logging_ms.append((time.perf_counter() - started) * 1000)
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
            "log_median": statistics.median(logging_ms),
            "saved_p50": percentile(saved_to_found, 50),
            "saved_p95": percentile(saved_to_found, 95),
        }

    def print_table(self, rows: list[dict], queries: int) -> None:
        self.stdout.write(
            f"\nSearch benchmark, {queries} queries per size, latency of GET /api/v1/search in ms"
        )
        header = (
            f"{'backend':<9}{'entries':>8} {'import s':>9} {'index MB':>9} "
            f"{'p50':>7} {'p95':>7} {'p99':>7} "
            f"{'took_ms med':>11} {'saved→found p50':>15} {'p95':>7} {'log med':>8}"
        )
        self.stdout.write(header)
        for row in rows:
            self.stdout.write(
                f"{row['backend']:<9}{row['size']:>8,} "
                f"{row['import_s']:>9.1f} {row['index_mb']:>9.1f} "
                f"{row['p50']:>7.1f} {row['p95']:>7.1f} {row['p99']:>7.1f} "
                f"{row['took_median']:>11.1f} {row['saved_p50']:>15.1f} {row['saved_p95']:>7.1f} "
                f"{row['log_median']:>8.2f}"
            )
        self.stdout.write(
            "(log med: median ms of writing one search to the search log, included in p50-p99)"
        )

    def print_review(self, review: dict, size: int) -> None:
        grown = review["grown"]
        self.stdout.write(
            f"\nReview pages over {size:,} entries, {grown['searches']:,} searches, "
            f"{grown['reuses']:,} reuses, {grown['reps']} reps "
            f"(history written in {review['grow_s']:.0f} s); "
            f"{self.REVIEW_RUNS} renders each, ms"
        )
        self.stdout.write(f"{'page':<34} {'p50':>7} {'p95':>7} {'queries':>8}")
        for url, page in review["pages"].items():
            if page["status"] != 200:
                self.stdout.write(f"{url:<34} status {page['status']}")
                continue
            self.stdout.write(
                f"{url:<34} {page['p50']:>7.1f} {page['p95']:>7.1f} {page['queries']:>8}"
            )
