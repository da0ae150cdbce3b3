"""Ask the floor: open questions, answers, assignments (of questions and of gaps)."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kb import reports, search
from kb.actions.entries import EntryContent, capture_entry
from kb.actions.notifications import display_name, notify, shorten
from kb.models import (
    QUESTION_DETAILS_MAX_LENGTH,
    QUESTION_MAX_LENGTH,
    Entry,
    Notification,
    Question,
)
from kb.permissions import can_supervise

QUESTION_MIN_LENGTH = 3
ANSWER_STATES = (Entry.State.PUBLISHED, Entry.State.VALIDATED)


def _clean_question(text: str, details: str) -> tuple[str, str]:
    """The question single-spaced and the details trimmed, or ``ValidationError``."""
    text = " ".join((text or "").replace("\x00", " ").split())
    details = (details or "").replace("\x00", "").replace("\r\n", "\n").strip()
    errors: dict[str, str] = {}
    if len(text) < QUESTION_MIN_LENGTH:
        errors["text"] = "Write the question as a customer would ask it (a few words at least)."
    elif len(text) > QUESTION_MAX_LENGTH:
        errors["text"] = (
            f"Keep the question to {QUESTION_MAX_LENGTH} characters (it has {len(text)}); "
            "put the rest in the details."
        )
    if len(details) > QUESTION_DETAILS_MAX_LENGTH:
        errors["details"] = (
            f"Keep the details to {QUESTION_DETAILS_MAX_LENGTH:,} characters "
            f"(they have {len(details):,})."
        )
    if errors:
        raise ValidationError(errors)
    return text, details


def ask_question(*, user, text: str, details: str = "") -> tuple[Question, bool]:
    """Ask the floor; returns the question and whether it is new.

    When an open question already asks the same thing (same normalised text), that one
    is returned instead and the person follows it: they are told when it is answered.
    """
    text, details = _clean_question(text, details)
    normalized = search.normalise_query(text)
    now = timezone.now()
    existing = (
        Question.objects.filter(state=Question.State.OPEN, normalized=normalized)
        .exclude(normalized="")
        .select_related("asked_by")
        .order_by("created_at")
        .first()
    )
    if existing:
        if existing.asked_by_id != user.pk:
            existing.followers.add(user)
        return existing, False
    question = Question.objects.create(
        text=text, details=details, normalized=normalized, asked_by=user, created_at=now
    )
    return question, True


def assign_question(*, question: Question, actor, assignee) -> Question:
    """A supervisor asks a rep to answer an open question; the rep is told."""
    if not can_supervise(actor):
        raise PermissionDenied("Only supervisors can assign questions.")
    if assignee is None or not assignee.is_active:
        raise ValidationError({"assignee": "Pick someone who is still on the floor."})
    now = timezone.now()
    with transaction.atomic():
        updated = Question.objects.filter(pk=question.pk, state=Question.State.OPEN).update(
            assigned_to=assignee, assigned_by=actor, assigned_at=now
        )
        if not updated:
            raise ValidationError({"question": "This question is no longer open."})
        question = Question.objects.select_related("asked_by", "assigned_to").get(pk=question.pk)
        notify(
            [assignee],
            kind=Notification.Kind.QUESTION_ASSIGNED,
            actor=actor,
            text=f"{display_name(actor)} asked you to answer “{shorten(question.text)}”.",
            question=question,
            at=now,
        )
    return question


def answer_question(
    *, question: Question, user, content: EntryContent, state: str = Entry.State.PUBLISHED
) -> Entry:
    """Answer an open question with a new entry linked to it, and tell the asker and
    everyone whose search for it found nothing that the answer now exists.

    ``ValidationError`` keyed ``question`` when someone answered or closed it first
    (nothing is written), or keyed by the entry's fields when the content is invalid.
    """
    if state not in ANSWER_STATES:
        raise ValidationError({"state": "Publish the answer so the people waiting can read it."})
    if Question.objects.filter(pk=question.pk).values_list("state", flat=True).first() != (
        Question.State.OPEN
    ):
        raise ValidationError({"question": "Someone answered this question first."})
    with transaction.atomic():
        entry = capture_entry(author=user, content=content, state=state)
        now = entry.created_at
        # Conditional update: of two people answering at once, one wins, the other's
        # entry is rolled back and they are shown the winner's answer.
        updated = Question.objects.filter(pk=question.pk, state=Question.State.OPEN).update(
            state=Question.State.ANSWERED, answer_entry=entry, answered_by=user, answered_at=now
        )
        if not updated:
            raise ValidationError({"question": "Someone answered this question first."})
        question = Question.objects.select_related("asked_by").get(pk=question.pk)
        _tell_about_answer(question, entry=entry, answerer=user, at=now)
    return entry


def _tell_about_answer(question: Question, *, entry: Entry, answerer, at: datetime) -> None:
    name = display_name(answerer)
    quoted = shorten(question.text)
    notify(
        [question.asked_by],
        kind=Notification.Kind.QUESTION_ANSWERED,
        actor=answerer,
        text=f"{name} answered your question “{quoted}”.",
        entry=entry,
        question=question,
        at=at,
    )
    # Those whose search for it found nothing, and those who asked it again.
    searched = Q(pk__in=reports.no_result_searcher_ids(question.normalized))
    searchers = (
        get_user_model()
        .objects.filter(searched | Q(questions_followed=question), is_active=True)
        .exclude(pk__in=[pk for pk in (question.asked_by_id, answerer.pk) if pk])
        .distinct()
    )
    notify(
        searchers,
        kind=Notification.Kind.SEARCH_ANSWERED,
        actor=answerer,
        text=f"The answer to “{quoted}”, which you were looking for, now exists.",
        entry=entry,
        question=question,
        at=at,
    )


def close_question(*, question: Question, user, entry: Entry | None) -> Question:
    """The asker found the answer themselves ("found it"): the question closes, linked
    to that entry."""
    if question.asked_by_id != user.pk:
        raise PermissionDenied("Only the person who asked can close the question.")
    if entry is None or not Entry.objects.visible_to(user).filter(pk=entry.pk).exists():
        raise ValidationError({"entry": "Give the number of an entry you can open."})
    now = timezone.now()
    updated = Question.objects.filter(pk=question.pk, state=Question.State.OPEN).update(
        state=Question.State.CLOSED, answer_entry=entry, answered_at=now
    )
    if not updated:
        raise ValidationError({"question": "This question is no longer open."})
    return Question.objects.select_related("asked_by", "answer_entry").get(pk=question.pk)


def assign_gap(*, normalized: str, text: str, actor, assignee) -> Question:
    """Ask a rep to close a gap: searches that found nothing, grouped by ``normalized``
    (``text`` is how someone typed it). The open question asking the same is reused, or
    one is asked by ``actor``; then it is assigned and the rep is told. All or nothing.
    """
    if not can_supervise(actor):
        raise PermissionDenied("Only supervisors can assign gaps.")
    normalized = (normalized or "").strip() or search.normalise_query(text or "")
    with transaction.atomic():
        question = (
            Question.objects.filter(state=Question.State.OPEN, normalized=normalized)
            .exclude(normalized="")
            .order_by("created_at")
            .first()
        )
        if question is None:
            question, _ = ask_question(user=actor, text=text)
        return assign_question(question=question, actor=actor, assignee=assignee)
