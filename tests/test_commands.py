"""Operating commands: rebuild_index and seed_demo."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db.models import Count, F, Q
from django.utils import timezone

from kb import actions, search
from kb.actions import EntryContent
from kb.models import (
    Entry,
    Flag,
    Notification,
    Question,
    Reuse,
    Revision,
    SearchEvent,
    Team,
)

pytestmark = pytest.mark.django_db

DEMO_PASSWORD = "floorbook-demo"


def run(*args) -> str:
    """Run a command as a person would; returns what it printed."""
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def found(text: str, user) -> list[str]:
    return [result.entry.question for result in search.search(text, user=user).results]


# -- rebuild_index -----------------------------------------------------------------


def test_search_after_index_wiped_answers_from_the_database_and_refills_it(entry, rep):
    search.get_backend().clear()

    wiped = search.search("broadband", user=rep)

    assert [r.entry.question for r in wiped.results] == [entry.question]
    assert wiped.incomplete
    assert search.get_backend().document_count() == 1  # repaired (inline in tests)
    assert not search.search("broadband", user=rep).incomplete


def test_rebuild_index_restores_wiped_index(entry, make_entry, rep):
    make_entry(question="Voicemail PIN forgotten", answer="Reset it in the portal.")
    search.get_backend().clear()

    output = run("rebuild_index")

    assert "Indexed 2 entries" in output
    assert found("broadband", rep) == [entry.question]
    assert found("voicemail", rep) == ["Voicemail PIN forgotten"]


def test_rebuild_index_if_empty_leaves_populated_index(entry, rep):
    unindexed = actions.capture_entry(
        author=rep, content=EntryContent(question="Unindexed roaming question", answer="Yes.")
    )
    search.get_backend().remove([unindexed.pk])  # the PostgreSQL backend indexed it at once

    output = run("rebuild_index", "--if-empty")

    assert output.strip() == "Search index is ready."
    assert search.get_backend().document_count() == 1
    assert found("roaming", rep) == []


def test_rebuild_index_if_empty_rebuilds_empty_index(entry, rep):
    search.get_backend().clear()

    output = run("rebuild_index", "--if-empty")

    assert "Indexed 1 entry" in output
    assert found("broadband", rep) == [entry.question]


def test_rebuild_index_if_empty_with_empty_database_does_nothing(db):
    output = run("rebuild_index", "--if-empty")

    assert output.strip() == "Search index is ready."
    assert search.get_backend().document_count() == 0


# -- seed_demo ---------------------------------------------------------------------


@pytest.fixture
def seeded(db) -> str:
    return run("seed_demo")


def test_seed_demo_creates_reps_and_supervisor_with_demo_password(seeded):
    for username, group in [("rep1", "Reps"), ("rep2", "Reps"), ("supervisor", "Supervisors")]:
        user = User.objects.get(username=username)
        assert user.check_password(DEMO_PASSWORD)
        assert list(user.groups.values_list("name", flat=True)) == [group]
    assert User.objects.get(username="supervisor").has_perm("kb.review_gaps")
    assert not User.objects.get(username="rep1").has_perm("kb.review_gaps")
    assert Group.objects.get(name="Supervisors").permissions.filter(codename="review_gaps")


def test_seed_demo_creates_tagged_entries_with_history_in_every_state(seeded):
    entries = Entry.objects.annotate(revision_count=Count("revisions", distinct=True))

    assert entries.count() >= 60
    assert not entries.filter(tags=None).exists()
    assert entries.filter(revision_count__gte=3).exists()
    assert {"published", "validated", "draft", "archived"} <= set(
        entries.values_list("state", flat=True)
    )
    assert all(e.version == e.revision_count for e in entries)


def test_seed_demo_prints_the_logins(seeded):
    assert f"Demo logins (password for all: {DEMO_PASSWORD}):" in seeded
    assert "rep1" in seeded
    assert "rep2" in seeded
    assert "supervisor  Supervisors" in seeded


def test_seed_demo_twice_creates_nothing_more(seeded):
    def counts():
        models = (Entry, Revision, User, SearchEvent, Reuse, Flag, Question, Notification)
        return [model.objects.count() for model in models]

    before = counts()
    output = run("seed_demo")

    assert "Demo entries already loaded." in output
    assert counts() == before


def test_seed_demo_adds_weeks_of_history_for_every_review_page(seeded):
    """Every page of the gaps review, measures, profiles and the inbox has real data."""
    assert "weeks of history" in seeded
    events = SearchEvent.objects.all()
    assert events.count() > 500
    assert events.filter(result_count=0).exists()
    assert events.filter(result_count__gt=0, reused=False).exists()
    gap = events.filter(normalized="nat xbox")
    assert gap.count() >= 3 and gap.filter(query="why is my xbox nat").exists()
    assert gap.aggregate(n=Count("result_count", filter=Q(result_count__gt=0)))["n"] == 0
    reuses = Reuse.objects.all()
    assert reuses.filter(search_event__reused=True).count() == reuses.count() > 100
    assert reuses.exclude(case_ref="").exists() and reuses.filter(case_ref="").exists()
    assert events.dates("created_at", "week").count() >= 4
    assert Flag.objects.filter(state="open").count() >= 3
    assert Flag.objects.filter(state="resolved", resolution_revision__isnull=False).exists()
    assert Question.objects.filter(state="open").count() >= 3
    assert Question.objects.filter(state="answered", answer_entry__isnull=False).exists()
    assert Entry.objects.filter(owner__is_active=False).count() == 3
    assert Entry.objects.filter(review_due_at__lt=timezone.now()).exists()
    assert Notification.objects.filter(read_at=None).exists()
    # Worded like the actions' own notifications, people by name.
    assert Notification.objects.filter(text__startswith="Sam Patel asked you to answer").exists()
    assert Team.objects.count() == 2
    improvers = Revision.objects.filter(number__gt=1).exclude(editor=F("entry__author"))
    assert improvers.values("editor").distinct().count() >= 4


def test_seed_demo_twice_keeps_a_changed_password(seeded):
    rep1 = User.objects.get(username="rep1")
    rep1.set_password("my-own-secret-99")
    rep1.save()

    run("seed_demo")

    rep1.refresh_from_db()
    assert rep1.check_password("my-own-secret-99")
    assert not rep1.check_password(DEMO_PASSWORD)


def test_index_of_an_older_schema_is_recreated_and_refilled(whoosh_index, rep, make_entry):
    """After an upgrade changes the Whoosh index's fields, the old index is replaced, not
    misread. (The PostgreSQL backend's schema changes with migrations.)"""
    search_index = whoosh_index
    entry = make_entry(question="Router lights flashing amber", answer="Check the cable.")
    search.reset_backend()
    (search_index / "floorbook-schema-version").write_text("0")

    assert search.get_backend().document_count() == 0
    out = io.StringIO()
    call_command("rebuild_index", "--if-empty", stdout=out)

    assert "Indexed 1 entry" in out.getvalue()
    assert [r.entry.pk for r in search.search("amber", user=rep).results] == [entry.pk]


def test_deferred_indexing_indexes_every_write_once_the_block_ends(rep):
    with search.indexing_deferred():
        first = actions.capture_entry(
            author=rep, content=EntryContent(question="Amber router light", answer="Cable.")
        )
        actions.edit_entry(
            entry=first,
            editor=rep,
            base_version=first.version,
            content=EntryContent(question="Amber router light", answer="Check the cable."),
        )
        assert search.get_backend().document_count() == 0

    assert [r.entry.pk for r in search.search("amber", user=rep).results] == [first.pk]
    assert "cable" in str(search.search("check cable", user=rep).results[0].snippet_html)


def test_deferred_indexing_indexes_nothing_when_the_block_fails(rep):
    with pytest.raises(RuntimeError), search.indexing_deferred():
        actions.capture_entry(
            author=rep, content=EntryContent(question="Amber router light", answer="Cable.")
        )
        raise RuntimeError("the seed failed half way")

    assert search.get_backend().document_count() == 0
