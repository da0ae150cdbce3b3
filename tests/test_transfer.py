"""Moving entries between sites: import_entries, export_entries and the round trip."""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from taggit.models import Tag

from kb import actions, search
from kb.actions import EntryContent
from kb.models import Entry, Revision

pytestmark = pytest.mark.django_db

ENTRY_KEYS = {
    "id",
    "question",
    "answer",
    "also_asked",
    "environment",
    "cause",
    "tags",
    "state",
    "author",
    "owner",
    "created",
    "updated",
    "revisions",
}
REVISION_KEYS = {
    "question",
    "answer",
    "also_asked",
    "environment",
    "cause",
    "tags",
    "state",
    "editor",
    "summary",
    "created",
    "kind",
}


def line(**fields) -> dict:
    """One valid import line, with ``fields`` changed."""
    return {
        "question": "How do I reset the router?",
        "answer": "Hold the reset button for 10 seconds.",
        "tags": ["broadband"],
        "state": "published",
        "author": None,
        "created": "2024-03-01T09:30:00+00:00",
        **fields,
    }


def write_jsonl(path: Path, rows: list) -> Path:
    """A .jsonl file: dicts are serialised, strings written as they are."""
    text = "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)
    path.write_text(text, encoding="utf-8")
    return path


def run(*args) -> str:
    """Run a command as a person would; returns what it printed."""
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def import_error(path: Path) -> str:
    """The message of a refused import."""
    with pytest.raises(CommandError) as caught:
        run("import_entries", str(path))
    return str(caught.value)


@pytest.fixture
def jsonl(tmp_path):
    return lambda rows, name="entries.jsonl": write_jsonl(tmp_path / name, rows)


# -- import: what lands ------------------------------------------------------------


def test_import_valid_file_creates_entries_as_given(jsonl, rep):
    path = jsonl(
        [
            line(
                question="Why is the bill higher this month?",
                answer="Check for a **pro-rata** charge.",
                tags=["billing", "invoices"],
                state="validated",
                author="rita",
                created="2024-03-01T09:30:00+00:00",
            ),
            line(question="How do I port a number?", tags=[], state="draft", author="rita"),
            line(question="What is the outage page?", state="archived"),
        ]
    )

    output = run("import_entries", str(path))

    assert "Imported 3 entries" in output
    bill = Entry.objects.get(question="Why is the bill higher this month?")
    assert bill.answer == "Check for a **pro-rata** charge."
    assert bill.tag_names() == ["billing", "invoices"]
    assert bill.state == "validated"
    assert bill.author == rep
    assert bill.owner == rep
    assert bill.created_at == datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
    assert Entry.objects.get(question="How do I port a number?").state == "draft"
    assert Entry.objects.get(question="What is the outage page?").state == "archived"


def test_import_created_with_offset_is_kept_as_that_instant(jsonl, db):
    run("import_entries", str(jsonl([line(created="2024-06-01T12:00:00+02:00")])))

    created = Entry.objects.get().created_at
    assert timezone.is_aware(created)
    assert created == datetime(2024, 6, 1, 10, 0, tzinfo=UTC)


def test_import_created_date_only_is_midnight(jsonl, db):
    run("import_entries", str(jsonl([line(created="2023-11-05")])))

    created = Entry.objects.get().created_at
    assert timezone.is_aware(created)
    assert created == datetime(2023, 11, 5, tzinfo=UTC)


def test_import_created_null_is_now(jsonl, db):
    before = timezone.now()
    run("import_entries", str(jsonl([line(created=None)])))

    entry = Entry.objects.get()
    assert before <= entry.created_at <= timezone.now()
    assert entry.updated_at == entry.created_at


def test_import_entries_are_findable_by_search(jsonl, rep, django_capture_on_commit_callbacks):
    path = jsonl(
        [
            line(question="Roaming data stops in Spain", answer="Turn on data roaming."),
            line(question="Voicemail PIN forgotten", answer="Reset it from the **portal**."),
        ]
    )

    with django_capture_on_commit_callbacks(execute=True):
        run("import_entries", str(path))

    roaming = search.search("roaming spain", user=rep)
    voicemail = search.search("portal", user=rep)
    assert [r.entry.question for r in roaming.results] == ["Roaming data stops in Spain"]
    assert [r.entry.question for r in voicemail.results] == ["Voicemail PIN forgotten"]


