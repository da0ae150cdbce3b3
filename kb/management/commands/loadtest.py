"""A busy floor against the production server: ``make loadtest``.

Builds a throwaway site in a temporary data folder (never yours): migrates, loads the
demo floor (``seed_demo``) and grows it to ``--entries`` with the benchmark corpus, then
starts gunicorn as ``make serve`` does (``config/gunicorn.py``, DEBUG=0, whitenoise,
SQLite and the Whoosh index) on a free 127.0.0.1 port. Demo reps log in through the login
form and virtual reps (``kb/bench/load.py``) drive the site at rising concurrency:
searches typed a few characters at a time through the htmx partial, entry views, reuses,
new entries and edits, each write with its CSRF token. Per step it prints requests/s and
p50/p95/p99 latency and errors per kind of request. Afterwards it checks that every write
the server accepted is stored (entries with their text, a revision per edit, every reuse)
and searchable by its marker word; any failure, or any error, exits non-zero. The server
is stopped at the end, whatever happened.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import sys
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kb.bench import corpus, load
from kb.bench.server import Failed, Server
from kb.bench.site import FreshSite
from kb.management.commands.bench import percentile
from kb.management.commands.seed_demo import DEMO_ENTRIES, DEMO_PASSWORD, DEMO_PEOPLE

DEMO_REPS = [username for username, group, *_ in DEMO_PEOPLE if group == "Reps"]
QUICK = {
    "entries": 300,
    "steps": "2",
    "seconds": 2.0,
    "workers": 2,
    "pace": 0.05,
    "mix": "search=1,view=1,reuse=1,create=1,edit=1",
    "min_actions": 5,  # each virtual rep does every action once
    "logins": 2,
}


class Command(BaseCommand):
    help = (
        "Start the production server on a throwaway site with demo data grown to 10,000 "
        "entries, drive it with virtual reps at rising concurrency, print latency per "
        "kind of request, and check that every write was stored and is searchable."
    )

    def add_arguments(self, parser):
        parser.add_argument("--entries", type=int, default=10_000, help="Site size (10,000).")
        parser.add_argument(
            "--steps", default="1,4,16,32", help="Virtual reps per step (1,4,16,32)."
        )
        parser.add_argument("--seconds", type=float, default=30.0, help="Length of each step.")
        parser.add_argument(
            "--workers",
            type=int,
            default=int(os.environ.get("WEB_CONCURRENCY") or 4),
            help="gunicorn workers ($WEB_CONCURRENCY, else 4).",
        )
        parser.add_argument(
            "--pace",
            type=float,
            default=1.0,
            help="Scale of the pauses between keystrokes and actions (1: a person's; 0: none).",
        )
        parser.add_argument(
            "--mix",
            default=",".join(f"{name}={weight}" for name, weight in load.FLOOR_MIX.items()),
            help="Weights of the actions (default: 80%% searches, 10%% views, 5%% reuses, "
            "5%% new or edited entries).",
        )
        parser.add_argument(
            "--min-actions",
            type=int,
            default=0,
            help="Each virtual rep does at least this many actions per step, however long.",
        )
        parser.add_argument(
            "--logins", type=int, default=len(DEMO_REPS), help="Demo reps logged in."
        )
        parser.add_argument("--seed", type=int, default=7, help="Seed of the reps' choices.")
        parser.add_argument(
            "--quick", action="store_true", help="A tiny run that checks the machinery."
        )
        parser.add_argument("--site-facts", action="store_true", help="(internal)")
        parser.add_argument("--verify", type=Path, help="(internal) check the writes listed.")

    def handle(self, *args, quick: bool, site_facts: bool, verify: Path | None, **options):
        if site_facts:
            self.stdout.write(json.dumps(read_site_facts()))
            return
        if verify:
            writes = json.loads(verify.read_text(encoding="utf-8"))
            self.stdout.write(json.dumps(stored_write_failures(writes)))
            return
        if quick:
            options.update(QUICK)
        try:
            mix = load.parse_mix(options.pop("mix"))
            steps = [int(step) for step in options.pop("steps").split(",")]
        except ValueError as error:
            raise CommandError(f"--mix or --steps: {error}") from error
        if not steps or min(steps) < 1 or max(steps) > 256:
            raise CommandError("--steps: virtual reps per step, 1 to 256 each.")
        if not 1 <= options["logins"] <= len(DEMO_REPS):
            raise CommandError(f"--logins: 1 to {len(DEMO_REPS)} demo reps.")
        # A stop from outside (SIGTERM, Ctrl-C) unwinds through the finally that
        # stops the server.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        self.run_site(mix=mix, steps=steps, **options)

    def run_site(
        self, *, mix: dict, steps: list[int], entries: int, workers: int, **options
    ) -> None:
        started = time.monotonic()
        site = FreshSite()
        site.env.update(
            {
                "KB_SEARCH_BACKEND": "whoosh",
                "SECRET_KEY": secrets.token_urlsafe(50),
                "DEBUG": "0",
                "KB_HTTPS": "0",  # plain HTTP on loopback in production mode
                "WEB_CONCURRENCY": str(workers),
            }
        )
        for name in ("REDIS_URL", "KB_INDEX_DIR", "ALLOWED_HOSTS"):
            site.env.pop(name, None)  # the throwaway site's own, never the user's
        with site:
            self.stdout.write(f"Throwaway site in {site.data_dir}: demo floor, growing...")
            site.manage("seed_demo")
            demo_count = len(json.loads(DEMO_ENTRIES.read_text(encoding="utf-8")))
            source = site.data_dir / "corpus.jsonl"
            corpus.write_jsonl(source, max(0, entries - demo_count))
            site.manage("import_entries", str(source))
            facts = site.measure("loadtest", "--site-facts")
            server = Server("load", site.env, site.data_dir)
            server.start()
            try:
                server.wait_ready(time.monotonic() + 60)
                self.stdout.write(
                    f"{facts['entries']:,} entries; gunicorn, {workers} workers, on "
                    f"{server.base} (DEBUG=0, SQLite, Whoosh); set up in "
                    f"{time.monotonic() - started:.0f} s. The client runs on the same machine."
                )
                failures = asyncio.run(
                    self.drive(server, site, facts["entry_ids"], mix=mix, steps=steps, **options)
                )
                if failures:
                    self.stderr.write(f"--- server log:\n{server.log_tail(60)}")
            except Failed as failure:
                self.stderr.write(f"--- server log:\n{server.log_tail()}")
                raise CommandError(f"loadtest failed: {failure}") from None
            finally:
                server.stop()
        if failures:
            shown = "\n".join(f"  {failure}" for failure in failures[:20])
            more = f"\n  ... and {len(failures) - 20} more" if len(failures) > 20 else ""
            raise CommandError(f"loadtest failed {len(failures)} check(s):\n{shown}{more}")
        self.stdout.write(self.style.SUCCESS(f"ok in {time.monotonic() - started:.0f} s"))

    async def drive(
        self,
        server: Server,
        site: FreshSite,
        entry_ids: list[int],
        *,
        mix: dict,
        steps: list[int],
        seconds: float,
        pace: float,
        min_actions: int,
        logins: int,
        seed: int,
        **options,
    ) -> list[str]:
        """The steps, then the checks: the failures found (none is success)."""
        try:
            sessions = [
                await load.log_in(server.base, username, DEMO_PASSWORD)
                for username in DEMO_REPS[:logins]
            ]
        except (RuntimeError, load.httpx.HTTPError) as error:
            raise Failed(f"logging in the demo reps: {error}") from error
        floor = load.Floor(
            base=server.base,
            queries=corpus.queries(500, seed=seed),
            entry_ids=entry_ids,
            pace=pace,
            seed=seed,
        )
        self.stdout.write(
            f"{logins} demo reps logged in; steps of {seconds:g} s; mix "
            + ", ".join(f"{name} {weight}" for name, weight in mix.items())
        )
        errors, rows = 0, []
        for reps in steps:
            tally, elapsed = await load.run_step(
                floor, sessions, reps=reps, seconds=seconds, mix=mix, min_actions=min_actions
            )
            self.print_step(reps, tally, elapsed)
            rows.append((reps, tally, elapsed))
            errors += sum(tally.errors.values())
        self.print_summary(rows)
        failures = [f"{errors} request(s) failed (see the steps above)"] if errors else []
        failures += await load.unsearchable(server.base, sessions[0], floor.writes)
        listed = site.data_dir / "writes.json"
        listed.write_text(json.dumps(floor.writes.as_dict()), encoding="utf-8")
        failures += site.measure("loadtest", "--verify", str(listed))
        writes = floor.writes
        self.stdout.write(
            f"Checked {len(writes.created)} new entries, {len(writes.edits)} edits and "
            f"{len(writes.reuses)} reuses: "
            + ("all stored and searchable." if not failures else f"{len(failures)} failure(s).")
        )
        return failures

    def print_step(self, reps: int, tally: load.Tally, elapsed: float) -> None:
        errors = sum(tally.errors.values())
        self.stdout.write(
            f"\n{reps} virtual rep{'s' if reps > 1 else ''}, {elapsed:.1f} s: "
            f"{tally.requests:,} requests, {tally.requests / elapsed:.1f} requests/s, "
            f"{errors} errors, {tally.conflicts} edit conflicts (409, shown to the rep)"
        )
        self.stdout.write(
            "  actions: " + ", ".join(f"{name} {count}" for name, count in tally.actions.items())
        )
        self.stdout.write(
            f"  {'kind':<8} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}"
        )
        for kind, values in tally.latencies.items():
            if not values:
                continue
            figures = " ".join(f"{percentile(values, pct):>8.0f}" for pct in (50, 95, 99))
            self.stdout.write(f"  {kind:<8} {len(values):>8} {figures} {tally.errors[kind]:>7}")
        for example in tally.examples:
            self.stdout.write(f"  error: {example}")

    def print_summary(self, rows: list) -> None:
        self.stdout.write(
            f"\n{'reps':>5} {'req/s':>7} {'search p50/p95/p99 ms':>22} "
            f"{'write p50/p95/p99 ms':>21} {'errors':>7}"
        )
        for reps, tally, elapsed in rows:
            cells = []
            for kind in ("search", "write"):
                values = tally.latencies[kind]
                cells.append(
                    "/".join(f"{percentile(values, pct):.0f}" for pct in (50, 95, 99))
                    if values
                    else "-"
                )
            self.stdout.write(
                f"{reps:>5} {tally.requests / elapsed:>7.1f} {cells[0]:>22} {cells[1]:>21} "
                f"{sum(tally.errors.values()):>7}"
            )


def read_site_facts() -> dict:
    from kb.models import Entry

    ids = list(Entry.objects.exclude(state=Entry.State.DRAFT).values_list("pk", flat=True))
    return {"entries": Entry.objects.count(), "entry_ids": ids}


def stored_write_failures(writes: dict) -> list[str]:
    """Each accepted write checked in the database: what is missing or wrong."""
    from kb.models import Entry, Reuse, Revision

    failures = []
    for made in writes["created"]:
        entry = Entry.objects.filter(pk=made["id"]).first()
        if entry is None:
            failures.append(f"new entry #{made['id']} ({made['marker']}) is not stored")
        elif (
            entry.question != " ".join(made["question"].split())
            or entry.answer != made["answer"].strip()
        ):
            failures.append(f"new entry #{made['id']} is stored with other text")
        elif not entry.revisions.filter(number=1).exists():
            failures.append(f"new entry #{made['id']} has no first revision")
    for edit in writes["edits"]:
        revision = Revision.objects.filter(
            entry_id=edit["id"], number=edit["revision"], kind=Revision.Kind.EDITED
        ).first()
        if revision is None or edit["marker"] not in revision.answer:
            failures.append(f"edit of #{edit['id']} made no revision {edit['revision']}")
        elif edit["marker"] not in Entry.objects.get(pk=edit["id"]).answer:
            failures.append(f"edit of #{edit['id']} ({edit['marker']}) lost by a later save")
    for reuse in writes["reuses"]:
        if not Reuse.objects.filter(entry_id=reuse["id"], case_ref=reuse["case"]).exists():
            failures.append(f"reuse of #{reuse['id']} for case {reuse['case']} not counted")
    return failures
