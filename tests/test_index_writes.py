"""Writing to the search index: waiting for other writers, and never losing an entry.

The lock tests are about the Whoosh index's files, so they use the Whoosh backend under
either suite; the rest run against the suite's backend.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from whoosh.index import LockError

from kb import actions, search
from kb.actions import EntryContent
from kb.models import Entry
from kb.search import whoosh_backend
from kb.search.documents import EntryDocument

# How long the test holds the index lock before letting the waiting writer in.
HOLD = 0.5


def document(entry_id: int) -> EntryDocument:
    return EntryDocument(
        id=entry_id,
        question=f"Question {entry_id} about the router",
        also_asked="",
        body=f"Answer {entry_id}.",
        tags=["load"],
        state="published",
        author_id=None,
        updated_at=datetime(2024, 1, 1, tzinfo=UTC),
    )


def indexed_ids(path: Path) -> list[int]:
    """Every document id in the index at ``path``, as a fresh reader sees it."""
    backend = whoosh_backend.WhooshBackend(path)
    try:
        with backend.ix.searcher() as searcher:
            return sorted(fields["id"] for fields in searcher.all_stored_fields())
    finally:
        backend.close()


def found(text: str, user) -> list[str]:
    return [result.entry.question for result in search.search(text, user=user).results]


@pytest.fixture
def short_lock_wait(monkeypatch, whoosh_index):
    """Writers give up waiting for the lock sooner, so the retry path runs in the test."""
    monkeypatch.setattr(whoosh_backend, "LOCK_WAIT", 0.1)


@pytest.fixture
def held_lock(whoosh_index):
    """Another writer holding the index lock until the test commits or cancels it."""
    writer = search.get_backend().ix.writer()
    yield writer
    if not writer.is_closed:
        writer.cancel()


def in_thread(work) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run():
        try:
            work()
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


# -- one process, two writers ------------------------------------------------------


@pytest.mark.parametrize("release", ["commit", "cancel"])
def test_index_write_waits_for_another_writer_and_then_lands(short_lock_wait, held_lock, release):
    backend = search.get_backend()
    thread, errors = in_thread(lambda: backend.index_documents([document(1)]))

    time.sleep(HOLD)
    assert thread.is_alive(), "the write should wait while the lock is held"
    assert backend.document_count() == 0
    getattr(held_lock, release)()
    thread.join(timeout=10)

    assert not thread.is_alive()
    assert errors == []
    assert indexed_ids(backend.path) == [1]


def test_index_write_gives_up_with_lock_error_after_deadline(
    short_lock_wait, held_lock, monkeypatch
):
    monkeypatch.setattr(whoosh_backend, "WRITE_DEADLINE", 0.3)

    with pytest.raises(LockError):
        search.get_backend().index_documents([document(1)])


# -- two processes -----------------------------------------------------------------

WRITER_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    from datetime import UTC, datetime
    from pathlib import Path

    import django

    django.setup()
    from kb.search.documents import EntryDocument
    from kb.search.whoosh_backend import WhooshBackend

    first, batches, size = (int(arg) for arg in sys.argv[1:4])
    ready, go = Path(sys.argv[4]), Path(sys.argv[5])
    backend = WhooshBackend(Path(os.environ["KB_INDEX_DIR"]))
    ready.touch()
    while not go.exists():
        time.sleep(0.01)
    for batch in range(batches):
        start = first + batch * size
        backend.index_documents(
            EntryDocument(
                id=n,
                question=f"Question {n}",
                also_asked="",
                body="Written by a process racing another one.",
                tags=["load"],
                state="published",
                author_id=None,
                updated_at=datetime.now(UTC),
            )
            for n in range(start, start + size)
        )
    """
)


def test_two_processes_writing_at_once_lose_nothing(tmp_path, whoosh_index):
    search_index = whoosh_index
    assert search.get_backend().document_count() == 0  # created before the writers start
    search.reset_backend()
    batches, size = 25, 8
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "KB_INDEX_DIR": str(search_index),
        "KB_DATA_DIR": str(tmp_path / "data"),
        "SECRET_KEY": "index-writes-test",
    }
    go = tmp_path / "go"
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRITER_SCRIPT,
                str(first),
                str(batches),
                str(size),
                str(tmp_path / f"ready-{first}"),
                str(go),
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for first in (1, 10_001)
    ]
    deadline = time.monotonic() + 30
    while not all((tmp_path / f"ready-{first}").exists() for first in (1, 10_001)):
        assert all(w.poll() is None for w in writers), [w.communicate() for w in writers]
        assert time.monotonic() < deadline, "writers did not start"
        time.sleep(0.01)
    go.touch()
    results = [writer.communicate(timeout=60) for writer in writers]

    assert [writer.returncode for writer in writers] == [0, 0], results
    assert not any("LockError" in err for _, err in results)
    expected = [*range(1, 1 + batches * size), *range(10_001, 10_001 + batches * size)]
    assert indexed_ids(search_index) == expected


# -- an index failure never loses the entry ----------------------------------------


@pytest.fixture
def broken_index(monkeypatch):
    """The search backend fails every write, as with a full disk."""

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(search.get_backend(), "index_documents", fail)
    return monkeypatch


def test_index_failure_keeps_captured_entry(
    broken_index, rep, django_capture_on_commit_callbacks, caplog
):
    with django_capture_on_commit_callbacks(execute=True):
        entry = actions.capture_entry(
            author=rep,
            content=EntryContent(question="Roaming stops in Spain", answer="Turn on roaming."),
        )

    saved = Entry.objects.get(pk=entry.pk)
    assert saved.question == "Roaming stops in Spain"
    assert list(saved.revisions.values_list("number", "summary")) == [(1, "Created")]
    assert "No space left on device" in caplog.text