def test_import_large_file_is_findable_by_search(jsonl, rep, django_capture_on_commit_callbacks):
    rows = [line(question=f"Router model R{n} blinks amber", tags=[]) for n in range(600)]
    rows.append(line(question="Porting a number from Zephyrtel", answer="Ask for the PAC."))

    with django_capture_on_commit_callbacks(execute=True):
        run("import_entries", str(jsonl(rows)))

    found = search.search("zephyrtel", user=rep)
    assert [r.entry.question for r in found.results] == ["Porting a number from Zephyrtel"]
    assert search.search("amber", user=rep).total == 600


def test_import_unknown_author_is_created_inactive_without_password(jsonl, db):
    run("import_entries", str(jsonl([line(author="former.agent")])))

    author = User.objects.get(username="former.agent")
    assert not author.is_active
    assert not author.has_usable_password()
    assert Entry.objects.get().author == author


def test_import_known_author_is_reused(jsonl, rep):
    users = User.objects.count()

    run("import_entries", str(jsonl([line(author="rita"), line(question="Q2?", author="rita")])))

    assert User.objects.count() == users
    assert set(Entry.objects.values_list("author", flat=True)) == {rep.pk}
    rep.refresh_from_db()
    assert rep.is_active


def test_import_null_author_is_allowed(jsonl, db):
    run("import_entries", str(jsonl([line(author=None)])))

    entry = Entry.objects.get()
    assert entry.author is None
    assert entry.revisions.get().editor is None


def test_import_gives_each_entry_revision_1_imported(jsonl, db):
    run("import_entries", str(jsonl([line(), line(question="Another question?")])))

    for entry in Entry.objects.all():
        revision = entry.revisions.get()
        assert entry.version == 1
        assert (revision.number, revision.summary) == (1, "Imported")
        assert (revision.question, revision.answer) == (entry.question, entry.answer)
        assert revision.created_at == entry.created_at


def test_import_tags_are_lowercased_and_existing_tags_reused(jsonl, make_entry):
    make_entry(tags=("broadband",))
    path = jsonl(
        [
            line(tags=["Broadband", "  Fibre  Faults "]),
            line(question="Q2?", tags=["FIBRE faults"]),
        ]
    )

    run("import_entries", str(path))

    assert sorted(Tag.objects.values_list("name", flat=True)) == ["broadband", "fibre faults"]
    imported = Entry.objects.filter(revisions__summary="Imported").distinct()
    assert [e.tag_names() for e in imported.order_by("pk")] == [
        ["broadband", "fibre faults"],
        ["fibre faults"],
    ]


def test_import_question_over_300_characters_is_accepted(jsonl, db):
    question = "Why " + "x" * 996

    run("import_entries", str(jsonl([line(question=question)])))

    assert Entry.objects.get().question == question


def test_import_tolerates_blank_lines_and_bom(tmp_path, db):
    path = tmp_path / "bom.jsonl"
    rows = [json.dumps(line()), "", "   ", json.dumps(line(question="Q2?")), ""]
    path.write_text("\ufeff" + "\n".join(rows), encoding="utf-8")

    output = run("import_entries", str(path))

    assert "Imported 2 entries" in output
    assert Entry.objects.count() == 2


def test_import_dry_run_writes_nothing_and_reports_count(jsonl, db):
    output = run("import_entries", str(jsonl([line(author="new.person"), line()])), "--dry-run")

    assert "2 entries would be imported (dry run)" in output
    assert Entry.objects.count() == 0
    assert not User.objects.filter(username="new.person").exists()


def test_import_large_file_reports_progress(jsonl, db):
    rows = [line(question=f"Question number {n}?", tags=[]) for n in range(1_500)]

    output = run("import_entries", str(jsonl(rows)))

    assert "Checking: 100% (1,500/1,500)" in output
    assert "Importing: 67% (1,000/1,500)" in output
    assert "Importing: 100% (1,500/1,500)" in output
    assert "Imported 1,500 entries" in output
    assert Entry.objects.count() == 1_500


