"""Load the demo floor: its people, a few dozen entries, and a few weeks of history.

Idempotent: people and entries that already exist are left as they are, so running it
again (as ``make run`` does) adds nothing twice.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from kb import actions, search
from kb.actions import EntryContent
from kb.demo.history import WEEKS, seed_history
from kb.models import Entry, SearchEvent, SynonymGroup

DEMO_PASSWORD = "floorbook-demo"
DEMO_PEOPLE = [
    ("rep1", "Reps", "Riley", "Adams"),
    ("rep2", "Reps", "Jordan", "Okafor"),
    ("supervisor", "Supervisors", "Sam", "Patel"),
    ("rep3", "Reps", "Priya", "Shah"),
    ("rep4", "Reps", "Marco", "Rossi"),
    ("rep5", "Reps", "Ana", "Lima"),
    ("rep6", "Reps", "Tom", "Becker"),
]
FORMER_REP = ("lee", "Reps", "Lee", "Morgan")  # has left: their entries are orphaned
PRINTED_LOGINS = 3  # rep1, rep2, supervisor; rep3..rep6 exist to make the floor real
DEMO_ENTRIES = Path(__file__).resolve().parents[2] / "demo" / "entries.json"
DEMO_SYNONYMS = "wifi, wi-fi, wireless\nsim, sim card\nbill, invoice, statement\nrouter, hub"


class Command(BaseCommand):
    help = "Create the demo users and entries (safe to run again: nothing is duplicated)."

    def handle(self, *args, **options):
        with search.indexing_deferred(), transaction.atomic():
            people = self.ensure_people()
            created = self.load_entries(people)
            if not SynonymGroup.objects.exists():
                actions.save_synonyms(actor=people["supervisor"], text=DEMO_SYNONYMS)
        if created:
            self.stdout.write(self.style.SUCCESS(f"Loaded {created} demo entries."))
        else:
            self.stdout.write("Demo entries already loaded.")
        if not SearchEvent.objects.exists():
            with search.indexing_deferred(), transaction.atomic():
                added = seed_history(people, now=timezone.now())
            summary = ", ".join(f"{count} {kind}" for kind, count in added.items())
            self.stdout.write(self.style.SUCCESS(f"Added {WEEKS} weeks of history: {summary}."))
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, group, *_ in DEMO_PEOPLE[:PRINTED_LOGINS]:
            self.stdout.write(f"  {username:<11} {group}")
        others = ", ".join(username for username, *_ in DEMO_PEOPLE[PRINTED_LOGINS:])
        self.stdout.write(f"  (more reps: {others})")

    def ensure_people(self) -> dict[str, User]:
        people = {}
        password = make_password(DEMO_PASSWORD)  # hashing is slow by design: once for all
        for username, group, first, last in [*DEMO_PEOPLE, FORMER_REP]:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "is_active": username != FORMER_REP[0],
                },
            )
            if created:
                user.password = password
                user.save(update_fields=["password"])
                user.groups.add(Group.objects.get(name=group))
            people[username] = user
        return people

    def load_entries(self, people: dict[str, User]) -> int:
        now = timezone.now()
        items = json.loads(DEMO_ENTRIES.read_text(encoding="utf-8"))
        existing = set(Entry.objects.values_list("question", flat=True))
        created = 0
        for item in items:
            if item["question"] in existing:
                continue
            content = EntryContent(
                question=item["question"],
                answer=item["answer"],
                tags=item["tags"],
                environment=item["environment"],
                cause=item["cause"],
            )
            entry = actions.capture_entry(
                author=people[item["author"]],
                content=content,
                state=Entry.State.DRAFT if item["state"] == "draft" else Entry.State.PUBLISHED,
                created_at=now - timedelta(days=item["days_ago"]),
            )
            for edit in item["edits"]:
                entry = actions.edit_entry(
                    entry=entry,
                    editor=people[edit["editor"]],
                    base_version=entry.version,
                    content=EntryContent(**{**content.__dict__, "answer": edit["answer"]}),
                    summary=edit["summary"],
                    at=now - timedelta(days=edit["days_ago"]),
                )
            if item["state"] in (Entry.State.VALIDATED, Entry.State.ARCHIVED):
                actions.change_state(
                    entry=entry,
                    actor=people["supervisor"],
                    state=item["state"],
                    base_version=entry.version,
                    at=entry.updated_at + timedelta(hours=2),
                )
            created += 1
        return created
