"""The PostgreSQL backend on a large site: queries of very common words.

A large site is simulated with a few dozen entries and the thresholds scaled down to
match; the backend reads PostgreSQL's real column statistics (ANALYZE) as it would on a
site of 100,000 entries.
"""

from __future__ import annotations

import pytest
from django.db import connection

from kb import search

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the PostgreSQL search backend's behaviour"
)


@pytest.fixture
def large_site(monkeypatch, transactional_index):
    from kb.search import postgres_backend, ranking

    if not transactional_index:
        pytest.skip("runs with KB_SEARCH_BACKEND=postgres (make test-postgres)")
    monkeypatch.setattr(postgres_backend, "NARROW_FROM", 10)
    monkeypatch.setattr(postgres_backend, "CANDIDATE_BUDGET", 5)
    monkeypatch.setattr(postgres_backend, "WIDER_BUDGET", 15)
    monkeypatch.setattr(postgres_backend, "BROAD_FROM", 30)
    monkeypatch.setattr(postgres_backend, "BROAD_SAMPLE", 25)
    monkeypatch.setattr(ranking, "RERANK_DEPTH", 20)  # entries the service asks for

    def analyse():
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE kb_searchdocument")
        postgres_backend._statistics_cache.clear()

    yield analyse
    postgres_backend._statistics_cache.clear()


def test_common_word_ranks_the_most_recently_updated_entries(large_site, make_entry, rep):
    """'router' is in every entry: only the 25 most recently updated are ranked, so the
    oldest, whose short question would otherwise rank first, is not among the results."""
    oldest = make_entry(question="Router", answer="Restart it.")
    entries = [
        make_entry(question=f"Router number {i} blinks orange", answer="Check the cable.")
        for i in range(59)
    ]
    large_site()

    found = search.search("router", user=rep)

    recent = {entry.pk for entry in entries[-25:]}
    ids = [result.entry.pk for result in found.results]
    assert len(ids) == 20
    assert set(ids) <= recent
    assert oldest.pk not in ids
    assert found.total >= 20  # PostgreSQL's estimate of the 60 matches


def test_common_word_with_too_few_visible_in_the_recent_ones_ranks_every_match(
    large_site, make_entry, rep
):
    """The statistics count archived entries too: when the recent ones visible are fewer
    than a page, every match is ranked instead."""
    kept = [make_entry(question=f"Router {i} has no lights", answer="Power.") for i in range(8)]
    for i in range(52):
        make_entry(question=f"Router {i} is retired", answer="Gone.", state="archived")
    large_site()

    found = search.search("router", user=rep)

    assert sorted(result.entry.pk for result in found.results) == sorted(e.pk for e in kept)
    assert found.total == 8


def test_rare_word_beside_a_common_one_finds_the_old_entry_holding_it(large_site, make_entry, rep):
    """The entries holding the rarer word rank first, however old they are; as they are
    fewer than a page, the page is filled from the most recent entries holding the
    common word, not by ranking all of them."""
    zebras = [
        make_entry(question=f"Router {i} with a zebra sticker", answer="Vintage.") for i in range(3)
    ]
    others = [
        make_entry(question=f"Router number {i} blinks orange", answer="Check the cable.")
        for i in range(57)
    ]
    large_site()

    found = search.search("router zebra", user=rep)

    ids = [result.entry.pk for result in found.results]
    assert sorted(ids[:3]) == sorted(entry.pk for entry in zebras)
    assert len(ids) == 20
    assert set(ids[3:]) <= {entry.pk for entry in others[-25:]}