# -- import: refused files ---------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ('{"question": "Unclosed?", ', "not valid JSON"),
        ('["a", "list"]', "each line must be a JSON object"),
        (json.dumps({"answer": "No question."}), "question: Write the question"),
        (json.dumps(line(answer="   ")), "answer: Write the answer"),
        (json.dumps(line(question="q" * 1_001)), "Keep the question to 1000 characters"),
        (json.dumps(line(answer="a" * 50_001)), "limited to 50,000 characters (it has 50,001)"),
        (json.dumps(line(tags="billing")), "tags must be a list of strings"),
        (json.dumps(line(state="pending")), "state must be one of draft, published"),
        (json.dumps(line(author="bad name!")), "author 'bad name!' is not a valid username"),
        (json.dumps(line(created="last tuesday")), "created 'last tuesday' is not an ISO-8601"),
        (
            json.dumps(line(created="2024-02-30T10:00:00")),
            "created '2024-02-30T10:00:00' is not a valid date",
        ),
        (
            json.dumps(line(revisions=[{**line(), "kind": "deleted"}])),
            "revision 1: kind must be one of created, edited, restored, state",
        ),
    ],
    ids=[
        "invalid-json",
        "array",
        "missing-question",
        "empty-answer",
        "long-question",
        "long-answer",
        "tags-not-list",
        "unknown-state",
        "bad-author",
        "bad-date",
        "impossible-date",
        "unknown-revision-kind",
    ],
)
def test_import_bad_line_imports_nothing_and_names_line(jsonl, rep, bad, reason):
    entries, users = Entry.objects.count(), User.objects.count()
    path = jsonl([line(author="new.person"), line(question="Q2?"), bad, line(question="Q4?")])

    message = import_error(path)

    assert "Nothing imported: 1 bad line(s)" in message
    assert "line 3: " in message
    assert reason in message.split("line 3: ", 1)[1]
    assert Entry.objects.count() == entries
    assert User.objects.count() == users


def test_import_several_bad_lines_are_each_named(jsonl, db):
    path = jsonl([line(state="pending"), line(), line(tags="x"), "not json"])

    message = import_error(path)

    assert "Nothing imported: 3 bad line(s)" in message
    assert "line 1: state must be one of" in message
    assert "line 2:" not in message
    assert "line 3: tags must be a list of strings" in message
    assert "line 4: not valid JSON" in message
    assert Entry.objects.count() == 0


def test_import_more_than_20_bad_lines_reports_20_and_more(jsonl, db):
    path = jsonl([line(state="pending") for _ in range(25)] + [line()])

    message = import_error(path)

    assert "Nothing imported: 25 bad line(s)" in message
    assert message.count("state must be one of") == 20
    assert "line 20:" in message
    assert "line 21:" not in message
    assert "… and 5 more bad lines" in message
    assert Entry.objects.count() == 0


def test_import_missing_file_is_a_clear_error(tmp_path, db):
    message = import_error(tmp_path / "nowhere.jsonl")

    assert message.startswith("Cannot read ")
    assert "nowhere.jsonl: No such file or directory" in message


def test_import_non_utf8_file_is_a_clear_error(tmp_path, db):
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(json.dumps(line(question="Café hours?"), ensure_ascii=False).encode("latin-1"))

    message = import_error(path)

    assert "is not UTF-8 text" in message
    assert Entry.objects.count() == 0


# -- export ------------------------------------------------------------------------


def revise(entry, editor, summary: str, **changes):
    """Save a new revision of ``entry`` that changes only ``changes``."""
    return actions.edit_entry(
        entry=entry,
        editor=editor,
        base_version=entry.version,
        content=dataclasses.replace(EntryContent.of(entry), **changes),
        summary=summary,
    )


@pytest.fixture
def edited_entry(make_entry, rep, supervisor):
    entry = make_entry(
        question="Router keeps rebooting",
        answer="Check the power supply.",
        tags=("broadband", "hardware"),
        environment="Hub 4",
        cause="Faulty PSU",
    )
    entry = revise(
        entry, supervisor, "Swap, not check", answer="Swap the power supply.", tags=["broadband"]
    )
    return actions.change_state(
        entry=entry, actor=supervisor, state="validated", base_version=entry.version
    )


