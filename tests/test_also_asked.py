"""An entry's other phrasings ("also asked as") are shown, kept in history and searched."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from kb import search
from kb.models import Entry
from tests.helpers import page_text

pytestmark = pytest.mark.django_db

PHRASINGS = "Internet stops every night\nConnection drops after dark"


def capture(client, django_capture_on_commit_callbacks, **fields):
    data = {"question": "Broadband drops in the evening", "answer": "Run the line test.", **fields}
    with django_capture_on_commit_callbacks(execute=True):
        return client.post("/entries/new/", data)


def test_capture_keeps_other_phrasings_one_a_line(rep_client, django_capture_on_commit_callbacks):
    capture(
        rep_client,
        django_capture_on_commit_callbacks,
        also_asked=f"  Internet stops every night \n\n{PHRASINGS}",
    )

    entry = Entry.objects.get()
    assert entry.also_asked == PHRASINGS
    assert entry.revisions.get().also_asked == PHRASINGS


def test_entry_page_lists_other_phrasings(rep_client, django_capture_on_commit_callbacks):
    capture(rep_client, django_capture_on_commit_callbacks, also_asked=PHRASINGS)

    text = page_text(rep_client.get(Entry.objects.get().get_absolute_url()))

    assert "Also asked as" in text
    assert "Connection drops after dark" in text


def test_search_finds_entry_by_another_phrasing(
    rep, rep_client, django_capture_on_commit_callbacks
):
    capture(rep_client, django_capture_on_commit_callbacks, also_asked=PHRASINGS)

    found = search.search("connection after dark", user=rep)

    assert [r.entry.question for r in found.results] == ["Broadband drops in the evening"]


def test_too_many_phrasings_are_refused(rep_client, django_capture_on_commit_callbacks):
    response = capture(
        rep_client,
        django_capture_on_commit_callbacks,
        also_asked="\n".join(f"way {n}" for n in range(21)),
    )

    assert response.status_code == 400
    assert "at most 20 other phrasings" in page_text(response)
    assert not Entry.objects.exists()


def test_other_phrasings_survive_export_and_import(tmp_path, make_entry):
    make_entry(question="Router lights red", answer="Reboot.", also_asked="Red light on hub")
    path = tmp_path / "out.jsonl"
    call_command("export_entries", str(path), stdout=io.StringIO())
    Entry.objects.all().delete()

    call_command("import_entries", str(path), stdout=io.StringIO())

    entry = Entry.objects.get()
    assert json.loads(path.read_text())["also_asked"] == ["Red light on hub"]
    assert entry.also_asked == "Red light on hub"
    assert entry.revisions.get().also_asked == "Red light on hub"
