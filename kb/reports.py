"""Read-side queries: aggregates for the home page, supervisors and profiles."""

from __future__ import annotations

import operator
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import reduce
from typing import Generic, TypeVar

from django.contrib.auth import get_user_model
from django.db.models import (
    Case,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone
from django.utils.timesince import timesince
from taggit.models import Tag

from kb.models import (
    Entry,
    Flag,
    Question,
    Reuse,
    Revision,
    SearchEvent,
    TaggedEntry,
    Team,
    Thanks,
)


def popular_tags(*, limit: int = 20) -> list[tuple[str, int]]:
    """Tags on usable (not archived, not draft) entries, most used first."""
    rows = (
        Tag.objects.filter(
            kb_taggedentry_items__content_object__state__in=[
                Entry.State.PUBLISHED,
                Entry.State.VALIDATED,
            ]
        )
        .annotate(uses=Count("kb_taggedentry_items"))
        .order_by("-uses", "name")
        .values_list("name", "uses")[:limit]
    )
    return list(rows)


def recent_entries(user, *, limit: int = 10) -> list[Entry]:
    return list(
        Entry.objects.visible_to(user)
        .searchable()
        .select_related("author")
        .prefetch_related("tags")
        .order_by("-updated_at")[:limit]
    )


@dataclass(frozen=True)
class Usage:
    """How often an entry helped on a call, and when last."""

    count: int = 0
    last_used_at: datetime | None = None

    @property
    def just_now(self) -> bool:
        return bool(self.last_used_at) and timezone.now() - self.last_used_at < timedelta(minutes=1)


def reuse_stats(entry_ids: list[int]) -> defaultdict[int, Usage]:
    """Usage per entry in one query; entries never reused get ``Usage()``."""
    rows = (
        Reuse.objects.filter(entry_id__in=entry_ids)
        .values("entry_id")
        .annotate(count=Count("id"), last=Max("created_at"))
        .values_list("entry_id", "count", "last")
    )
    usage: defaultdict[int, Usage] = defaultdict(Usage)
    for entry_id, count, last in rows:
        usage[entry_id] = Usage(count, last)
    return usage


# --- Weekly series (for charts) ---


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


# --- Open questions ---

QUESTIONS_PAGE_SIZE = 30
RECENTLY_ANSWERED = 20


@dataclass(frozen=True)
class OpenQuestion:
    """An open question and how many people searched for it and found nothing."""

    question: Question
    searchers: int = 0

    @property
    def age(self) -> str:
        """How long it has waited, in its largest unit: "3 days ago", or "just now"."""
        if timezone.now() - self.question.created_at < timedelta(minutes=1):
            return "just now"
        return f"{timesince(self.question.created_at, depth=1)} ago"


def open_questions(
    *, oldest_first: bool = False, limit: int = QUESTIONS_PAGE_SIZE, offset: int = 0
) -> list[OpenQuestion]:
    """A page of open questions, newest (or oldest) first, in two queries."""
    order = ["created_at", "pk"] if oldest_first else ["-created_at", "-pk"]
    questions = list(
        Question.objects.filter(state=Question.State.OPEN)
        .select_related("asked_by", "assigned_to")
        .order_by(*order)[offset : offset + limit]
    )
    searchers = no_result_searchers(question.normalized for question in questions)
    return [OpenQuestion(question, searchers.get(question.normalized, 0)) for question in questions]


def open_question_count() -> int:
    return Question.objects.filter(state=Question.State.OPEN).count()


def no_result_searchers(normalized: Iterable[str]) -> dict[str, int]:
    """Per normalised query: how many people searched for it and found nothing (one query)."""
    keys = {value for value in normalized if value}
    if not keys:
        return {}
    rows = (
        SearchEvent.objects.filter(normalized__in=keys, result_count=0)
        .exclude(user=None)
        .order_by()
        .values("normalized")
        .annotate(people=Count("user", distinct=True))
        .values_list("normalized", "people")
    )
    return dict(rows)


def recently_answered(user, *, limit: int = RECENTLY_ANSWERED) -> list[Question]:
    """Questions answered or closed lately whose entry ``user`` can open, newest first."""
    visible = ~Q(answer_entry__state=Entry.State.DRAFT) | Q(answer_entry__author=user)
    return list(
        Question.objects.exclude(state=Question.State.OPEN)
        .filter(visible, answer_entry__isnull=False)
        .select_related("asked_by", "answered_by", "answer_entry")
        .order_by("-answered_at", "-pk")[:limit]
    )


def open_question_matching(normalized: str) -> Question | None:
    """The open question that asks what this (normalised) search asked, if any."""
    if not normalized:
        return None
    return (
        Question.objects.filter(state=Question.State.OPEN, normalized=normalized)
        .select_related("asked_by")
        .order_by("created_at")
        .first()
    )


def assignable_reps() -> list:
    """People a question can be given to: active members of the Reps group, by name."""
    return list(
        get_user_model()
        .objects.filter(groups__name="Reps", is_active=True)
        .order_by("username")
        .distinct()
    )


# --- Gaps ---

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
    recent first. ``result_count < 1`` rather than ``= 0``: SQLite then reads the few
    groups through the (normalized, created_at) index instead of every empty search."""
    if not keys:
        return {}
    rows = (
        _searches(gap_filter)
        .filter(normalized__in=keys, result_count__lt=1)
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
    """Searches with results but no reuse, grouped like ``no_result_searches``."""
    not_reused = Q(reused=False)
    groups = (
        _searches(gap_filter)
        .filter(result_count__gt=0)
        .values("normalized")
        .annotate(
            searches=Count("id"),
            count=Count("id", filter=not_reused),
            opened=Count("id", filter=not_reused & Q(opened_entry__isnull=False)),
            people=Count("user", distinct=True, filter=not_reused),
            last_seen=Max("created_at", filter=not_reused),
            latest=Max("id", filter=not_reused),
        )
        .filter(count__gt=0)
        .order_by("-count", "-last_seen", "normalized")
    )
    rows, total = _page(groups, offset, limit)
    queries = _latest_queries(row["latest"] for row in rows)
    return GapList(
        [
            UnusedSearch(
                normalized=row["normalized"],
                query=queries.get(row["latest"], row["normalized"]),
                count=row["count"],
                opened=row["opened"],
                searches=row["searches"],
                people=row["people"],
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


# --- KCS measures ---

REPS_GROUP = "Reps"
MAX_TEAMS_COMPARED = 20

# The summaries ``actions.change_state`` gives its revisions ("Draft → Published"). A
# revision after the first whose summary is one of these moved the entry between states;
# every other one (an edit, a restore, an imported edit) changed what the entry says.
STATE_CHANGE_SUMMARIES = tuple(
    f"{old} → {new}" for old in Entry.State.labels for new in Entry.State.labels
)
IMPROVING = Q(number__gt=1) & ~Q(summary__in=STATE_CHANGE_SUMMARIES)
# Creating an entry saves its revision 1 (editor = author, at its creation).
CONTRIBUTING = Q(number=1) | IMPROVING


@dataclass(frozen=True)
class Ratio:
    """``part`` out of ``whole``; no percentage when there is nothing to divide by."""

    part: int = 0
    whole: int = 0

    @property
    def percent(self) -> float | None:
        return round(100 * self.part / self.whole, 1) if self.whole else None


@dataclass(frozen=True)
class Figures:
    """The KCS figures of one period, for the whole floor or one team."""

    participation: Ratio  # active reps who created or improved an entry / active reps
    reuse_rate: Ratio  # searches followed by a reuse / searches
    link_rate: Ratio  # reuses with a case reference / reuses
    known: Ratio  # reuses (of known entries) / (reuses + entries created)
    time_to_publish: timedelta | None  # median, entries first published in the period
    time_to_answer: timedelta | None  # median, questions answered in the period
    created: int
    improved: int  # distinct entries with an improving revision
    flagged: int
    validated: int  # entries whose last validation is in the period


Series = list[tuple[date, float | int | None]]


@dataclass(frozen=True)
class WeeklyMeasures:
    """Each figure per week (Monday first), oldest first: rates in %, medians in hours."""

    participation: Series
    reuse_rate: Series
    link_rate: Series
    known: Series
    time_to_publish: Series
    time_to_answer: Series
    created: Series
    improved: Series
    flagged: Series
    validated: Series


@dataclass(frozen=True)
class Measures:
    since: datetime
    until: datetime
    team: Team | None
    figures: Figures
    weekly: WeeklyMeasures


@dataclass(frozen=True)
class TeamComparison:
    """Each team's figures side by side, unless there are too many teams to compare."""

    rows: list[tuple[Team, Figures]]
    team_count: int

    @property
    def too_many(self) -> bool:
        return self.team_count > MAX_TEAMS_COMPARED


def kcs_measures(*, since: datetime, until: datetime, team: Team | None = None) -> Measures:
    """The KCS measures for ``[since, until)``, with a weekly series for each.

    With a ``team``, every figure counts what its members did: entries they created,
    revisions they saved, searches they ran, reuses they recorded, flags they raised,
    entries they validated, questions they answered. Fifteen queries whatever the number
    of rows: nine for the figures, six for the weekly series.
    """
    teams, key = (None, None) if team is None else ([team], team.pk)
    spans = _spans(since=since, until=until, teams=teams)
    figures = _figures(since=since, until=until, teams=teams, spans=spans)[key]
    weekly = _weekly(
        since=since,
        until=until,
        team=team,
        active_reps=figures.participation.whole,
        spans=(spans[0].get(key, []), spans[1].get(key, [])),
    )
    return Measures(since, until, team, figures, weekly)


def team_comparison(*, since: datetime, until: datetime, teams: list[Team]) -> TeamComparison:
    """Every team's figures for ``[since, until)`` in nine queries, if there are at most
    ``MAX_TEAMS_COMPARED`` teams (no query otherwise)."""
    if not teams or len(teams) > MAX_TEAMS_COMPARED:
        return TeamComparison([], len(teams))
    spans = _spans(since=since, until=until, teams=teams)
    figures = _figures(since=since, until=until, teams=teams, spans=spans)
    return TeamComparison([(team, figures[team.pk]) for team in teams], len(teams))


def _figures(
    *, since: datetime, until: datetime, teams: list[Team] | None, spans: tuple[dict, dict]
) -> dict[int | None, Figures]:
    """Figures keyed by team id, or by ``None`` for the whole floor (``teams`` None);
    ``spans`` are the publish and answer times from ``_spans``."""
    period = {"created_at__gte": since, "created_at__lt": until}
    contributions = Revision.objects.filter(CONTRIBUTING, **period, editor=OuterRef("pk"))
    reps = _tally(
        _active_reps(),
        "",
        teams,
        active=Count("pk", distinct=True),
        participating=Count("pk", distinct=True, filter=Q(Exists(contributions))),
    )
    searches = _tally(
        SearchEvent.objects.filter(**period),
        "user",
        teams,
        total=Count("pk"),
        reused=Count("pk", filter=Q(reused=True)),
    )
    reuses = _tally(
        Reuse.objects.filter(**period),
        "user",
        teams,
        total=Count("pk"),
        linked=Count("pk", filter=~Q(case_ref="")),
    )
    created = _tally(Entry.objects.filter(**period), "author", teams, n=Count("pk"))
    improved = _tally(
        Revision.objects.filter(IMPROVING, **period),
        "editor",
        teams,
        n=Count("entry", distinct=True),
    )
    flagged = _tally(Flag.objects.filter(**period), "raised_by", teams, n=Count("pk"))
    validated = _tally(
        Entry.objects.filter(validated_at__gte=since, validated_at__lt=until),
        "validated_by",
        teams,
        n=Count("pk"),
    )
    to_publish, to_answer = spans

    def figures(key: int | None) -> Figures:
        def get(tally: dict, name: str = "n") -> int:
            return tally.get(key, {}).get(name) or 0

        reused = get(reuses, "total")
        return Figures(
            participation=Ratio(get(reps, "participating"), get(reps, "active")),
            reuse_rate=Ratio(get(searches, "reused"), get(searches, "total")),
            link_rate=Ratio(get(reuses, "linked"), reused),
            known=Ratio(reused, reused + get(created)),
            time_to_publish=_median([spent for _, spent in to_publish.get(key, [])]),
            time_to_answer=_median([spent for _, spent in to_answer.get(key, [])]),
            created=get(created),
            improved=get(improved),
            flagged=get(flagged),
            validated=get(validated),
        )

    return {key: figures(key) for key in ([None] if teams is None else [t.pk for t in teams])}


def _weekly(
    *,
    since: datetime,
    until: datetime,
    team: Team | None,
    active_reps: int,
    spans: tuple[list, list],
) -> WeeklyMeasures:
    def by(person: str) -> dict:
        return {} if team is None else {f"{person}__teams" if person else "teams": team}

    weeks = weeks_between(since, until - timedelta(microseconds=1))

    def tally(queryset: QuerySet, field: str = "created_at", **aggregates) -> dict:
        return _weekly_tally(queryset, field, since=since, until=until, weeks=weeks, **aggregates)

    revisions = tally(
        Revision.objects.filter(CONTRIBUTING, **by("editor")),
        contributors=Count("editor", distinct=True, filter=Q(editor__in=_active_reps())),
        improved=Count("entry", distinct=True, filter=IMPROVING),
    )
    searches = tally(
        SearchEvent.objects.filter(**by("user")),
        total=Count("pk"),
        reused=Count("pk", filter=Q(reused=True)),
    )
    reuses = tally(
        Reuse.objects.filter(**by("user")),
        total=Count("pk"),
        linked=Count("pk", filter=~Q(case_ref="")),
    )
    created = tally(Entry.objects.filter(**by("author")), n=Count("pk"))["n"]
    flagged = tally(Flag.objects.filter(**by("raised_by")), n=Count("pk"))["n"]
    validated = tally(Entry.objects.filter(**by("validated_by")), "validated_at", n=Count("pk"))
    to_publish, to_answer = spans

    def series(values: list) -> Series:
        return list(zip(weeks, values, strict=True))

    def rates(parts: list[int], wholes: list[int]) -> Series:
        return series([Ratio(p, w).percent for p, w in zip(parts, wholes, strict=True)])

    used = reuses["total"]
    return WeeklyMeasures(
        participation=rates(revisions["contributors"], [active_reps] * len(weeks)),
        reuse_rate=rates(searches["reused"], searches["total"]),
        link_rate=rates(reuses["linked"], used),
        known=rates(used, [n + made for n, made in zip(used, created, strict=True)]),
        time_to_publish=_weekly_median_hours(to_publish, weeks),
        time_to_answer=_weekly_median_hours(to_answer, weeks),
        created=series(created),
        improved=series(revisions["improved"]),
        flagged=series(flagged),
        validated=series(validated["n"]),
    )


def _weekly_tally(
    queryset: QuerySet,
    field: str,
    *,
    since: datetime,
    until: datetime,
    weeks: list[date],
    **aggregates,
) -> dict[str, list[int]]:
    """Each of ``aggregates`` per week of ``field`` in ``[since, until)``, in one query:
    ``{name: [value in weeks[0], value in weeks[1], ...]}``.

    Rows are put in their week by comparing ``field`` with the weeks' local midnights
    (a binary search written as nested CASE), not with TruncWeek: on SQLite that is a
    Python function called for every row, several times slower on the search log.
    """
    starts = [timezone.make_aware(datetime.combine(week, time.min)) for week in weeks[1:]]

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


def _active_reps() -> QuerySet:
    return get_user_model().objects.filter(is_active=True, groups__name=REPS_GROUP)


def _tally(
    queryset: QuerySet, person: str, teams: list[Team] | None, **aggregates
) -> dict[int | None, dict]:
    """``aggregates`` over ``queryset`` in one query: for the whole floor (``teams`` None;
    key ``None``), or per team of the person at ``person`` (a path to a user; "" for the
    user rows themselves), keyed by team id. A person in two teams counts in both."""
    if teams is None:
        return {None: queryset.aggregate(**aggregates)}
    path = f"{person}__teams" if person else "teams"
    rows = (
        queryset.filter(**{f"{path}__in": teams})
        .order_by()
        .values(team_id=F(path))
        .annotate(**aggregates)
    )
    return {row.pop("team_id"): row for row in rows}


def _spans(*, since: datetime, until: datetime, teams: list[Team] | None) -> tuple[dict, dict]:
    """Time to publish (entries first published in the period, by author) and time to
    answer (questions answered in the period, by who answered), keyed like ``_tally``:
    ``{key: [(when it ended, how long it took), ...]}``; two queries."""
    entries = Entry.objects.filter(published_at__gte=since, published_at__lt=until)
    questions = Question.objects.filter(
        state=Question.State.ANSWERED, answered_at__gte=since, answered_at__lt=until
    )
    return (
        _durations(entries, "author", "created_at", "published_at", teams),
        _durations(questions, "answered_by", "created_at", "answered_at", teams),
    )


def _durations(
    queryset: QuerySet, person: str, start: str, end: str, teams: list[Team] | None
) -> dict[int | None, list[tuple[datetime, timedelta]]]:
    if teams is None:
        rows = ((None, *row) for row in queryset.order_by().values_list(start, end))
    else:
        path = f"{person}__teams"
        rows = queryset.filter(**{f"{path}__in": teams}).order_by().values_list(path, start, end)
    durations: defaultdict[int | None, list] = defaultdict(list)
    for key, began, ended in rows:
        durations[key].append((ended, max(ended - began, timedelta(0))))
    return durations


def _median(spans: list[timedelta]) -> timedelta | None:
    return statistics.median(spans) if spans else None


def _weekly_median_hours(spans: list[tuple[datetime, timedelta]], weeks: list[date]) -> Series:
    by_week: defaultdict[date, list[timedelta]] = defaultdict(list)
    for ended, spent in spans:
        by_week[week_start(ended)].append(spent)
    return [
        (week, round(_median(by_week[week]) / timedelta(hours=1), 1) if week in by_week else None)
        for week in weeks
    ]


# --- People ---
#
# Credit follows KCS: an entry's contributors are its author and everyone whose revision
# changed what it says. A state change (publish, validate, archive) copies the content of
# the revision before it unchanged, so it is neither an improvement nor a contribution:
# a supervisor validating an entry is not credited with its reuse.

REVIEW_SOON_DAYS = 14
PROFILE_RECENT = 5
PROFILE_CHART_WEEKS = 12
LEADERBOARD_PERIODS = {"week": "This week", "month": "This month"}
_CONTENT = ("question", "answer", "also_asked", "environment", "cause", "tags")
_USABLE = (Entry.State.PUBLISHED, Entry.State.VALIDATED)


def period_start(period: str, *, now: datetime | None = None) -> datetime:
    """Local midnight of this week's Monday (``"week"``) or of the 1st of this month."""
    today = timezone.localdate(now or timezone.now())
    if period == "week":
        day = week_start(today)
    elif period == "month":
        day = today.replace(day=1)
    else:
        raise ValueError(f"Unknown period {period!r}")
    return timezone.make_aware(datetime.combine(day, time.min))


def content_revisions() -> QuerySet[Revision]:
    """Revisions that changed what an entry says (not identical to the one before)."""
    unchanged = Revision.objects.filter(
        entry_id=OuterRef("entry_id"),
        number=OuterRef("number") - 1,
        **{name: OuterRef(name) for name in _CONTENT},
    )
    return Revision.objects.filter(~Exists(unchanged))


def improvement_revisions() -> QuerySet[Revision]:
    """Edits to someone else's entry: content revisions after the first, by a person
    other than the author."""
    return (
        content_revisions()
        .filter(number__gt=1, editor__isnull=False)
        .exclude(entry__author=F("editor"))
    )


def contributed_entries(person) -> QuerySet[Entry]:
    """Entries ``person`` wrote or changed the content of."""
    edited = content_revisions().filter(editor=person).values("entry_id")
    return Entry.objects.filter(Q(author=person) | Q(pk__in=edited))


def others_reuses(person) -> QuerySet[Reuse]:
    """Reuses by other people of entries ``person`` contributed to, each counted once."""
    return Reuse.objects.filter(entry__in=contributed_entries(person).values("pk")).exclude(
        user=person
    )


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


@dataclass(frozen=True)
class Profile:
    """A person's contributions and the reuse of their work by others."""

    person: object
    reuses_week: int
    reuses_month: int
    reuses_all_time: int
    reuse_weeks: list[tuple[date, int]]
    entries_written: int
    improvements: int
    questions_answered: int
    thanks_received: int
    recent_entries: list[Entry]
    recent_thanks: list[Thanks]


def profile(user, *, now: datetime | None = None) -> Profile:
    """``user``'s figures in a fixed number of queries (see the definitions above)."""
    now = now or timezone.now()
    reuses = others_reuses(user).filter(created_at__lte=now)
    impact = reuses.aggregate(
        week=Count("pk", filter=Q(created_at__gte=period_start("week", now=now))),
        month=Count("pk", filter=Q(created_at__gte=period_start("month", now=now))),
        all_time=Count("pk"),
    )
    chart_since = _midnight(week_start(now) - timedelta(weeks=PROFILE_CHART_WEEKS - 1))
    written = Entry.objects.filter(author=user).exclude(state=Entry.State.DRAFT)
    thanks = Thanks.objects.filter(entry__in=contributed_entries(user).values("pk")).exclude(
        from_user=user
    )
    others = Q(reuses__user__isnull=True) | ~Q(reuses__user=user)
    return Profile(
        person=user,
        reuses_week=impact["week"],
        reuses_month=impact["month"],
        reuses_all_time=impact["all_time"],
        reuse_weeks=weekly_counts(reuses, "created_at", since=chart_since, until=now),
        entries_written=written.count(),
        improvements=improvement_revisions().filter(editor=user).count(),
        questions_answered=Question.objects.filter(answered_by=user).count(),
        thanks_received=thanks.count(),
        recent_entries=list(
            written.annotate(reused_by_others=Count("reuses", filter=others)).order_by(
                "-created_at"
            )[:PROFILE_RECENT]
        ),
        recent_thanks=list(
            thanks.select_related("from_user", "entry").order_by("-created_at")[:PROFILE_RECENT]
        ),
    )


@dataclass(frozen=True)
class LeaderRow:
    rank: int
    person: object
    reuses: int  # reuses by others of entries they contributed to, in the period
    improvements: int
    entries_written: int


def leaderboard(period: str, limit: int = 20, *, now: datetime | None = None) -> list[LeaderRow]:
    """People still on the floor ranked by the reuse of their work by others in the
    period, then by improvements made in it, then by name; five queries in all."""
    now = now or timezone.now()
    since = period_start(period, now=now)
    impact: Counter[int] = Counter()
    # Entries they wrote: one row per reuse, so a sum needs no de-duplication.
    by_author = (
        Reuse.objects.filter(created_at__range=(since, now), entry__author__isnull=False)
        .filter(Q(user__isnull=True) | ~Q(user=F("entry__author")))
        .values("entry__author")
        .annotate(n=Count("pk"))
        .values_list("entry__author", "n")
    )
    impact.update(dict(by_author))
    # Entries others wrote and they changed: a reuse counts once per person however
    # many of that entry's revisions are theirs.
    credited = (
        content_revisions()
        .filter(editor__isnull=False)
        .exclude(entry__author=F("editor"))
        .values("pk")
    )
    by_editor = (
        Revision.objects.filter(pk__in=credited)  # checked once per revision, not per reuse
        .annotate(
            reuse_id=F("entry__reuses__id"),
            reused_by=F("entry__reuses__user"),
            reused_at=F("entry__reuses__created_at"),
        )
        .filter(reused_at__range=(since, now))
        .filter(Q(reused_by__isnull=True) | ~Q(reused_by=F("editor")))
        .values("editor")
        .annotate(n=Count("reuse_id", distinct=True))
        .values_list("editor", "n")
    )
    impact.update(dict(by_editor))
    improvements = dict(
        improvement_revisions()
        .filter(created_at__range=(since, now))
        .values("editor")
        .annotate(n=Count("pk"))
        .values_list("editor", "n")
    )
    written = dict(
        Entry.objects.filter(created_at__range=(since, now), author__isnull=False)
        .exclude(state=Entry.State.DRAFT)
        .values("author")
        .annotate(n=Count("pk"))
        .values_list("author", "n")
    )
    ids = set(impact) | set(improvements) | set(written)
    people = get_user_model().objects.filter(pk__in=ids, is_active=True)

    def key(person) -> tuple:
        name = person.get_full_name() or person.get_username()
        return (-impact[person.pk], -improvements.get(person.pk, 0), name.casefold())

    rows: list[LeaderRow] = []
    for position, person in enumerate(sorted(people, key=key)[:limit], start=1):
        score = (impact[person.pk], improvements.get(person.pk, 0))
        tied = rows and (rows[-1].reuses, rows[-1].improvements) == score
        rows.append(
            LeaderRow(
                rank=rows[-1].rank if tied else position,
                person=person,
                reuses=score[0],
                improvements=score[1],
                entries_written=written.get(person.pk, 0),
            )
        )
    return rows


# --- Ownership ---


def orphaned_q() -> Q:
    """Entries whose owner left (inactive) or was removed; usable in a conditional UPDATE."""
    gone = get_user_model().objects.filter(is_active=False).values("pk")
    return Q(owner__isnull=True) | Q(owner__in=gone)


def is_orphaned(entry: Entry) -> bool:
    """Same rule as ``orphaned_q`` for an entry loaded with its owner."""
    if entry.state == Entry.State.ARCHIVED:
        return False
    return entry.owner_id is None or not entry.owner.is_active


def _open_flags() -> Coalesce:
    counted = (
        Flag.objects.filter(entry=OuterRef("pk"), state=Flag.State.OPEN)
        .order_by()
        .values("entry")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted), 0)


