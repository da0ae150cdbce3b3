"""The inbox: telling people about what others did."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from kb.models import (
    Entry,
    Notification,
)


def shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def display_name(person) -> str:
    """How a person is named in what others read: full name, else username."""
    return person.get_full_name() or person.get_username()


def notify(
    recipients: Iterable,
    *,
    kind: str,
    actor,
    text: str,
    entry: Entry | None = None,
    question=None,
    at: datetime | None = None,
) -> list[Notification]:
    """Put one line in each recipient's inbox; nobody is told about their own action,
    and people who have left (inactive) are not told at all."""
    actor_id = actor.pk if actor else None
    people = {p.pk: p for p in recipients if p and p.is_active and p.pk != actor_id}
    now = at or timezone.now()
    return Notification.objects.bulk_create(
        Notification(
            recipient=person,
            kind=kind,
            actor=actor,
            text=text[:300],
            entry=entry,
            question=question,
            created_at=now,
        )
        for person in people.values()
    )


def mark_read(*, user, ids: Iterable[int] | None = None) -> int:
    """Mark some (or, with ``ids=None``, all) of a person's notifications read."""
    unread = Notification.objects.filter(recipient=user, read_at=None)
    if ids is not None:
        unread = unread.filter(pk__in=list(ids))
    return unread.update(read_at=timezone.now())
