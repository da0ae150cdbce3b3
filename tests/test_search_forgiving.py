"""Search forgives what a rep types mid-call: unfinished words and typos."""

from __future__ import annotations

import pytest

from kb import search

pytestmark = pytest.mark.django_db


@pytest.fixture
def password_entry(make_entry):
    return make_entry(
        question="Customer forgot their password",
        answer="Send a reset link from Compass > Account > Security.",
    )


@pytest.fixture
def delivery_entry(make_entry):
    return make_entry(
        question="Replacement router has not arrived",
        answer="Check the courier tracking link in the order history.",
    )


def questions(found) -> list[str]:
    return [result.entry.question for result in found.results]


def test_search_completes_the_word_being_typed(rep, password_entry):
    found = search.search("pass", user=rep)

    assert questions(found) == [password_entry.question]


def test_search_does_not_complete_a_finished_word(rep, password_entry):
    assert search.search("pass ", user=rep).total == 0


def test_search_corrects_a_typo_and_says_so(rep, delivery_entry):
    found = search.search("router not arived", user=rep)

    assert questions(found) == [delivery_entry.question]
    assert found.corrections == {"arived": "arrived"}
    assert found.corrected_text == "router not arrived"


def test_search_exact_does_not_correct(rep, delivery_entry):
    found = search.search("arived", user=rep, exact=True)

    assert found.total == 0
    assert found.corrections == {}


def test_search_leaves_known_words_alone(rep, delivery_entry, make_entry):
    make_entry(question="Router arrives broken", answer="Book a swap.")

    found = search.search("router arrives", user=rep)

    assert found.corrections == {}


def test_search_does_not_correct_short_codes(rep, delivery_entry):
    assert search.search("xq7", user=rep).corrections == {}


def test_search_ranks_words_typed_together_first(rep, make_entry):
    apart = make_entry(question="Reset the password, then the router", answer="Two steps.")
    together = make_entry(question="How to reset router lights", answer="Hold the button.")

    found = search.search("reset router", user=rep)

    assert questions(found)[:2] == [together.question, apart.question]


def test_search_ranks_entries_matching_more_words_first(rep, make_entry):
    one = make_entry(question="Router router router", answer="Router.")
    both = make_entry(question="Router reboots at night", answer="Firmware.")

    found = search.search("router reboots", user=rep)

    assert questions(found)[:2] == [both.question, one.question]


def test_search_ranks_validated_entry_above_equal_published(rep, make_entry):
    published = make_entry(question="Voicemail PIN reset", answer="Dial 121.")
    validated = make_entry(question="Voicemail PIN reset", answer="Dial 121.", state="validated")

    found = search.search("voicemail pin", user=rep)

    assert questions(found) == [validated.question, published.question]
    assert found.results[0].entry.pk == validated.pk


def test_search_page_shows_the_correction_with_an_exact_link(rep_client, delivery_entry):
    response = rep_client.get("/search/", {"q": "router arived"})

    html = response.content.decode()
    assert "Showing results for" in html
    assert "router arrived" in html
    assert "exact=1" in html


def test_search_page_exact_search_has_no_correction(rep_client, delivery_entry):
    response = rep_client.get("/search/", {"q": "router arived", "exact": "1"})

    assert "Showing results for" not in response.content.decode()


def test_search_with_word_pairs_after_a_one_word_search(rep, make_entry):
    """Field data read for a one-word search must not break a later multi-word one."""
    entry = make_entry(question="Wifi password change", answer="Use the app.")

    assert search.search("wifi", user=rep).total == 1
    found = search.search("wifi password", user=rep)

    assert questions(found) == [entry.question]


def test_search_marks_the_completed_word(rep_client, password_entry):
    response = rep_client.get("/search/", {"q": "pass"}, HTTP_HX_REQUEST="true")

    assert "<mark>password</mark>" in response.content.decode()


def test_search_marks_the_corrected_word(rep_client, delivery_entry):
    response = rep_client.get("/search/", {"q": "router arived"}, HTTP_HX_REQUEST="true")

    assert "<mark>arrived</mark>" in response.content.decode()
