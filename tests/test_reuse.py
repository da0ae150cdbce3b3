"""'Used on this call': one click counts that an entry helped; reuse lifts its ranking."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kb import actions, search
from kb.models import Reuse, SearchEvent
from tests.helpers import page_text

pytestmark = pytest.mark.django_db


def reuse_url(entry) -> str:
    return f"/entries/{entry.pk}/reuse/"


def test_used_on_this_call_records_who_case_and_search(rep_client, rep, entry):
    response = rep_client.post(reuse_url(entry), {"case": "ABC123", "q": "broadband drops"})

    assert response.status_code == 302
    reuse = Reuse.objects.get()
    assert (reuse.entry, reuse.user, reuse.case_ref, reuse.query) == (
        entry,
        rep,
        "ABC123",
        "broadband drops",
    )


def test_second_click_for_the_same_case_does_not_count_twice(rep_client, other_rep, entry):
    rep_client.post(reuse_url(entry), {"case": "ABC123"})
    response = rep_client.post(reuse_url(entry), {"case": "ABC123"}, follow=True)
    actions.record_reuse(entry=entry, user=other_rep, case_ref="ABC123")

    assert Reuse.objects.count() == 1
    assert "Already counted for this call." in page_text(response)


def test_another_case_counts_again(rep_client, entry):
    rep_client.post(reuse_url(entry), {"case": "ABC123"})
    rep_client.post(reuse_url(entry), {"case": "XYZ789"})

    assert Reuse.objects.count() == 2


def test_without_a_case_a_double_click_counts_once(rep_client, entry):
    rep_client.post(reuse_url(entry))
    rep_client.post(reuse_url(entry))

    assert Reuse.objects.count() == 1


def test_without_a_case_a_later_call_counts_again(rep, entry):
    first, _ = actions.record_reuse(entry=entry, user=rep)
    first.created_at = timezone.now() - timedelta(minutes=20)
    first.save(update_fields=["created_at"])

    _, created = actions.record_reuse(entry=entry, user=rep)

    assert created
    assert Reuse.objects.count() == 2


@pytest.mark.parametrize("case", ["has space", "x" * 65, "<script>", "a;b"])
def test_bad_case_reference_is_refused_and_nothing_recorded(rep_client, entry, case):
    response = rep_client.post(reuse_url(entry), {"case": case}, HTTP_HX_REQUEST="true")

    assert response.status_code == 400
    assert "case or call reference" in response.content.decode()
    assert not Reuse.objects.exists()


def test_reuse_by_get_is_not_allowed(rep_client, entry):
    assert rep_client.get(reuse_url(entry)).status_code == 405
    assert not Reuse.objects.exists()


def test_reuse_of_someone_elses_draft_is_404(rep_client, make_entry, other_rep):
    draft = make_entry(question="Hidden draft", author=other_rep, state="draft")

    assert rep_client.post(reuse_url(draft)).status_code == 404
    assert not Reuse.objects.exists()


def test_htmx_reuse_returns_the_updated_button(rep_client, entry):
    response = rep_client.post(reuse_url(entry), {"case": "C-1"}, HTTP_HX_REQUEST="true")

    text = page_text(response)
    assert response.status_code == 200
    assert "Used on this call (C-1)" in text
    assert "used 1 time" in text


def test_entry_page_shows_reuse_count_and_carries_the_case(rep_client, rep, entry):
    actions.record_reuse(entry=entry, user=rep, case_ref="OLD1")

    response = rep_client.get(entry.get_absolute_url(), {"case": "ABC123"})

    html = response.content.decode()
    assert "used 1 time" in page_text(response)
    assert 'name="case" value="ABC123"' in html


def test_search_results_carry_the_case_to_the_entry_and_show_usage(rep_client, rep, entry):
    actions.record_reuse(entry=entry, user=rep)

    response = rep_client.get("/search/", {"q": "broadband", "case": "ABC123"})

    html = response.content.decode()
    event = SearchEvent.objects.get()
    assert f'href="/entries/{entry.pk}/?q=broadband&amp;s={event.pk}&amp;case=ABC123"' in html
    assert "used 1 time" in page_text(response)


def test_search_ranks_an_often_reused_entry_above_an_equal_one(rep, other_rep, make_entry):
    plain = make_entry(question="Voicemail PIN reset", answer="Dial 121.")
    reused = make_entry(question="Voicemail PIN reset", answer="Dial 121.")
    for n in range(5):
        actions.record_reuse(entry=reused, user=rep, case_ref=f"CASE{n}")

    found = search.search("voicemail pin", user=rep)

    assert [r.entry.pk for r in found.results] == [reused.pk, plain.pk]
    assert found.results[0].usage.count == 5


def test_reuse_does_not_outrank_a_much_better_text_match(rep, make_entry):
    exact = make_entry(question="Voicemail PIN reset", answer="Dial 121.")
    loose = make_entry(question="Reset a router", answer="Voicemail is separate.")
    for n in range(3):
        actions.record_reuse(entry=loose, user=rep, case_ref=f"CASE{n}")

    found = search.search("voicemail pin reset", user=rep)

    assert found.results[0].entry.pk == exact.pk


def test_entry_page_shows_the_case_already_counted(rep_client, rep, entry):
    actions.record_reuse(entry=entry, user=rep, case_ref="ABC123")

    text = page_text(rep_client.get(entry.get_absolute_url(), {"case": "ABC123"}))

    assert "✓ Used on this call (ABC123)" in text
    assert "last just now" in text