def test_export_writes_one_object_per_entry_with_history(tmp_path, edited_entry, make_entry):
    make_entry(question="Second entry?")
    path = tmp_path / "out.jsonl"

    output = run("export_entries", str(path))

    assert f"Exported 2 entries to {path}" in output
    lines = path.read_text(encoding="utf-8").splitlines()
    records = [json.loads(text) for text in lines]
    assert len(records) == 2
    assert all(set(record) == ENTRY_KEYS for record in records)
    record = next(r for r in records if r["id"] == edited_entry.pk)
    assert {k: record[k] for k in ENTRY_KEYS - {"revisions"}} == {
        "id": edited_entry.pk,
        "question": "Router keeps rebooting",
        "answer": "Swap the power supply.",
        "also_asked": [],
        "environment": "Hub 4",
        "cause": "Faulty PSU",
        "tags": ["broadband"],
        "state": "validated",
        "author": "rita",
        "owner": "rita",
        "created": edited_entry.created_at.isoformat(),
        "updated": edited_entry.updated_at.isoformat(),
    }


def test_export_revisions_are_oldest_first(tmp_path, edited_entry):
    path = tmp_path / "out.jsonl"

    run("export_entries", str(path))

    revisions = json.loads(path.read_text(encoding="utf-8"))["revisions"]
    assert all(set(revision) == REVISION_KEYS for revision in revisions)
    assert [(r["summary"], r["editor"], r["state"]) for r in revisions] == [
        ("Created", "rita", "published"),
        ("Swap, not check", "sam", "published"),
        ("Published → Validated", "sam", "validated"),
    ]
    assert [r["answer"] for r in revisions] == [
        "Check the power supply.",
        "Swap the power supply.",
        "Swap the power supply.",
    ]
    assert revisions[0]["tags"] == ["broadband", "hardware"]
    assert revisions[0]["created"] == edited_entry.revisions.get(number=1).created_at.isoformat()


def test_export_dash_writes_to_stdout(edited_entry):
    printed = run("export_entries", "-")

    assert json.loads(printed)["question"] == "Router keeps rebooting"
    assert len(printed.splitlines()) == 1


def test_export_unwritable_path_is_a_clear_error(tmp_path, edited_entry):
    target = tmp_path / "no-such-folder" / "out.jsonl"

    with pytest.raises(CommandError, match=r"Cannot write .*out\.jsonl: No such file or directory"):
        run("export_entries", str(target))


# -- round trip --------------------------------------------------------------------


def snapshot() -> dict[str, dict]:
    """Everything an export promises to carry, per entry, keyed by question: what it
    says, its tags, state, people and times, and each revision's content, editor, time
    and kind."""
    entries = Entry.objects.select_related("author", "owner").prefetch_related("tags")
    return {
        entry.question: {
            "answer": entry.answer,
            "also_asked": entry.also_asked,
            "environment": entry.environment,
            "cause": entry.cause,
            "tags": entry.tag_names(),
            "state": entry.state,
            "author": entry.author.username if entry.author else None,
            "owner": entry.owner.username if entry.owner else None,
            "created": entry.created_at,
            "updated": entry.updated_at,
            "version": entry.version,
            "revisions": [
                (
                    r.number,
                    r.kind,
                    r.question,
                    r.answer,
                    r.also_asked,
                    r.environment,
                    r.cause,
                    r.tags,
                    r.state,
                    r.editor.username if r.editor else None,
                    r.summary,
                    r.created_at,
                )
                for r in entry.revisions.select_related("editor").order_by("number")
            ],
        }
        for entry in entries
    }


