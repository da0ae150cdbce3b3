"""The search log: what people searched for, opened and reused."""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from datetime import timedelta

from django.core.cache import cache
from django.db import connection, transaction
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

    The person's last search is remembered in the cache, which saves a query on every
    search; with a per-process cache, searches of one person served by two processes
    may be logged as two events, never merged wrongly.
    """
    query = " ".join((text or "").split())[: search.MAX_QUERY_LENGTH]
    now = timezone.now()
    normalized = search.normalise_query(query)
    key = _last_search_key(user, source)
    last = cache.get(key)
    with _without_waiting_for_disk():
        return _write(user, query, normalized, result_count, source, now, key, last)


def _write(user, query, normalized, result_count, source, now, key, last) -> SearchEvent:
    if last and _extends(last[1], query):
        # The cache only remembers what to try; the database decides: the event must
        # still be this person's, recent, and neither opened nor reused.
        updated = SearchEvent.objects.filter(
            pk=last[0],
            user=user,
            source=source,
            created_at__gte=now - SEARCH_COALESCE_WINDOW,
            opened_entry=None,
            reused=False,
        ).update(query=query, normalized=normalized, result_count=result_count, created_at=now)
        if updated:
            cache.set(key, (last[0], query), SEARCH_COALESCE_WINDOW.total_seconds())
            return SearchEvent(
                pk=last[0],
                user=user,
                query=query,
                normalized=normalized,
                result_count=result_count,
                source=source,
                created_at=now,
            )
    event = SearchEvent.objects.create(
        user=user,
        query=query,
        normalized=normalized,
        result_count=result_count,
        source=source,
        created_at=now,
    )
    cache.set(key, (event.pk, query), SEARCH_COALESCE_WINDOW.total_seconds())
    return event


def _without_waiting_for_disk():
    """On PostgreSQL, outside any other transaction: commit the search log's write
    without waiting for it to reach the disk (``synchronous_commit`` off for it alone),
    which is most of its time. A crash may lose the last fraction of a second of the
    search log, never corrupt it; entries and everything else still commit durably."""
    if connection.vendor != "postgresql" or not connection.get_autocommit():
        return nullcontext()
    return _asynchronous_commit()


@contextmanager
def _asynchronous_commit():
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


def _last_search_key(user, source: str) -> str:
    return f"kb:last-search:{user.pk}:{source}"


def _extends(old: str, new: str) -> bool:
    old, new = old.lower(), new.lower()
    return new.startswith(old) or old.startswith(new)


def search_opened(*, event_id: int | None, user, entry: Entry) -> None:
    """A result of the person's own search was opened; keep the first one opened."""
    if event_id:
        SearchEvent.objects.filter(pk=event_id, user=user, opened_entry=None).update(
            opened_entry=entry
        )
