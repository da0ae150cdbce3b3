"""The search index is derived data: when it is missing, corrupt or locked, the site keeps
serving (search answers from the database and says results may be incomplete), no save
fails or is lost, and the index repairs itself, or ``rebuild_index`` does.

The faults are done to a real Whoosh index's files, so those tests use the Whoosh
backend under either suite; the database fallback itself is tested with a backend whose
searches fail, under the suite's backend. Repairs run inline in tests (``conftest``,
``repairs_inline``) except in the one test of the background repair.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from kb import actions, search
from kb.actions import EntryContent
from kb.models import Entry, IndexBacklog
from kb.search import health, whoosh_backend
from kb.search.documents import entry_document
from tests.helpers import page_text

HTMX = {"HTTP_HX_REQUEST": "true"}
INCOMPLETE = "results may be incomplete"


def _replace(path: Path, data: bytes) -> None:
    """Give ``path`` new content through a new file, as a copy or restore would; writing
    into a file another process has memory-mapped would kill that process (SIGBUS)."""
    spare = path.with_name(path.name + ".new")
    spare.write_bytes(data)
    os.replace(spare, path)


def _closed(index: Path) -> Path:
    """The backend closes the index first, as a worker restarting finds it."""
    search.reset_backend()
    return index


def deleted_while_running(index: Path) -> None:
    shutil.rmtree(index)


def never_built(index: Path) -> None:
    shutil.rmtree(_closed(index))


def garbage_files(index: Path) -> None:
    for path in _closed(index).iterdir():
        _replace(path, b"\x00garbage\xff" * 7)


def truncated_segments(index: Path) -> None:
    for path in _closed(index).glob("*.seg"):
        _replace(path, path.read_bytes()[: path.stat().st_size // 3])


def segment_missing(index: Path) -> None:
    for path in _closed(index).glob("*.seg"):
        path.unlink()


def toc_points_nowhere(index: Path) -> None:
    """The newest table of contents names a segment that is not there (half a copy)."""
    other = index.parent / "other-index"
    backend = whoosh_backend.WhooshBackend(other)
    backend.index_documents([entry_document(Entry.objects.first())])
    backend.close()
    [toc] = other.glob("_MAIN_*.toc")
    shutil.copy(toc, _closed(index) / "_MAIN_99.toc")


def toc_garbage(index: Path) -> None:
    for toc in _closed(index).glob("_MAIN_*.toc"):
        _replace(toc, b"not a table of contents")


FAULTS = [
    deleted_while_running,
    never_built,
    garbage_files,
    truncated_segments,
    segment_missing,
    toc_points_nowhere,
    toc_garbage,
]


@pytest.fixture(params=FAULTS, ids=[fault.__name__ for fault in FAULTS])
def fault(request, whoosh_index):
    return lambda: request.param(whoosh_index)


@pytest.fixture
def floor(whoosh_index, make_entry):
    """Two indexed entries, on a healthy index, before the fault."""
    return [
        make_entry(
            question="Customer's broadband keeps dropping every evening",
            answer="Check the **router lights**, then run the line test.",
            tags=("broadband",),
        ),
        make_entry(question="Voicemail PIN forgotten", answer="Reset it from the portal."),
    ]


def questions(found) -> list[str]:
    return [result.entry.question for result in found.results]


def errors_logged(caplog, text: str) -> int:
    return sum(1 for r in caplog.records if r.levelno >= logging.ERROR and text in r.message)


# -- (a) the site keeps serving ----------------------------------------------------

SURFACES = {
    "page": lambda client: client.get("/search/", {"q": "broadband evening"}),
    "partial": lambda client: client.get("/search/", {"q": "broadband evening"}, **HTMX),
    "api": lambda client: client.get("/api/v1/search", {"q": "broadband evening"}),
    "similar": lambda client: client.get(
        "/entries/similar/", {"question": "broadband keeps dropping in the evening"}
    ),
}


@pytest.mark.parametrize("surface", SURFACES)
def test_search_with_broken_index_answers_from_the_database(floor, fault, rep_client, surface):
    fault()

    response = SURFACES[surface](rep_client)

    assert response.status_code == 200
    if surface == "api":
        body = response.json()
        assert body["incomplete"] is True
        assert [r["question"] for r in body["results"]] == [floor[0].question]
    else:
        text = page_text(response)
        assert floor[0].question in text
        assert floor[1].question not in text
        if surface == "similar":
            assert "Search is being repaired" in text
        else:
            assert INCOMPLETE in text


def test_broken_index_is_logged_once_not_per_search(floor, rep_client, caplog, monkeypatch):
    """A disk that refuses the repair too: every search still answers, and the log says
    each fault once."""

    def refuse(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    garbage_files(search.get_backend().path)
    monkeypatch.setattr(whoosh_backend.WhooshBackend, "clear", refuse)

    pages = [rep_client.get("/search/", {"q": "voicemail"}) for _ in range(4)]

    assert [page.status_code for page in pages] == [200] * 4
    assert all("Voicemail PIN forgotten" in page_text(page) for page in pages)
    assert errors_logged(caplog, "Search index unreadable") == 1
    assert errors_logged(caplog, "Rebuilding the search index failed") == 1


# -- (b) a write never fails because of the index, (c) the index repairs itself -----


def test_save_during_fault_is_kept_and_index_repairs_itself(
    floor, fault, rep, rep_client, django_capture_on_commit_callbacks
):
    fault()

    with django_capture_on_commit_callbacks(execute=True):
        response = rep_client.post(
            "/entries/new/",
            {"question": "Roaming stops in Spain", "answer": "Turn on data roaming."},
        )
    rep_client.get("/search/", {"q": "roaming"})  # a search notices what is still missing

    assert response.status_code == 302
    saved = Entry.objects.get(question="Roaming stops in Spain")
    assert saved.revisions.count() == 1
    for text, question in [
        ("roaming spain", saved.question),
        ("broadband evening", floor[0].question),
        ("voicemail", floor[1].question),
    ]:
        found = search.search(text, user=rep)
        assert (questions(found), found.incomplete) == ([question], False)
    assert search.get_backend().document_count() == Entry.objects.count()
    assert not IndexBacklog.objects.exists()


def test_rebuild_index_repairs_every_fault(floor, fault, rep):
    fault()
    out = io.StringIO()

    call_command("rebuild_index", "--if-empty", stdout=out)  # what make serve runs

    assert "Indexed 2 entries" in out.getvalue()
    found = search.search("voicemail", user=rep)
    assert (questions(found), found.incomplete) == (["Voicemail PIN forgotten"], False)


@pytest.fixture
def unrepairable(floor, monkeypatch):
    """A corrupt index whose rebuild fails too, until the test calls ``undo()``."""

    def refuse(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    garbage_files(search.get_backend().path)
    monkeypatch.setattr(whoosh_backend.WhooshBackend, "clear", refuse)
    return monkeypatch


def test_every_kind_of_write_lands_while_the_index_is_unusable(
    unrepairable, floor, rep, rep_client, tmp_path, django_capture_on_commit_callbacks
):
    broadband = floor[0]
    import_file = tmp_path / "entries.jsonl"
    import_file.write_text('{"question": "Imported eSIM activation", "answer": "Scan the QR."}\n')

    with django_capture_on_commit_callbacks(execute=True):
        created = rep_client.post(
            "/entries/new/", {"question": "Roaming stops in Spain", "answer": "Turn it on."}
        )
        edited = rep_client.post(
            f"/entries/{broadband.pk}/edit/",
            {"question": broadband.question, "answer": "Book an engineer.", "version": 1},
        )
        restored = rep_client.post(f"/entries/{broadband.pk}/history/1/restore/", {"version": 2})
        call_command("import_entries", str(import_file), stdout=io.StringIO())

    assert [created.status_code, edited.status_code, restored.status_code] == [302] * 3
    broadband.refresh_from_db()
    assert broadband.version == 3
    assert list(broadband.revisions.order_by("number").values_list("kind", flat=True)) == [
        "created",
        "edited",
        "restored",
    ]
    assert Entry.objects.filter(question="Imported eSIM activation").exists()
    during = search.search("roaming", user=rep)
    assert (questions(during), during.incomplete) == (["Roaming stops in Spain"], True)

    unrepairable.undo()
    call_command("rebuild_index", stdout=io.StringIO())

    for text in ("roaming", "esim", "broadband", "voicemail"):
        assert not search.search(text, user=rep).incomplete
        assert search.search(text, user=rep).total == 1
    assert not IndexBacklog.objects.exists()


# -- locks -------------------------------------------------------------------------

CRASHING_WRITER = textwrap.dedent(
    """
    import sys, time
    from whoosh import index

    writer = index.open_dir(sys.argv[1]).writer()  # takes the index's write lock
    open(sys.argv[2], "w").close()
    time.sleep(120)  # killed here, holding it
    """
)


def test_lock_left_by_a_crashed_writer_does_not_block_saves(
    floor, tmp_path, rep, rep_client, django_capture_on_commit_callbacks, monkeypatch
):
    index = search.get_backend().path
    monkeypatch.setattr(whoosh_backend, "WRITE_DEADLINE", 2.0)
    ready = tmp_path / "locked"
    writer = subprocess.Popen([sys.executable, "-c", CRASHING_WRITER, str(index), str(ready)])
    kill_once_writing(writer, ready, seconds=30)
    assert (index / "MAIN_WRITELOCK").exists()  # the lock file stays behind

    save_and_find_roaming(rep_client, rep, django_capture_on_commit_callbacks)
    assert not IndexBacklog.objects.exists()


def kill_once_writing(writer: subprocess.Popen, ready: Path, *, seconds: float) -> None:
    """SIGKILL the writer process as soon as it says (``ready``) it is writing."""
    deadline = time.monotonic() + seconds
    while not ready.exists():
        assert writer.poll() is None and time.monotonic() < deadline, "writer did not start"
        time.sleep(0.05)
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=10)


def save_and_find_roaming(rep_client, rep, capture) -> None:
    """A save through the page lands in the index: search finds it, complete."""
    with capture(execute=True):
        response = rep_client.post(
            "/entries/new/", {"question": "Roaming stops in Spain", "answer": "Turn it on."}
        )

    assert response.status_code == 302
    found = search.search("roaming", user=rep)
    assert (questions(found), found.incomplete) == (["Roaming stops in Spain"], False)


KILLED_BULK_WRITER = textwrap.dedent(
    """
    import sys, time
    from datetime import UTC, datetime
    from pathlib import Path

    import django

    django.setup()
    from kb.search.documents import EntryDocument
    from kb.search.whoosh_backend import WhooshBackend

    def documents():
        for n in range(1_000_000, 1_100_000):
            if n == 1_003_000:  # the analysing processes have started by now
                open(sys.argv[2], "w").close()
            time.sleep(0.001 if n > 1_003_000 else 0)
            yield EntryDocument(
                id=n, question=f"Imported {n}", also_asked="", body="Bulk.", tags=[],
                state="published", author_id=None, updated_at=datetime.now(UTC),
            )

    WhooshBackend(Path(sys.argv[1])).index_documents(documents(), new=True, bulk=True)
    """
)


def test_lock_of_a_killed_bulk_import_does_not_outlive_it(
    floor, tmp_path, rep, rep_client, django_capture_on_commit_callbacks, monkeypatch
):
    """A bulk write (import, rebuild) forks analysing processes that inherit the index
    lock; killed with their parent, they must not hold it on forever."""
    index = search.get_backend().path
    monkeypatch.setattr(whoosh_backend, "WRITE_DEADLINE", 5.0)
    ready = tmp_path / "writing"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    env["KB_DATA_DIR"] = str(tmp_path / "data")
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_BULK_WRITER, str(index), str(ready)],
        cwd=settings.BASE_DIR,
        env=env,
    )
    kill_once_writing(writer, ready, seconds=60)

    save_and_find_roaming(rep_client, rep, django_capture_on_commit_callbacks)


def test_save_while_a_hung_writer_holds_the_lock_is_indexed_once_it_lets_go(
    floor, rep, rep_client, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(whoosh_backend, "LOCK_WAIT", 0.1)
    monkeypatch.setattr(whoosh_backend, "WRITE_DEADLINE", 0.3)
    hung = search.get_backend().ix.writer()  # another writer that never commits

    with django_capture_on_commit_callbacks(execute=True):
        response = rep_client.post(
            "/entries/new/", {"question": "Roaming stops in Spain", "answer": "Turn it on."}
        )
    page = rep_client.get("/search/", {"q": "roaming"})

    assert response.status_code == 302
    assert Entry.objects.filter(question="Roaming stops in Spain").exists()
    assert page.status_code == 200
    assert INCOMPLETE in page_text(page)

    hung.cancel()
    rep_client.get("/search/", {"q": "voicemail"})  # the next search catches the backlog up

    found = search.search("roaming", user=rep)
    assert (questions(found), found.incomplete) == (["Roaming stops in Spain"], False)
    assert not IndexBacklog.objects.exists()


# -- a process that died between its commit and its indexing ------------------------


@pytest.fixture
def orphaned_save(floor, rep):
    """A save whose process died before indexing it (its on-commit indexing never ran)."""
    entry = actions.capture_entry(
        author=rep, content=EntryContent(question="Roaming stops in Spain", answer="Turn it on.")
    )
    IndexBacklog.objects.update(queued_at=timezone.now() - timedelta(minutes=5))
    return entry


def test_save_of_a_dead_process_is_indexed_by_the_next_save(
    orphaned_save, rep, django_capture_on_commit_callbacks
):
    assert search.search("roaming", user=rep).total == 0

    with django_capture_on_commit_callbacks(execute=True):
        actions.capture_entry(
            author=rep, content=EntryContent(question="eSIM activation", answer="Scan the QR.")
        )

    assert questions(search.search("roaming", user=rep)) == ["Roaming stops in Spain"]
    assert not IndexBacklog.objects.exists()


def test_save_of_a_dead_process_is_indexed_after_a_search_notices(orphaned_save, rep):
    first = search.search("roaming", user=rep)

    again = search.search("roaming", user=rep)

    assert first.total == 0
    assert (questions(again), again.incomplete) == (["Roaming stops in Spain"], False)


# -- the repair in the background ----------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_missing_index_is_rebuilt_in_the_background(
    whoosh_index, django_capture_on_commit_callbacks, monkeypatch
):
    """In a server the request that finds the index gone is answered at once, from the
    database; a background thread rebuilds it. (The rows are committed, so the thread
    sees them; no groups: an earlier transactional test may have flushed them.)"""
    rep = User.objects.create_user("background-rep")
    with django_capture_on_commit_callbacks(execute=True):
        actions.capture_entry(
            author=rep,
            content=EntryContent(question="Voicemail PIN forgotten", answer="Reset it."),
        )
    assert search.get_backend().document_count() == 1
    monkeypatch.setattr(health, "BACKGROUND", True)
    shutil.rmtree(whoosh_index)

    during = search.search("voicemail", user=rep)
    health.wait(timeout=60)
    after = search.search("voicemail", user=rep)

    assert (questions(during), during.incomplete) == (["Voicemail PIN forgotten"], True)
    assert (questions(after), after.incomplete) == (["Voicemail PIN forgotten"], False)
    assert search.get_backend().document_count() == 1


# -- the database fallback (either backend) ------------------------------------------


@pytest.fixture
def index_fails(monkeypatch):
    """The suite's backend fails every search, as an unreadable index does."""

    def fail(*args, **kwargs):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(search.get_backend(), "search", fail)
    monkeypatch.setattr(search.get_backend(), "readable", lambda: True)  # no rebuild