def _last_reused() -> Subquery:
    latest = Reuse.objects.filter(entry=OuterRef("pk")).order_by("-created_at")
    return Subquery(latest.values("created_at")[:1])


def orphaned_entries() -> QuerySet[Entry]:
    """Usable entries nobody looks after, the most reused first (drafts stay private)."""
    return (
        Entry.objects.filter(orphaned_q())
        .filter(state__in=_USABLE)
        .select_related("owner", "author")
        .annotate(reuse_count=Count("reuses"), open_flags=_open_flags())
        .order_by("-reuse_count", "-updated_at", "-pk")
    )


def _review_status(now: datetime) -> Case:
    """ "overdue", "soon" (within REVIEW_SOON_DAYS) or "" for entries under review."""
    soon = now + timedelta(days=REVIEW_SOON_DAYS)
    reviewed = Q(state__in=_USABLE, review_due_at__isnull=False)
    return Case(
        When(reviewed & Q(review_due_at__lt=now), then=Value("overdue")),
        When(reviewed & Q(review_due_at__lt=soon), then=Value("soon")),
        default=Value(""),
    )


def my_entries(user, *, now: datetime | None = None) -> QuerySet[Entry]:
    """Entries ``user`` owns, drafts included, each with ``open_flags``,
    ``last_reused_at`` and ``review_status``: what needs attention first, archived last."""
    now = now or timezone.now()
    return (
        Entry.objects.filter(owner=user)
        .annotate(
            open_flags=_open_flags(),
            last_reused_at=_last_reused(),
            review_status=_review_status(now),
            archived=Case(When(state=Entry.State.ARCHIVED, then=1), default=0),
        )
        .order_by(
            "archived",
            "-open_flags",
            F("review_due_at").asc(nulls_last=True),
            "-updated_at",
            "-pk",
        )
    )


@dataclass(frozen=True)
class OwnedSummary:
    entries: int
    drafts: int
    flagged: int  # entries with at least one open flag
    open_flags: int
    overdue: int
    due_soon: int


def my_entries_summary(user, *, now: datetime | None = None) -> OwnedSummary:
    """Totals over all of ``user``'s entries, in one query."""
    now = now or timezone.now()
    reviewed = Q(state__in=_USABLE)
    soon = now + timedelta(days=REVIEW_SOON_DAYS)
    open_flag = Q(flags__state=Flag.State.OPEN)
    totals = Entry.objects.filter(owner=user).aggregate(
        entries=Count("pk", distinct=True),
        drafts=Count("pk", filter=Q(state=Entry.State.DRAFT), distinct=True),
        flagged=Count("pk", filter=open_flag, distinct=True),
        open_flags=Count("flags", filter=open_flag, distinct=True),
        overdue=Count("pk", filter=reviewed & Q(review_due_at__lt=now), distinct=True),
        due_soon=Count(
            "pk",
            filter=reviewed & Q(review_due_at__gte=now, review_due_at__lt=soon),
            distinct=True,
        ),
    )
    return OwnedSummary(**totals)
