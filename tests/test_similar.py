"""While writing a question, likely duplicates appear under it."""

from __future__ import annotations

import pytest

from tests.helpers import page_text

pytestmark = pytest.mark.django_db


def test_similar_lists_entries_close_to_the_question(rep_client, entry):
    response = rep_client.get("/entries/similar/", {"question": "broadband dropping"})

    assert response.status_code == 200
    assert "Already answered?" in page_text(response)
    assert entry.question in page_text(response)


def test_similar_is_empty_when_nothing_is_close(rep_client, entry):
    response = rep_client.get("/entries/similar/", {"question": "teleport a cat"})

    assert response.status_code == 200
    assert page_text(response) == ""


def test_similar_leaves_out_entries_sharing_one_word_of_several(rep_client, entry):
    """The entry ("broadband keeps dropping every evening") shares one word of five."""
    question = "evening tv box hdmi flicker"
    assert rep_client.get("/api/v1/search", {"q": question}).json()["total"] == 1

    response = rep_client.get("/entries/similar/", {"question": question})

    assert response.status_code == 200
    assert entry.question not in page_text(response)


def test_similar_ignores_very_short_and_huge_questions(rep_client, entry):
    for question in ("br", "broadband " * 100):
        assert page_text(rep_client.get("/entries/similar/", {"question": question})) == ""


def test_similar_leaves_out_the_entry_being_edited(rep_client, entry):
    response = rep_client.get(
        "/entries/similar/", {"question": "broadband dropping", "exclude": entry.pk}
    )

    assert entry.question not in page_text(response)


def test_similar_never_shows_other_peoples_drafts(rep_client, make_entry, other_rep):
    make_entry(question="Broadband dropping at night", author=other_rep, state="draft")

    response = rep_client.get("/entries/similar/", {"question": "broadband dropping"})

    assert "at night" not in page_text(response)


def test_capture_form_asks_for_similar_entries_as_the_question_is_typed(rep_client):
    html = rep_client.get("/entries/new/").content.decode()

    assert 'hx-get="/entries/similar/"' in html
    assert 'id="similar"' in html