@pytest.fixture
def floor(make_entry, rep, other_rep, supervisor):
    """A small floor: edits, state changes, tags, context, a draft and an archived entry."""
    edited = make_entry(
        question="Broadband drops every evening",
        answer="Run the line test.",
        tags=("broadband", "faults"),
        environment="Fibre 500",
        cause="Line noise",
        also_asked="internet cuts out at night",
    )
    edited = revise(
        edited,
        other_rep,
        "Engineer step",
        answer="Run the line test, then book an engineer.",
        tags=["broadband", "faults", "engineers"],
        also_asked="internet cuts out at night\nwifi gone after 6pm",
    )
    edited = actions.change_state(
        entry=edited,
        actor=supervisor,
        state="validated",
        base_version=edited.version,
    )
    actions.restore_revision(
        entry=edited,
        revision=edited.revisions.get(number=1),
        editor=supervisor,
        base_version=edited.version,
    )
    make_entry(question="Draft: porting from abroad", answer="Unknown yet.", state="draft")
    make_entry(
        question="Old tariff upgrade path",
        answer="No longer offered.",
        tags=("tariffs",),
        state="archived",
    )
    adopted = make_entry(question="Omar's SIM swap steps", answer="Verify ID.", author=other_rep)
    Entry.objects.filter(pk=adopted.pk).update(owner=supervisor)  # owned by someone else


def test_export_then_import_reproduces_every_entry(tmp_path, floor):
    before = snapshot()
    assert {e["owner"] for e in before.values()} == {"rita", "sam"}  # the floor has both
    assert "restored" in {r[1] for e in before.values() for r in e["revisions"]}
    path = tmp_path / "export.jsonl"
    run("export_entries", str(path))
    Entry.objects.all().delete()
    Tag.objects.all().delete()

    run("import_entries", str(path))

    assert snapshot() == before
    assert Revision.objects.filter(summary="Imported").count() == 0


def test_export_imported_into_empty_site_keeps_attribution(tmp_path, floor):
    before = snapshot()
    path = tmp_path / "export.jsonl"
    run("export_entries", str(path))
    Entry.objects.all().delete()
    Tag.objects.all().delete()
    User.objects.all().delete()

    run("import_entries", str(path))

    assert snapshot() == before
    assert sorted(User.objects.values_list("username", "is_active")) == [
        ("omar", False),
        ("rita", False),
        ("sam", False),
    ]


def test_export_of_imported_export_is_identical_but_ids(tmp_path, floor):
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    run("export_entries", str(first))
    Entry.objects.all().delete()
    Tag.objects.all().delete()
    run("import_entries", str(first))

    run("export_entries", str(second))

    def without_ids(path: Path) -> list[dict]:
        rows = [json.loads(text) for text in path.read_text(encoding="utf-8").splitlines()]
        return [{k: v for k, v in row.items() if k != "id"} for row in rows]

    assert without_ids(second) == without_ids(first)


def test_every_save_records_what_it_did_and_an_import_keeps_it(tmp_path, edited_entry):
    """Credit depends on it: creating, editing and restoring change content, a state
    change does not."""
    entry = actions.restore_revision(
        entry=edited_entry,
        revision=edited_entry.revisions.get(number=1),
        editor=edited_entry.author,
        base_version=edited_entry.version,
    )
    kinds = list(entry.revisions.order_by("number").values_list("kind", flat=True))
    assert kinds == ["created", "edited", "state", "restored"]
    path = tmp_path / "export.jsonl"
    run("export_entries", str(path))
    Entry.objects.all().delete()

    run("import_entries", str(path))

    imported = Revision.objects.order_by("number").values_list("kind", flat=True)
    assert list(imported) == ["created", "edited", "state", "restored"]


def test_import_of_a_history_without_kinds_infers_them(tmp_path, edited_entry):
    """Exports made before revisions carried their kind: the first save created the
    entry, one that left the content alone changed the state, the others edited it."""
    actions.restore_revision(
        entry=edited_entry,
        revision=edited_entry.revisions.get(number=1),
        editor=edited_entry.author,
        base_version=edited_entry.version,
    )
    path = tmp_path / "export.jsonl"
    run("export_entries", str(path))
    record = json.loads(path.read_text(encoding="utf-8"))
    for revision in record["revisions"]:
        del revision["kind"]
    write_jsonl(path, [record])
    Entry.objects.all().delete()

    run("import_entries", str(path))

    imported = Revision.objects.order_by("number").values_list("kind", flat=True)
    assert list(imported) == ["created", "edited", "state", "edited"]