@pytest.fixture
def fallback_floor(make_entry, other_rep):
    return {
        "question": make_entry(question="Router lights flashing orange", answer="Restart it."),
        "also": make_entry(
            question="Hub shows a warning",
            also_asked="orange light on the ROUTER",
            answer="Check the cable.",
        ),
        "answer": make_entry(
            question="Slow internet", answer="If the router light is orange, book an engineer."
        ),
        "one word": make_entry(question="Router reboots at night", answer="Update firmware."),
        "draft": make_entry(
            question="Draft: router orange after storm", answer="Unknown.", state="draft"
        ),
        "others draft": make_entry(
            question="Omar's router orange notes", answer="WIP.", state="draft", author=other_rep
        ),
        "archived": make_entry(
            question="Old router orange light", answer="Retired model.", state="archived"
        ),
    }


def test_fallback_matches_every_word_in_any_field_case_insensitively(
    index_fails, fallback_floor, rep
):
    found = search.search("ORANGE Router", user=rep)

    assert found.incomplete
    assert questions(found) == [
        "Draft: router orange after storm",  # the searcher's own draft, question match
        "Router lights flashing orange",
        "Hub shows a warning",  # matched in "also asked as"
        "Slow internet",  # matched in the answer only
    ]
    assert found.total == 4
    assert search.search("router teleport", user=rep).total == 0


