"""The search log: what people searched for, opened and reused."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from kb import search
from kb.models import (
    Entry,
    SearchEvent,
)

SEARCH_COALESCE_WINDOW = timedelta(seconds=60)


def log_search(
    *, user, text: str, result_count: int, source: str = SearchEvent.Source.PAGE
) -> SearchEvent:
    """Record a search someone ran (see DESIGN.md, "Search event").

    Search as you type sends a request at every pause: "reset", "reset rou", "reset
    router". Those are one search, so a query that extends or shortens the same person's
    previous one, within a minute and before they opened anything, updates that event
    instead of adding another. What they typed last is what is kept.
    """
    query = " ".join((text or "").split())[: search.MAX_QUERY_LENGTH]
    now = timezone.now()
    normalized = search.normalise_query(query)
    previous = (
        SearchEvent.objects.filter(
            user=user, source=source, created_at__gte=now - SEARCH_COALESCE_WINDOW
        )
        .only("pk", "query", "opened_entry_id", "reused")
        .first()
    )
    if previous and _same_search(previous, query):
        SearchEvent.objects.filter(pk=previous.pk).update(
            query=query, normalized=normalized, result_count=result_count, created_at=now
        )
        previous.query, previous.normalized, previous.result_count = query, normalized, result_count
        previous.created_at = now
        return previous
    return SearchEvent.objects.create(
        user=user,
        query=query,
        normalized=normalized,
        result_count=result_count,
        source=source,
        created_at=now,
    )


def _same_search(previous: SearchEvent, query: str) -> bool:
    if previous.opened_entry_id or previous.reused:
        return False
    old, new = previous.query.lower(), query.lower()
    return new.startswith(old) or old.startswith(new)


def search_opened(*, event_id: int | None, user, entry: Entry) -> None:
    """A result of the person's own search was opened; keep the first one opened."""
    if event_id:
        SearchEvent.objects.filter(pk=event_id, user=user, opened_entry=None).update(
            opened_entry=entry
        )
