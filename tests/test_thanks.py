"""Thank the people behind an entry: one click, an optional note, once per person."""

from __future__ import annotations

import pytest

from kb.models import Thanks
from tests.helpers import page_text

pytestmark = pytest.mark.django_db


def thanks_url(entry) -> str:
    return f"/entries/{entry.pk}/thanks/"


def test_thanks_with_a_note_is_saved_and_shown(rep_client, rep, others_entry):
    response = rep_client.post(thanks_url(others_entry), {"note": "  Saved a  callback! "})

    assert response.status_code == 302
    thanks = Thanks.objects.get()
    assert (thanks.entry, thanks.from_user, thanks.note) == (others_entry, rep, "Saved a callback!")
    text = page_text(rep_client.get(others_entry.get_absolute_url()))
    assert "You thanked the people behind this entry" in text
    assert "rita: Saved a callback!" in text


def test_thanks_counts_once_per_person(rep_client, others_entry):
    rep_client.post(thanks_url(others_entry))
    response = rep_client.post(thanks_url(others_entry), follow=True)

    assert Thanks.objects.count() == 1
    assert "You already thanked this entry." in page_text(response)


def test_author_cannot_thank_their_own_entry(client, other_rep, others_entry):
    client.force_login(other_rep)

    response = client.post(thanks_url(others_entry), HTTP_HX_REQUEST="true")

    assert response.status_code == 400
    assert not Thanks.objects.exists()


def test_author_sees_who_thanked_them(client, rep_client, other_rep, others_entry):
    rep_client.post(thanks_url(others_entry), {"note": "Great steps"})
    client.force_login(other_rep)

    text = page_text(client.get(others_entry.get_absolute_url()))

    assert "1 rep thanked you for this entry." in text
    assert "rita: Great steps" in text


def test_too_long_note_is_refused_and_nothing_saved(rep_client, others_entry):
    response = rep_client.post(
        thanks_url(others_entry), {"note": "x" * 281}, HTTP_HX_REQUEST="true"
    )

    assert response.status_code == 400
    assert "280 characters" in response.content.decode()
    assert not Thanks.objects.exists()


def test_htmx_thanks_returns_the_updated_section(rep_client, others_entry):
    response = rep_client.post(thanks_url(others_entry), HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert "You thanked the people behind this entry" in page_text(response)
    assert "<html" not in response.content.decode()


def test_thanks_by_get_is_not_allowed_and_drafts_are_404(rep_client, make_entry, other_rep):
    draft = make_entry(question="Secret", author=other_rep, state="draft")

    assert rep_client.get(thanks_url(draft)).status_code == 405
    assert rep_client.post(thanks_url(draft)).status_code == 404
    assert not Thanks.objects.exists()