def test_fallback_hides_others_drafts_and_archived_unless_asked(
    index_fails, fallback_floor, rep, other_rep
):
    mine = set(questions(search.search("orange router", user=rep)))
    omars = set(questions(search.search("orange router", user=other_rep)))
    archived = questions(search.search("orange router", user=rep, include_archived=True))

    assert "Omar's router orange notes" not in mine
    assert "Omar's router orange notes" in omars
    assert "Draft: router orange after storm" not in omars
    assert "Old router orange light" not in mine
    assert "Old router orange light" in archived


def test_fallback_filters_by_tag(index_fails, make_entry, rep):
    make_entry(question="Refund a double charge", answer="Refund it.", tags=("billing",))
    make_entry(question="Refund a returned phone", answer="Refund it.", tags=("devices",))

    found = search.search("refund tag:billing", user=rep)

    assert questions(found) == ["Refund a double charge"]


def test_fallback_page_and_api_say_results_may_be_incomplete(
    index_fails, fallback_floor, rep_client
):
    page = rep_client.get("/search/", {"q": "orange router"})
    api = rep_client.get("/api/v1/search", {"q": "orange router"})

    assert page.status_code == api.status_code == 200
    assert INCOMPLETE in page_text(page)
    assert "Router lights flashing orange" in page_text(page)
    assert api.json()["incomplete"] is True
    assert api.json()["total"] == 4


def test_rebuild_index_with_a_hung_writer_holding_the_lock_says_so(floor, monkeypatch):
    monkeypatch.setattr(whoosh_backend, "WRITE_DEADLINE", 0.3)
    hung = search.get_backend().ix.writer()
    try:
        with pytest.raises(CommandError, match="held the search index's write lock"):
            call_command("rebuild_index", stdout=io.StringIO())
    finally:
        hung.cancel()

    call_command("rebuild_index", stdout=io.StringIO())  # once it lets go

    assert search.get_backend().document_count() == 2
