"""KCS measures over a period and per team, with weekly series for the charts."""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import (
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
)

from kb.models import (
    Entry,
    Flag,
    Question,
    Reuse,
    Revision,
    SearchEvent,
    Team,
)
from kb.reports.credit import CONTRIBUTING, IMPROVING
from kb.reports.weekly import week_finder, weekly_tally, weeks_between

REPS_GROUP = "Reps"
MAX_TEAMS_COMPARED = 20
MEASURES_CACHE_SECONDS = 300


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


@dataclass(frozen=True)
class MeasuresReport:
    measures: Measures
    comparison: TeamComparison
    counted_at: datetime


def measures_report(
    *, since: datetime, until: datetime, team: Team | None, teams: list[Team], now: datetime
) -> MeasuresReport:
    """``kcs_measures`` and ``team_comparison`` together, counted at most once every
    ``MEASURES_CACHE_SECONDS`` for the same period, team and teams.

    They are the slowest page a supervisor opens (every search, reuse and revision of
    the period), and figures over weeks barely move in minutes. Django's cache keeps
    them: with Redis one count serves every app server. ``counted_at`` says how old
    they are.
    """
    chosen = team.pk if team else "floor"
    compared = ",".join(str(t.pk) for t in teams)
    key = f"kb:measures:{since.isoformat()}:{until.isoformat()}:{chosen}:{compared}"
    report = cache.get(key)
    if report is None:
        report = MeasuresReport(
            kcs_measures(since=since, until=until, team=team),
            team_comparison(since=since, until=until, teams=teams),
            now,
        )
        cache.set(key, report, MEASURES_CACHE_SECONDS)
    return report


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
        return weekly_tally(queryset, field, since=since, until=until, weeks=weeks, **aggregates)

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
    week_of = week_finder(weeks)
    by_week: defaultdict[int, list[timedelta]] = defaultdict(list)
    for ended, spent in spans:
        index = week_of(ended)
        if index is not None:
            by_week[index].append(spent)
    return [
        (week, round(_median(by_week[n]) / timedelta(hours=1), 1) if n in by_week else None)
        for n, week in enumerate(weeks)
    ]
