"""Open questions: the list, who searched for them, who can be assigned."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db.models import (
    Count,
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
