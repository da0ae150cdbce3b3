"""The supervisor's gaps review: where the floor searched and found nothing useful,
open questions, flagged and stale entries, thin tags."""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce
from typing import Generic, TypeVar

from django.db.models import (
    Case,
    Count,
    DateTimeField,
    ExpressionWrapper,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    When,
    Window,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from taggit.models import Tag

from kb.models import (
    Entry,
    Flag,
    Question,
    Reuse,
    SearchEvent,
    TaggedEntry,
)
from kb.reports.questions import no_result_searchers

GAP_PAGE_SIZE = 50
STALE_AFTER_DAYS = 90  # a usable entry nobody reused for this long needs a look
THIN_TAG_MAX_ENTRIES = 3
THIN_TAG_MIN_SEARCHES = 2
PEOPLE_SHOWN = 5
USABLE_STATES = (Entry.State.PUBLISHED, Entry.State.VALIDATED)

RowT = TypeVar("RowT")


@dataclass(frozen=True)
class GapFilter:
    """What a supervisor narrowed a gap list to: a period (``since`` inclusive, ``until``
    exclusive) and a tag."""

    since: datetime | None = None
    until: datetime | None = None
    tag: str | None = None

    def period(self, field: str) -> Q:
        q = Q()
        if self.since:
            q &= Q(**{f"{field}__gte": self.since})
        if self.until:
            q &= Q(**{f"{field}__lt": self.until})
        return q


@dataclass(frozen=True)
class GapList(Generic[RowT]):
    """One page of a gap list and how many rows the whole list has."""

    rows: list[RowT]
    total: int


def _stems(text: str) -> list[str]:
    """The words of ``text`` as search reduces them (``kb.search`` imports this module,
    hence the late import)."""
    from kb.search.text import stems as search_stems

    return search_stems(text)


def _has_word(field: str, word: str) -> Q:
    """``field`` (space-separated words, as normalised queries are) contains ``word``."""
    return (
        Q(**{field: word})
        | Q(**{f"{field}__startswith": f"{word} "})
        | Q(**{f"{field}__endswith": f" {word}"})
        | Q(**{f"{field}__contains": f" {word} "})
    )


def mentions_tag(tag: str, field: str = "normalized") -> Q:
    """Searches (or questions) about ``tag``: filtered with ``tag:<name>``, or using the
    tag's words (stemmed, as the normalised query is)."""
    condition = _has_word(field, f"tag:{tag}")
    words = _stems(tag)
    if words:
        condition |= reduce(operator.and_, (_has_word(field, word) for word in words))
    return condition


def _tagged_entries(tag: str) -> QuerySet:
    return TaggedEntry.objects.filter(tag__name=tag).values("content_object_id")


def _page(queryset: QuerySet, offset: int, limit: int) -> tuple[list, int]:
    """One page of ``queryset`` and the size of the whole list, in one query: every row
    carries the total (a window count), so no second pass over the events is needed."""
    rows = list(queryset.annotate(list_total=Window(Count("*")))[offset : offset + limit])
    if not rows:
        return [], queryset.count() if offset else 0
    first = rows[0]
    return rows, first["list_total"] if isinstance(first, dict) else first.list_total


def _searches(gap_filter: GapFilter) -> QuerySet[SearchEvent]:
    events = SearchEvent.objects.exclude(normalized="").filter(gap_filter.period("created_at"))
    if gap_filter.tag:
        events = events.filter(mentions_tag(gap_filter.tag))
    return events.order_by()  # no default ordering: it would split the GROUP BY


def _latest_queries(event_ids: Iterable[int]) -> dict[int, str]:
    """What was typed, by event id (one query)."""
    return dict(SearchEvent.objects.filter(pk__in=list(event_ids)).values_list("pk", "query"))


def _searchers(gap_filter: GapFilter, keys: list[str]) -> dict[str, list[str]]:
    """Up to PEOPLE_SHOWN usernames per normalised query whose search found nothing, most
    recent first (read from the no-result index alone)."""
    if not keys:
        return {}
    rows = (
        _searches(gap_filter)
        .filter(normalized__in=keys, result_count=0)
        .exclude(user=None)
        .values("normalized", "user__username")
        .annotate(last=Max("created_at"))
        .order_by("normalized", "-last")
        .values_list("normalized", "user__username")
    )
    names: defaultdict[str, list[str]] = defaultdict(list)
    for normalized, username in rows:
        if len(names[normalized]) < PEOPLE_SHOWN:
            names[normalized].append(username)
    return names


@dataclass(frozen=True)
class SearchGap:
    """Searches that found nothing, grouped by what they asked (their normalised query)."""

    normalized: str
    query: str  # the latest as typed
    count: int
    people: int
    usernames: list[str]
    first_seen: datetime
    last_seen: datetime
    question: Question | None = None  # the open question asking the same, if any


def no_result_searches(
    gap_filter: GapFilter, limit: int = GAP_PAGE_SIZE, offset: int = 0
) -> GapList[SearchGap]:
    """Searches with no result, most frequent first (four queries)."""
    groups = (
        _searches(gap_filter)
        .filter(result_count=0)
        .values("normalized")
        .annotate(
            count=Count("id"),
            people=Count("user", distinct=True),
            first_seen=Min("created_at"),
            last_seen=Max("created_at"),
            latest=Max("id"),
        )
        .order_by("-count", "-last_seen", "normalized")
    )
    rows, total = _page(groups, offset, limit)
    keys = [row["normalized"] for row in rows]
    queries = _latest_queries(row["latest"] for row in rows)
    people = _searchers(gap_filter, keys)
    questions = _open_questions(keys)
    return GapList(
        [
            SearchGap(
                normalized=row["normalized"],
                query=queries.get(row["latest"], row["normalized"]),
                count=row["count"],
                people=row["people"],
                usernames=people.get(row["normalized"], []),
                first_seen=row["first_seen"],
                last_seen=row["last_seen"],
                question=questions.get(row["normalized"]),
            )
            for row in rows
        ],
        total,
    )


def _open_questions(keys: list[str]) -> dict[str, Question]:
    """The oldest open question per normalised text (one query)."""
    if not keys:
        return {}
    found = (
        Question.objects.filter(state=Question.State.OPEN, normalized__in=keys)
        .select_related("assigned_to")
        .order_by("-created_at")
    )
    return {question.normalized: question for question in found}


@dataclass(frozen=True)
class UnusedSearch:
    """Searches that found answers, none of which helped on the call (no reuse)."""

    normalized: str
    query: str
    count: int  # searches with results and no reuse
    opened: int  # of those, how many opened a result
    searches: int  # all searches for it with results
    people: int
    last_seen: datetime


def searches_without_reuse(
    gap_filter: GapFilter, limit: int = GAP_PAGE_SIZE, offset: int = 0
) -> GapList[UnusedSearch]:
    """Searches with results but no reuse, grouped like ``no_result_searches`` (three
    queries).

    The groups are ranked over the searches without reuse only, which the not-reused index
    holds; how many searches had results and how many people searched are then counted
    for the page's groups alone, rather than over the whole log.
    """
    not_reused = Q(reused=False)
    groups = (
        _searches(gap_filter)
        .filter(not_reused, result_count__gt=0)
        .values("normalized")
        .annotate(
            count=Count("id"),
            opened=Count("id", filter=Q(opened_entry__isnull=False)),
            last_seen=Max("created_at"),
            latest=Max("id"),
        )
        .order_by("-count", "-last_seen", "normalized")
    )
    rows, total = _page(groups, offset, limit)
    keys = [row["normalized"] for row in rows]
    searched = {
        row["normalized"]: row
        for row in _searches(gap_filter)
        .filter(normalized__in=keys, result_count__gt=0)
        .values("normalized")
        .annotate(searches=Count("id"), people=Count("user", distinct=True, filter=not_reused))
    }
    queries = _latest_queries(row["latest"] for row in rows)
    return GapList(
        [
            UnusedSearch(
                normalized=row["normalized"],
                query=queries.get(row["latest"], row["normalized"]),
                count=row["count"],
                opened=row["opened"],
                searches=searched[row["normalized"]]["searches"],
                people=searched[row["normalized"]]["people"],
                last_seen=row["last_seen"],
            )
            for row in rows
        ],
        total,
    )


@dataclass(frozen=True)
class AgedQuestion:
    question: Question
    age_days: int
    searchers: int  # people whose search for it found nothing


def open_questions_by_age(
    gap_filter: GapFilter, limit: int = GAP_PAGE_SIZE, offset: int = 0
) -> GapList[AgedQuestion]:
    """Open questions, oldest first, with who is assigned (two queries)."""
    questions = Question.objects.filter(state=Question.State.OPEN).filter(
        gap_filter.period("created_at")
    )
    if gap_filter.tag:
        questions = questions.filter(mentions_tag(gap_filter.tag))
    questions = questions.select_related("asked_by", "assigned_to").order_by("created_at", "pk")
    page, total = _page(questions, offset, limit)
    searchers = no_result_searchers(question.normalized for question in page)
    now = timezone.now()
    return GapList(
        [AgedQuestion(q, (now - q.created_at).days, searchers.get(q.normalized, 0)) for q in page],
        total,
    )


@dataclass(frozen=True)
class FlaggedEntry:
    entry: Entry
    open_flags: int
    reasons: list[tuple[str, int]]  # reason label, open flags with it
    oldest_flag_at: datetime


def flagged_entries(
    gap_filter: GapFilter, limit: int = GAP_PAGE_SIZE, offset: int = 0
) -> GapList[FlaggedEntry]:
    """Entries in use with open flags, most flagged first (three queries).

    The period picks flags raised in it; the tag, entries carrying it.
    """
    flags = Flag.objects.filter(state=Flag.State.OPEN).filter(gap_filter.period("created_at"))
    flags = flags.exclude(entry__state=Entry.State.ARCHIVED).order_by()
    if gap_filter.tag:
        flags = flags.filter(entry_id__in=_tagged_entries(gap_filter.tag))
    groups = (
        flags.values("entry_id")
        .annotate(open_flags=Count("id"), oldest=Min("created_at"))
        .order_by("-open_flags", "oldest", "entry_id")
    )
    rows, total = _page(groups, offset, limit)
    ids = [row["entry_id"] for row in rows]
    entries = Entry.objects.select_related("owner").in_bulk(ids)
    reasons: defaultdict[int, list[tuple[str, int]]] = defaultdict(list)
    labels = dict(Flag.Reason.choices)
    for entry_id, reason, count in (
        flags.filter(entry_id__in=ids)
        .values("entry_id", "reason")
        .annotate(count=Count("id"))
        .order_by("entry_id", "-count", "reason")
        .values_list("entry_id", "reason", "count")
    ):
        reasons[entry_id].append((labels.get(reason, reason), count))
    return GapList(
        [
            FlaggedEntry(
                entries[row["entry_id"]], row["open_flags"], reasons[row["entry_id"]], row["oldest"]
            )
            for row in rows
            if row["entry_id"] in entries
        ],
        total,
    )


@dataclass(frozen=True)
class StaleEntry:
    """A usable entry due for a look: its review date passed, or nobody reused it lately."""

    entry: Entry
    overdue: bool
    last_reuse: datetime | None
    unused_since: datetime | None  # last reuse, or publication when never reused

    @property
    def reasons(self) -> list[str]:
        found = []
        if self.overdue:
            found.append(f"Review overdue since {_day(self.entry.review_due_at)}")
        if self.unused_since:
            if self.last_reuse:
                found.append(f"No reuse since {_day(self.last_reuse)}")
            else:
                found.append(f"Never reused (published {_day(self.unused_since)})")
        return found


def _day(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%-d %b %Y")


def stale_entries(
    gap_filter: GapFilter, limit: int = GAP_PAGE_SIZE, offset: int = 0
) -> GapList[StaleEntry]:
    """Published or validated entries past their review date or not reused in
    STALE_AFTER_DAYS, longest stale first (one query).

    The period picks entries published in it; the tag, entries carrying it.
    """
    now = timezone.now()
    cutoff = now - timedelta(days=STALE_AFTER_DAYS)
    last_reuse = (
        Reuse.objects.filter(entry=OuterRef("pk")).order_by("-created_at").values("created_at")[:1]
    )
    entries = (
        Entry.objects.filter(state__in=USABLE_STATES)
        .annotate(
            last_reuse=Subquery(last_reuse),
            since=Coalesce("published_at", "created_at"),
        )
        .annotate(idle_since=Coalesce("last_reuse", "since"))
        .filter(gap_filter.period("since"))
        .filter(Q(review_due_at__lt=now) | Q(idle_since__lt=cutoff))
    )
    if gap_filter.tag:
        entries = entries.filter(pk__in=_tagged_entries(gap_filter.tag))
    # Stale since: the review date when it passed, else the day the reuse window closed.
    entries = entries.annotate(
        stale_since=Case(
            When(review_due_at__lt=now, then=F("review_due_at")),
            default=ExpressionWrapper(
                F("idle_since") + timedelta(days=STALE_AFTER_DAYS),
                output_field=DateTimeField(),
            ),
        )
    ).order_by("stale_since", "pk")
    page, total = _page(entries.select_related("owner"), offset, limit)
    return GapList(
        [
            StaleEntry(
                entry=entry,
                overdue=bool(entry.review_due_at and entry.review_due_at < now),
                last_reuse=entry.last_reuse,
                unused_since=entry.idle_since if entry.idle_since < cutoff else None,
            )
            for entry in page
        ],
        total,
    )


@dataclass(frozen=True)
class ThinTag:
    """A tag the floor searches for often but that few usable entries carry."""

    tag: str
    searches: int
    entries: int

    @property
    def ratio(self) -> float:
        """Searches per usable entry (all of them when there is none)."""
        return self.searches / self.entries if self.entries else float(self.searches)


def thin_tags(
    gap_filter: GapFilter, limit: int = GAP_PAGE_SIZE, offset: int = 0
) -> GapList[ThinTag]:
    """Tags with at most THIN_TAG_MAX_ENTRIES usable entries searched at least
    THIN_TAG_MIN_SEARCHES times, most searched first (two queries).

    A search is about a tag when its normalised query filters on ``tag:<name>`` or uses
    the tag's words. Searches are counted per distinct normalised query in SQL and only
    those strings are matched here, against the few thin tags.
    """
    usable = Q(kb_taggedentry_items__content_object__state__in=USABLE_STATES)
    tags = Tag.objects.annotate(entries=Count("kb_taggedentry_items", filter=usable)).filter(
        entries__lte=THIN_TAG_MAX_ENTRIES
    )
    if gap_filter.tag:
        tags = tags.filter(name=gap_filter.tag)
    by_word: defaultdict[str, list[tuple[str, frozenset[str]]]] = defaultdict(list)
    entry_counts = {}
    for name, entries in tags.values_list("name", "entries"):
        entry_counts[name] = entries
        by_word[f"tag:{name}"].append((name, frozenset()))
        words = _stems(name)
        if words:
            by_word[words[0]].append((name, frozenset(words)))
    searches: defaultdict[str, int] = defaultdict(int)
    if entry_counts:
        counted = _searches(gap_filter).values("normalized").annotate(n=Count("id"))
        for normalized, n in counted.values_list("normalized", "n"):
            words = set(normalized.split())
            found = {
                name for word in words for name, needs in by_word.get(word, ()) if needs <= words
            }
            for name in found:
                searches[name] += n
    rows = sorted(
        (
            ThinTag(name, count, entry_counts[name])
            for name, count in searches.items()
            if count >= THIN_TAG_MIN_SEARCHES
        ),
        key=lambda row: (-row.searches, row.entries, row.tag),
    )
    return GapList(rows[offset : offset + limit], len(rows))
