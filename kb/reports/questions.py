"""Open questions: the list, who searched for them, who can be assigned."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from itertools import combinations

from django.contrib.auth import get_user_model
from django.db.models import (
    Q,
)
from django.utils import timezone
from django.utils.timesince import timesince

from kb.models import (
    Entry,
    Question,
    SearchEvent,
)

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


ALL_SUBSETS_UP_TO = 10  # stems; longer questions match searches of 2 or 3 of their words


def _words(normalized: str) -> list[str]:
    return normalized.split()


def _search_forms(normalized: str) -> set[str]:
    """Every normalised search that asks (part of) this question: the question's own
    normalised form and each combination of at least two of its words, written the way
    ``normalise_query`` writes them (sorted, so a combination is one exact string)."""
    words = _words(normalized)
    if not words:
        return set()
    sizes = range(2, len(words) + 1) if len(words) <= ALL_SUBSETS_UP_TO else (2, 3)
    forms = {normalized}
    for size in sizes:
        forms.update(" ".join(combo) for combo in combinations(words, size))
    return forms


def _no_result_searches_within(keys: set[str]) -> dict[str, set[int]]:
    """Per question (normalised): who searched for part of it and found nothing.

    A search counts for a question when its words are all among the question's words
    ("xbox nat" for "Customer's Xbox says NAT type strict, ..."), with at least two words
    or exactly the question's: one query over the combinations, matched exactly.
    """
    forms = {key: _search_forms(key) for key in keys if key}
    wanted = set().union(*forms.values()) if forms else set()
    if not wanted:
        return {}
    rows = (
        SearchEvent.objects.filter(normalized__in=wanted, result_count__lt=1)
        .exclude(user=None)
        .order_by()
        .values_list("normalized", "user")
        .distinct()
    )
    people: dict[str, set[int]] = {}
    for searched, user_id in rows:
        people.setdefault(searched, set()).add(user_id)
    return {
        key: set().union(*(people.get(form, set()) for form in key_forms))
        for key, key_forms in forms.items()
    }


def no_result_searchers(normalized: Iterable[str]) -> dict[str, int]:
    """Per question (normalised): how many people searched for it, or for two or more of
    its words, and found nothing (one query)."""
    found = _no_result_searches_within({value for value in normalized if value})
    return {key: len(users) for key, users in found.items() if users}


def no_result_searcher_ids(normalized: str) -> set[int]:
    """The people ``no_result_searchers`` counts for one question."""
    return _no_result_searches_within({normalized}).get(normalized, set())


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
    """The oldest open question asking what this (normalised) search asked: the same
    words, or a question containing all of the search's words (at least two)."""
    words = _words(normalized)
    if not words:
        return None
    asks = Q(normalized=normalized)
    if len(words) >= 2:
        contains_all = Q()
        for word in words:
            contains_all &= Q(normalized__regex=rf"(^| ){re.escape(word)}( |$)")
        asks |= contains_all
    return (
        Question.objects.filter(asks, state=Question.State.OPEN)
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
