"""Profiles, the floor leaderboard, and ownership (my entries, orphans)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db.models import (
    Case,
    Count,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from kb.models import (
    Entry,
    Flag,
    Question,
    Reuse,
    Revision,
    Thanks,
)
from kb.reports.credit import content_revisions, improvement_revisions
from kb.reports.weekly import week_start, weekly_counts

#
# Credit follows KCS: an entry's contributors are its author and everyone whose revision
# changed what it says. A state change (publish, validate, archive) copies the content of
# the revision before it unchanged, so it is neither an improvement nor a contribution:
# a supervisor validating an entry is not credited with its reuse.

REVIEW_SOON_DAYS = 14
PROFILE_RECENT = 5
PROFILE_CHART_WEEKS = 12
LEADERBOARD_PERIODS = {"week": "This week", "month": "This month"}
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
