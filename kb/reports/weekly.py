"""Weekly buckets for the charts: every week present, oldest first."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from django.db.models import (
    Case,
    Count,
    IntegerField,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone


def week_start(moment: datetime | date) -> date:
    """The Monday of the week ``moment`` falls in (local time), as TruncWeek counts."""
    day = timezone.localdate(moment) if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday())


def weeks_between(since: datetime | date, until: datetime | date) -> list[date]:
    """The Mondays of every week from ``since`` to ``until``, both included."""
    first, last = week_start(since), week_start(until)
    return [first + timedelta(weeks=n) for n in range((last - first).days // 7 + 1)]


def midnights(weeks: list[date]) -> list[datetime]:
    """When each of ``weeks`` begins: its Monday's local midnight."""
    return [timezone.make_aware(datetime.combine(week, time.min)) for week in weeks]


def week_finder(weeks: list[date]) -> Callable[[datetime], int | None]:
    """A function telling which of ``weeks`` a moment falls in (its position), or None
    outside them. It compares timestamps, where ``week_start`` converts every moment to
    local time: the difference shows when thousands of rows are bucketed."""
    edges = [edge.timestamp() for edge in midnights([*weeks, weeks[-1] + timedelta(weeks=1)])]

    def find(moment: datetime) -> int | None:
        found = bisect_right(edges, moment.timestamp()) - 1
        return found if 0 <= found < len(weeks) else None

    return find


def weekly_tally(
    queryset: QuerySet,
    field: str,
    *,
    since: datetime,
    until: datetime,
    weeks: list[date],
    **aggregates,
) -> dict[str, list[int]]:
    """Each of ``aggregates`` per week of ``field`` in ``[since, until)``, in one query:
    ``{name: [value in weeks[0], value in weeks[1], ...]}``. ``weeks`` are the Mondays
    from ``weeks_between``, covering the period.

    Rows are put in their week by comparing ``field`` with the weeks' local midnights
    (a binary search written as nested CASE), not with TruncWeek: on SQLite that is a
    Python function called for every row, several times slower on the search log.
    """
    starts = midnights(weeks[1:])

    def week_of(first: int, last: int):
        if first == last:
            return Value(first)
        middle = (first + last + 1) // 2
        return Case(
            When(**{f"{field}__lt": starts[middle - 1]}, then=week_of(first, middle - 1)),
            default=week_of(middle, last),
            output_field=IntegerField(),
        )

    rows = (
        queryset.filter(**{f"{field}__gte": since, f"{field}__lt": until})
        .order_by()
        .values(week_index=week_of(0, len(weeks) - 1))
        .annotate(**aggregates)
    )
    tallies = {name: [0] * len(weeks) for name in aggregates}
    for row in rows:
        for name in aggregates:
            tallies[name][row["week_index"]] = row[name]
    return tallies


def weekly_counts(
    queryset: QuerySet, field: str, *, since: datetime, until: datetime, distinct: str = "pk"
) -> list[tuple[date, int]]:
    """Rows of ``queryset`` per week of ``field`` in ``[since, until)`` (one query), every
    week present, oldest first; ``distinct`` counts distinct values of another field
    instead (people, entries)."""
    weeks = weeks_between(since, until)
    counted = Count(distinct, distinct=True)
    tally = weekly_tally(queryset, field, since=since, until=until, weeks=weeks, n=counted)
    return list(zip(weeks, tally["n"], strict=True))
