"""The search log: every search records who, what, how many results, and what followed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache

from kb import actions
from kb.models import Reuse, SearchEvent
from kb.search import normalise_query

pytestmark = pytest.mark.django_db

API = "/api/v1/search"


def htmx_search(client, q: str):
    return client.get("/search/", {"q": q}, headers={"HX-Request": "true"})


def test_search_page_logs_query_person_and_result_count(rep_client, rep, entry):
    response = rep_client.get("/search/", {"q": "  broadband   dropping "})

    assert response.status_code == 200
    event = SearchEvent.objects.get()
    assert (event.user, event.query, event.normalized) == (
        rep,
        "broadband dropping",
        "broadband drop",
    )
    assert (event.result_count, event.source) == (1, "page")
    assert (event.opened_entry, event.reused) == (None, False)


def test_search_page_logs_a_search_with_no_result(rep_client, entry):
    rep_client.get("/search/", {"q": "satellite dish alignment"})

    event = SearchEvent.objects.get()
    assert event.result_count == 0
    assert event.normalized == "align dish satellit"


def test_api_search_is_logged_like_the_page(rep_client, rep, entry):
    response = rep_client.get(API, {"q": "broadband"})

    assert response.status_code == 200
    event = SearchEvent.objects.get()
    assert (event.user, event.query, event.result_count, event.source) == (
        rep,
        "broadband",
        1,
        "api",
    )


def test_refused_search_is_not_logged(rep_client, entry):
    rep_client.get("/search/", {"q": "x" * 501})
    rep_client.get(API, {"q": ""})

    assert not SearchEvent.objects.exists()


def test_search_page_two_is_not_logged_again(rep_client, make_entry):
    for n in range(25):
        make_entry(question=f"Router light {n} blinking", answer="Restart it.")
    rep_client.get("/search/", {"q": "router"})

    response = rep_client.get("/search/", {"q": "router", "page": 2, "s": latest_event_id()})

    assert response.status_code == 200
    assert SearchEvent.objects.count() == 1
    event = SearchEvent.objects.get()
    html = response.content.decode()
    assert f"page=1&amp;s={event.pk}" in html  # back to page 1, still the same search
    assert f"&amp;s={event.pk}" in html.split('class="results"')[1]  # results opened from p2


def latest_event_id() -> int:
    return SearchEvent.objects.latest("created_at").pk


def test_api_tag_filters_are_logged_with_the_query(rep_client, entry):
    rep_client.get(API, {"q": "dropping", "tag": "broadband"})

    event = SearchEvent.objects.get()
    assert (event.query, event.normalized) == ("dropping tag:broadband", "drop tag:broadband")


def test_api_page_two_is_not_logged_again(rep_client, entry):
    rep_client.get(API, {"q": "broadband", "page": 2})

    assert not SearchEvent.objects.exists()


def test_typing_sequence_is_one_event_with_the_last_query(rep_client, entry):
    for typed in ["bro", "broad", "broadband", "broadband drop"]:
        htmx_search(rep_client, typed)

    event = SearchEvent.objects.get()
    assert event.query == "broadband drop"
    assert event.normalized == "broadband drop"
    assert event.result_count == 1


def test_backspacing_stays_the_same_event(rep_client, entry):
    for typed in ["router reset", "router res", "router"]:
        htmx_search(rep_client, typed)

    assert list(SearchEvent.objects.values_list("query", flat=True)) == ["router"]


def test_unrelated_query_is_a_new_event(rep_client, entry):
    htmx_search(rep_client, "broadband")
    htmx_search(rep_client, "billing date")

    assert SearchEvent.objects.count() == 2


def test_same_query_after_opening_a_result_is_a_new_event(rep_client, entry):
    htmx_search(rep_client, "broadband")
    first = SearchEvent.objects.get()
    rep_client.get(entry.get_absolute_url(), {"q": "broadband", "s": first.pk})

    htmx_search(rep_client, "broadband dropping")

    assert SearchEvent.objects.count() == 2
    first.refresh_from_db()
    assert (first.query, first.opened_entry) == ("broadband", entry)


def test_search_after_a_reuse_is_a_new_event(rep, entry):
    first = actions.log_search(user=rep, text="broadband", result_count=1)
    actions.record_reuse(entry=entry, user=rep, search_event_id=first.pk)

    second = actions.log_search(user=rep, text="broadband evening", result_count=1)

    assert second.pk != first.pk


def test_search_more_than_a_minute_later_is_a_new_event(rep):
    first = actions.log_search(user=rep, text="router", result_count=0)
    SearchEvent.objects.filter(pk=first.pk).update(
        created_at=first.created_at - timedelta(seconds=61)
    )

    second = actions.log_search(user=rep, text="router reset", result_count=0)

    assert second.pk != first.pk
    assert SearchEvent.objects.get(pk=first.pk).query == "router"


def test_another_persons_search_is_never_coalesced(rep, other_rep):
    mine = actions.log_search(user=rep, text="router", result_count=0)

    theirs = actions.log_search(user=other_rep, text="router reset", result_count=0)

    assert theirs.pk != mine.pk
    assert SearchEvent.objects.get(pk=mine.pk).query == "router"


def test_page_and_api_searches_are_not_coalesced(rep_client, entry):
    rep_client.get("/search/", {"q": "broadband"})
    rep_client.get(API, {"q": "broadband dropping"})

    assert sorted(SearchEvent.objects.values_list("source", flat=True)) == ["api", "page"]


def test_result_links_carry_the_search_event(rep_client, entry):
    response = rep_client.get("/search/", {"q": "broadband"})

    event = SearchEvent.objects.get()
    assert f"s={event.pk}" in response.content.decode()


def test_opening_a_result_records_the_first_entry_opened(rep_client, rep, make_entry):
    first = make_entry(question="Broadband drops at night", answer="Line test.")
    second = make_entry(question="Broadband slow", answer="Speed test.")
    event = actions.log_search(user=rep, text="broadband", result_count=2)

    rep_client.get(first.get_absolute_url(), {"s": event.pk})
    rep_client.get(second.get_absolute_url(), {"s": event.pk})

    event.refresh_from_db()
    assert event.opened_entry == first


def test_opening_with_another_persons_event_id_is_ignored(rep_client, other_rep, entry):
    theirs = actions.log_search(user=other_rep, text="broadband", result_count=1)

    response = rep_client.get(entry.get_absolute_url(), {"s": theirs.pk})

    assert response.status_code == 200
    theirs.refresh_from_db()
    assert theirs.opened_entry is None


@pytest.mark.parametrize("junk", ["abc", "-1", "0", "1.5", "9" * 30, "12abc", "%00", ""])
def test_opening_with_a_junk_event_id_is_harmless(rep_client, rep, entry, junk):
    event = actions.log_search(user=rep, text="broadband", result_count=1)

    response = rep_client.get(entry.get_absolute_url(), {"s": junk})

    assert response.status_code == 200
    event.refresh_from_db()
    assert event.opened_entry is None


@pytest.mark.parametrize("junk", ["abc", "9" * 30, "-3"])
def test_reuse_with_a_junk_event_id_still_counts_the_reuse(rep_client, entry, junk):
    response = rep_client.post(f"/entries/{entry.pk}/reuse/", {"s": junk})

    assert response.status_code == 302
    assert Reuse.objects.get().search_event is None


def test_reuse_from_a_search_links_and_marks_the_event(rep_client, rep, entry):
    rep_client.get("/search/", {"q": "broadband"})
    event = SearchEvent.objects.get()

    rep_client.post(f"/entries/{entry.pk}/reuse/", {"s": event.pk})

    event.refresh_from_db()
    reuse = Reuse.objects.get()
    assert reuse.search_event == event
    assert reuse.query == "broadband"
    assert (event.reused, event.opened_entry) == (True, entry)


def test_reuse_with_another_persons_event_does_not_mark_it(rep_client, other_rep, entry):
    theirs = actions.log_search(user=other_rep, text="broadband", result_count=1)

    rep_client.post(f"/entries/{entry.pk}/reuse/", {"s": theirs.pk})

    theirs.refresh_from_db()
    assert theirs.reused is False
    assert Reuse.objects.get().search_event is None


@pytest.mark.parametrize(
    ("typed", "normalized"),
    [
        ("reset router", "reset router"),
        ("router reset", "reset router"),
        ("how do I reset my router", "reset router"),
        ("How do I RESET my router?", "reset router"),
        ("resetting routers", "reset router"),
        ("router router reset", "reset router"),
        ('"reset the router"', "reset router"),
        ("tag:Billing refund", "refund tag:billing"),
        ("refund tag:billing tag:payments", "refund tag:billing tag:payments"),
        ("how do I", ""),
        ("", ""),
    ],
)
def test_normalise_query_groups_phrasings(typed, normalized):
    assert normalise_query(typed) == normalized


def test_typing_served_by_another_process_is_logged_twice_never_merged_wrongly(rep_client, entry):
    """The last search is remembered per process (the cache); another process does not
    know it and logs a second event rather than guessing."""
    rep_client.get("/search/", {"q": "broad"})
    cache.clear()  # as if the next request went to another app server

    rep_client.get("/search/", {"q": "broadband"})

    assert list(SearchEvent.objects.order_by("pk").values_list("query", flat=True)) == [
        "broad",
        "broadband",
    ]


@pytest.mark.django_db(transaction=True)
def test_search_logged_outside_a_transaction_is_committed_and_coalesced():
    """The path every real request takes (no surrounding transaction): on PostgreSQL the
    write commits on its own without waiting for the disk."""
    person = User.objects.create_user("tess")  # no group: flushes by other such tests drop them
    first = actions.log_search(user=person, text="router", result_count=0)
    second = actions.log_search(user=person, text="router reset", result_count=2)
    third = actions.log_search(user=person, text="broadband", result_count=1)

    assert second.pk == first.pk != third.pk
    rows = SearchEvent.objects.order_by("pk").values_list("user", "query", "result_count")
    assert list(rows) == [(person.pk, "router reset", 2), (person.pk, "broadband", 1)]
