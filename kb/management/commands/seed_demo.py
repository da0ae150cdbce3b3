"""Load the demo floor: three people and a few dozen entries with history.

Idempotent: people and entries that already exist are left as they are, so running it
again (as ``make run`` does) adds nothing twice.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from django.contrib.auth.models import Group, User
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from kb import actions
from kb.actions import EntryContent
from kb.models import Entry, SynonymGroup

DEMO_PASSWORD = "floorbook-demo"
DEMO_PEOPLE = [
    ("rep1", "Reps", "Riley", "Adams"),
    ("rep2", "Reps", "Jordan", "Okafor"),
    ("supervisor", "Supervisors", "Sam", "Patel"),
]
DEMO_ENTRIES = Path(__file__).resolve().parents[2] / "demo" / "entries.json"
DEMO_SYNONYMS = "wifi, wi-fi, wireless\nsim, sim card\nbill, invoice, statement\nrouter, hub"


class Command(BaseCommand):
    help = "Create the demo users and entries (safe to run again: nothing is duplicated)."

    def handle(self, *args, **options):
        with transaction.atomic():
            people = self.ensure_people()
            created = self.load_entries(people)
            if not SynonymGroup.objects.exists():
                actions.save_synonyms(actor=people["supervisor"], text=DEMO_SYNONYMS)
        if created:
            self.stdout.write(self.style.SUCCESS(f"Loaded {created} demo entries."))
        else:
            self.stdout.write("Demo entries already loaded.")
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, group, *_ in DEMO_PEOPLE:
            self.stdout.write(f"  {username:<11} {group}")

    def ensure_people(self) -> dict[str, User]:
        people = {}
        for username, group, first, last in DEMO_PEOPLE:
            user, created = User.objects.get_or_create(
                username=username, defaults={"first_name": first, "last_name": last}
            )
            if created:
                user.set_password(DEMO_PASSWORD)
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
