"""A busy floor's history for the review-page benchmark: 100,000 searches and what
followed them, written in bulk into a benchmark site. Only ``make bench`` uses this."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, User
from django.utils import timezone

from kb import search
from kb.bench import corpus
from kb.models import Entry, Flag, Question, Reuse, Revision, SearchEvent, Team, Thanks

WEEKS = 12
REPS = 60


def _moment(rng: random.Random, now: datetime) -> datetime:
    return now - timedelta(seconds=rng.randint(60, WEEKS * 7 * 86_400))


def _gap_queries(rng: random.Random, groups: int) -> list[list[str]]:
    """Searches the corpus has no answer for, each typed a few ways (word order, filler)."""
    made = []
    for n in range(groups):
        words = [f"zq{n}x{k}" for k in range(rng.randint(1, 3))]
        variants = [" ".join(words), " ".join(reversed(words)), "how do i " + " ".join(words)]
        made.append(variants)
    return made


def grow(*, searches: int = 100_000, seed: int = 5) -> dict[str, int]:
    """Add reps, teams, ``searches`` search events, reuses, flags, questions and thanks."""
    rng = random.Random(seed)
    now = timezone.now()
    group = Group.objects.get(name="Reps")
    password = make_password(None)
    reps = User.objects.bulk_create(
        User(username=f"floor-rep-{n}", first_name=f"Rep {n}", password=password)
        for n in range(REPS)
    )
    group.user_set.add(*reps)
    for name, members in (("Team A", reps[: REPS // 2]), ("Team B", reps[REPS // 2 :])):
        Team.objects.create(name=name).members.add(*members)
    entry_ids = list(Entry.objects.values_list("pk", flat=True))
    found = corpus.queries(2_000, seed=seed)
    gaps = _gap_queries(rng, 1_500)
    normalized: dict[str, str] = {}
    events = []
    for _ in range(searches):
        if rng.random() < 0.15:
            query, count = rng.choice(rng.choice(gaps)), 0
        else:
            query, count = rng.choice(found), rng.randint(1, 400)
        if query not in normalized:
            normalized[query] = search.normalise_query(query)
        opened = rng.choice(entry_ids) if count and rng.random() < 0.6 else None
        events.append(
            SearchEvent(
                user=rng.choice(reps),
                query=query,
                normalized=normalized[query],
                result_count=count,
                opened_entry_id=opened,
                reused=bool(opened) and rng.random() < 0.5,
                created_at=_moment(rng, now),
            )
        )
    events = SearchEvent.objects.bulk_create(events, batch_size=2_000)
    reuses = Reuse.objects.bulk_create(
        (
            Reuse(
                entry_id=event.opened_entry_id,
                user=event.user,
                case_ref=f"C{index}" if rng.random() < 0.6 else "",
                query=event.query,
                search_event=event,
                created_at=event.created_at + timedelta(minutes=2),
            )
            for index, event in enumerate(events)
            if event.reused
        ),
        batch_size=2_000,
    )
    improved = rng.sample(entry_ids, min(2_000, len(entry_ids)))
    Revision.objects.bulk_create(
        (
            Revision(
                entry_id=pk,
                number=1_000 + n,  # clear of the imported revision numbers
                question="Improved",
                answer="Improved.",
                state="published",
                editor=rng.choice(reps),
                summary="Clearer steps",
                created_at=_moment(rng, now),
            )
            for n, pk in enumerate(improved)
        ),
        batch_size=2_000,
    )
    flagged = rng.sample(entry_ids, min(300, len(entry_ids)))
    Flag.objects.bulk_create(
        Flag(
            entry_id=pk,
            reason=rng.choice(["wrong", "outdated", "unclear"]),
            comment="Needs a look.",
            raised_by=rng.choice(reps),
            created_at=_moment(rng, now),
        )
        for pk in flagged
    )
    Question.objects.bulk_create(
        Question(
            text=variants[0],
            normalized=normalized.get(variants[0]) or search.normalise_query(variants[0]),
            asked_by=rng.choice(reps),
            created_at=_moment(rng, now),
        )
        for variants in gaps[:200]
    )
    thanked = {(rng.choice(entry_ids), rng.choice(reps).pk) for _ in range(3_000)}
    Thanks.objects.bulk_create(
        Thanks(entry_id=pk, from_user_id=user_id, created_at=_moment(rng, now))
        for pk, user_id in thanked
    )
    return {"searches": len(events), "reuses": len(reuses), "reps": len(reps)}