def test_index_failure_keeps_edit(broken_index, entry, rep, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        actions.edit_entry(
            entry=entry,
            editor=rep,
            base_version=entry.version,
            content=EntryContent(question=entry.question, answer="Book an engineer."),
            summary="Shorter",
        )

    entry.refresh_from_db()
    assert (entry.version, entry.answer) == (2, "Book an engineer.")
    assert entry.revisions.count() == 2


def test_index_failure_keeps_imported_entries(
    broken_index, tmp_path, db, django_capture_on_commit_callbacks
):
    path = tmp_path / "entries.jsonl"
    path.write_text(
        '{"question": "Roaming stops in Spain", "answer": "Turn on roaming."}\n'
        '{"question": "Voicemail PIN forgotten", "answer": "Reset it."}\n',
        encoding="utf-8",
    )

    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_entries", str(path), stdout=io.StringIO())

    assert Entry.objects.count() == 2


def test_rebuild_after_index_failure_makes_entry_findable(
    entry, broken_index, rep, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        actions.capture_entry(
            author=rep,
            content=EntryContent(question="Roaming stops in Spain", answer="Turn on roaming."),
        )
    missed = search.search("roaming", user=rep)
    assert (missed.total, missed.incomplete) == (0, True)  # the index misses a save
    broken_index.undo()

    call_command("rebuild_index", stdout=io.StringIO())

    rebuilt = search.search("roaming", user=rep)
    assert [r.entry.question for r in rebuilt.results] == ["Roaming stops in Spain"]
    assert not rebuilt.incomplete


# -- the next search sees every write ----------------------------------------------


@pytest.mark.django_db
def test_search_twice_on_empty_index_finds_nothing(rep):
    assert found("router", rep) == []
    assert found("router", rep) == []


def test_search_after_edit_no_longer_matches_replaced_words(
    entry, rep, django_capture_on_commit_callbacks
):
    assert found("evening", rep) == [entry.question]

    with django_capture_on_commit_callbacks(execute=True):
        actions.edit_entry(
            entry=entry,
            editor=rep,
            base_version=entry.version,
            content=EntryContent(question="Customer's fibre keeps dropping", answer=entry.answer),
        )

    assert found("evening", rep) == []
    assert found("dropping", rep) == ["Customer's fibre keeps dropping"]
    search.reset_backend()
    assert search.get_backend().document_count() == 1


def test_search_after_archive_hides_entry(
    entry, rep, supervisor, django_capture_on_commit_callbacks
):
    assert found("broadband", rep) == [entry.question]

    with django_capture_on_commit_callbacks(execute=True):
        actions.change_state(
            entry=entry, actor=supervisor, state="archived", base_version=entry.version
        )

    assert found("broadband", rep) == []


def test_search_never_finds_a_write_that_rolled_back(rep, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        actions.capture_entry(
            author=rep,
            content=EntryContent(question="Roaming stops in Spain", answer="Turn it on."),
        )
        raise RuntimeError("the request failed after the save")

    assert found("roaming", rep) == []


def test_search_finds_a_saved_entry_inside_its_transaction_only_on_postgres(
    entry, rep, transactional_index
):
    """Where the backends differ (README, "Search backends"): PostgreSQL indexes in the
    write's transaction, so the entry is findable in it and from every connection the
    moment it commits; Whoosh indexes after the commit (no on-commit callback runs in
    this test, so it is not indexed yet; the index holds another entry, so it is not
    taken for a missing index)."""
    with transaction.atomic():
        actions.capture_entry(
            author=rep,
            content=EntryContent(question="Roaming stops in Spain", answer="Turn it on."),
        )
        inside = found("roaming", rep)

    assert inside == (["Roaming stops in Spain"] if transactional_index else [])


def test_index_failure_inside_the_transaction_keeps_it_usable(
    broken_index, rep, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        entry = actions.capture_entry(
            author=rep,
            content=EntryContent(question="Roaming stops in Spain", answer="Turn it on."),
        )
        actions.edit_entry(
            entry=entry,
            editor=rep,
            base_version=entry.version,
            content=EntryContent(question="Roaming stops in Spain", answer="Turn roaming on."),
        )

    assert Entry.objects.get(pk=entry.pk).version == 2


def test_search_after_another_commit_reads_old_segments_through_an_open_reader(
    whoosh_index, make_entry, rep
):
    """A field first needed after the searcher was replaced (another writer committed)
    is read through the new reader, not the closed one: no ReaderClosed, no 500."""
    make_entry(question="Broadband drops at night", answer="Check the router lights.")
    assert found("broadband", rep) == ["Broadband drops at night"]  # question lengths read
    make_entry(question="Porting a number", answer="Give the PAC code.")  # a new commit

    assert found("lights", rep) == ["Broadband drops at night"]  # answer lengths of segment 1


def test_entry_indexed_twice_is_shown_once(whoosh_index, make_entry, rep):
    """A rebuild racing a save can add a new entry's document a second time (a new
    entry is added without the lookup an update makes): search still shows it once
    (its total may count it twice until rebuild_index)."""
    entry = make_entry(
        question="Router lights blink amber", answer="Check the line.", tags=("faults",)
    )
    search.index_entries([entry.pk], new=True)  # what the racing rebuild does

    for query in ("router amber", "tag:faults"):
        found = search.search(query, user=rep)
        assert [result.entry.pk for result in found.results] == [entry.pk], query
