"""The search log: what people searched for, opened and reused."""

from __future__ import annotations

from datetime import timedelta

from django.core.cache import cache
from django.db import connection
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
    event = SearchEvent(
        user=user,
        query=query,
        normalized=normalized,
        result_count=result_count,
        source=source,
        created_at=now,
    )
    stored = connection.ops.adapt_datetimefield_value  # raw SQL: as the ORM stores it
    if last and _extends(last[1], query):
        since = stored(now - SEARCH_COALESCE_WINDOW)
        # The cache only remembers what to try; the database decides: the event must
        # still be this person's, recent, and neither opened nor reused.
        event.pk = _write_event(
            "UPDATE kb_searchevent SET query = %s, normalized = %s, result_count = %s, "
            "created_at = %s WHERE id = %s AND user_id = %s AND source = %s "
            "AND created_at >= %s AND opened_entry_id IS NULL AND NOT reused RETURNING id",
            [query, normalized, result_count, stored(now), last[0], user.pk, source, since],
        )
    if event.pk is None:
        event.pk = _write_event(
            "INSERT INTO kb_searchevent (user_id, query, normalized, result_count, source, "
            "reused, created_at) VALUES (%s, %s, %s, %s, %s, false, %s) RETURNING id",
            [user.pk, query, normalized, result_count, source, stored(now)],
        )
    cache.set(key, (event.pk, query), SEARCH_COALESCE_WINDOW.total_seconds())
    return event


def _write_event(statement: str, params: list) -> int | None:
    """Run one INSERT or UPDATE of the search log; the id it wrote, if any.

    A search is logged on every request, so this is one statement in one round trip,
    not the ORM's several. On PostgreSQL, outside any other transaction, the statement
    is committed without waiting for the disk (``synchronous_commit`` off for it alone),
    which is most of its time: a crash may lose the last fraction of a second of the
    search log, never corrupt it; entries and everything else still commit durably.
    """
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql" or not connection.get_autocommit():
            cursor.execute(statement, params)
            row = cursor.fetchone()
            return row[0] if row else None
        cursor.execute(
            "BEGIN; SET LOCAL synchronous_commit TO OFF; "
            + connection.ops.compose_sql(statement, params)
            + "; COMMIT"
        )
        cursor.nextset()  # SET LOCAL
        cursor.nextset()
        row = cursor.fetchone()
        while cursor.nextset():  # COMMIT: read every result before the next query
            pass
        return row[0] if row else None


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
