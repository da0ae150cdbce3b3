"""Weekly buckets for the charts: every week present, oldest first."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db.models import (
    Count,
    QuerySet,
)
from django.db.models.functions import TruncWeek
from django.utils import timezone


def week_start(moment: datetime | date) -> date:
    """The Monday of the week ``moment`` falls in (local time), as TruncWeek counts."""
    day = timezone.localdate(moment) if isinstance(moment, datetime) else moment
    return day - timedelta(days=day.weekday())


def weeks_between(since: datetime | date, until: datetime | date) -> list[date]:
    """The Mondays of every week from ``since`` to ``until``, both included."""
    first, last = week_start(since), week_start(until)
    return [first + timedelta(weeks=n) for n in range((last - first).days // 7 + 1)]


def weekly_counts(
    queryset: QuerySet, field: str, *, since: datetime, until: datetime, distinct: str = "pk"
) -> list[tuple[date, int]]:
    """Rows of ``queryset`` per week of ``field`` (one query), every week present, oldest
    first; ``distinct`` counts distinct values of another field instead (people, entries)."""
    rows = (
        queryset.filter(**{f"{field}__gte": since, f"{field}__lt": until})
        .annotate(week=TruncWeek(field))
        .values("week")
        .annotate(n=Count(distinct, distinct=True))
        .values_list("week", "n")
    )
    counts = {week_start(week): n for week, n in rows}
    return [(week, counts.get(week, 0)) for week in weeks_between(since, until)]
