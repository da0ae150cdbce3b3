"""Supervisors keep a synonym list that search applies."""

from __future__ import annotations

import pytest

from kb import search
from kb.models import SynonymGroup
from tests.helpers import page_text

pytestmark = pytest.mark.django_db

URL = "/review/synonyms/"


@pytest.fixture
def wireless_entry(make_entry):
    return make_entry(question="Wireless keeps disconnecting", answer="Change the channel.")


def save(client, text, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(URL, {"synonyms": text})


def test_synonyms_page_is_for_supervisors_only(rep_client):
    assert rep_client.get(URL).status_code == 403
    assert rep_client.post(URL, {"synonyms": "a, b"}).status_code == 403
    assert SynonymGroup.objects.count() == 0


def test_synonyms_saved_by_supervisor_are_listed(
    supervisor_client, django_capture_on_commit_callbacks
):
    response = save(
        supervisor_client,
        "wifi, Wi-Fi, wireless\n\nsim, sim card",
        django_capture_on_commit_callbacks,
    )

    assert response.status_code == 302
    assert sorted(g.terms for g in SynonymGroup.objects.all()) == [
        "sim, sim card",
        "wifi, wi-fi, wireless",
    ]
    assert "wifi, wi-fi, wireless" in supervisor_client.get(URL).content.decode()


def test_synonyms_with_a_bad_line_save_nothing(
    supervisor_client, django_capture_on_commit_callbacks
):
    SynonymGroup.objects.create(terms="bill, invoice", updated_at="2026-01-01T00:00Z")

    response = save(supervisor_client, "wifi, wireless\nlonely", django_capture_on_commit_callbacks)

    assert response.status_code == 400
    assert "Line 2" in page_text(response)
    assert "wifi, wireless" in response.content.decode()  # the text is kept to fix
    assert [g.terms for g in SynonymGroup.objects.all()] == ["bill, invoice"]


def test_search_finds_entries_by_a_synonym_at_once(
    rep, supervisor_client, wireless_entry, django_capture_on_commit_callbacks
):
    assert search.search("wifi", user=rep).total == 0

    save(supervisor_client, "wifi, wi-fi, wireless", django_capture_on_commit_callbacks)

    found = search.search("wifi", user=rep)
    assert [r.entry.pk for r in found.results] == [wireless_entry.pk]


def test_search_with_multi_word_synonym(
    rep, supervisor_client, make_entry, django_capture_on_commit_callbacks
):
    entry = make_entry(question="Activate a new sim", answer="Use the app.")
    save(supervisor_client, "sim card, sim", django_capture_on_commit_callbacks)

    assert [r.entry.pk for r in search.search("sim card activate", user=rep).results] == [entry.pk]


def test_search_ranks_exact_word_above_synonym(
    rep, supervisor_client, make_entry, wireless_entry, django_capture_on_commit_callbacks
):
    exact = make_entry(question="Wifi keeps disconnecting", answer="Change the channel.")
    save(supervisor_client, "wifi, wireless", django_capture_on_commit_callbacks)

    found = search.search("wifi disconnecting", user=rep)

    assert [r.entry.pk for r in found.results] == [exact.pk, wireless_entry.pk]
