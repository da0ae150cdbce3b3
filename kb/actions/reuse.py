"""Credit: "used on this call" (reuse) and thanks."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from kb.actions.notifications import display_name, notify, shorten
from kb.models import (
    CASE_REF_MAX_LENGTH,
    THANKS_NOTE_MAX_LENGTH,
    Entry,
    Notification,
    Reuse,
    SearchEvent,
    Thanks,
)
from kb.plain_text import without_control_characters

REUSE_REPEAT_WINDOW = timedelta(minutes=15)
CASE_REF_RE = re.compile(rf"^[\w.:#/-]{{1,{CASE_REF_MAX_LENGTH}}}$")


def counted_reuse(*, entry: Entry, user, case_ref: str, at: datetime) -> Reuse | None:
    """The reuse this call already counts as, if any (see ``record_reuse``)."""
    earlier = Reuse.objects.filter(entry=entry)
    if case_ref:
        return earlier.filter(case_ref=case_ref).first()
    recent = at - REUSE_REPEAT_WINDOW
    return earlier.filter(user=user, case_ref="", created_at__gte=recent).first()


def record_reuse(
    *, entry: Entry, user, case_ref: str = "", query: str = "", search_event_id: int | None = None
) -> tuple[Reuse, bool]:
    """Count that ``entry`` helped on a call; returns the reuse and whether it is new.

    A call counts once: a second click for the same case reference, or without one
    by the same person within REUSE_REPEAT_WINDOW, returns the first reuse. The
    person's search that led here (``search_event_id``) is marked as followed by a reuse.
    """
    case_ref = (case_ref or "").strip()
    if case_ref and not CASE_REF_RE.match(case_ref):
        raise ValidationError(
            {
                "case": f"A case or call reference is up to {CASE_REF_MAX_LENGTH} letters, "
                "digits and . : # / - _ (no spaces)."
            }
        )
    query = " ".join(without_control_characters(query or "").split())[:500]
    now = timezone.now()
    if first := counted_reuse(entry=entry, user=user, case_ref=case_ref, at=now):
        return first, False
    event = (
        SearchEvent.objects.filter(pk=search_event_id, user=user).first()
        if search_event_id
        else None
    )
    try:
        with transaction.atomic():
            reuse = Reuse.objects.create(
                entry=entry,
                user=user,
                case_ref=case_ref,
                query=query or (event.query if event else ""),
                search_event=event,
                created_at=now,
            )
            if event:
                SearchEvent.objects.filter(pk=event.pk).update(reused=True)
                SearchEvent.objects.filter(pk=event.pk, opened_entry=None).update(
                    opened_entry=entry
                )
    except IntegrityError:  # the same case recorded by someone else a moment ago
        return Reuse.objects.get(entry=entry, case_ref=case_ref), False
    return reuse, True


def thank_entry(*, entry: Entry, user, note: str = "") -> tuple[Thanks, bool]:
    """Thank the people behind an entry; once per person per entry (a second time
    returns the first thanks). The author cannot thank their own entry."""
    if entry.author_id == user.pk:
        raise ValidationError({"note": "You wrote this entry; thanks are for others' work."})
    note = " ".join(without_control_characters(note or "").split())
    if len(note) > THANKS_NOTE_MAX_LENGTH:
        raise ValidationError(
            {"note": f"Keep the note to {THANKS_NOTE_MAX_LENGTH} characters (it has {len(note)})."}
        )
    if earlier := Thanks.objects.filter(entry=entry, from_user=user).first():
        return earlier, False
    now = timezone.now()
    try:
        with transaction.atomic():
            thanks = Thanks.objects.create(entry=entry, from_user=user, note=note, created_at=now)
            quoted = f": “{note}”" if note else "."
            notify(
                credited_people(entry),
                kind=Notification.Kind.ENTRY_THANKED,
                actor=user,
                text=f"{display_name(user)} thanked you for “{shorten(entry.question)}”{quoted}",
                entry=entry,
                at=now,
            )
    except IntegrityError:  # a double click racing itself
        return Thanks.objects.get(entry=entry, from_user=user), False
    return thanks, True


THANKED_EDITORS = 3


def credited_people(entry: Entry) -> list:
    """Who a thanks is for: the author and the people behind the last few revisions."""
    User = get_user_model()
    editor_ids = list(
        entry.revisions.exclude(editor=None)
        .order_by("-number")
        .values_list("editor_id", flat=True)[: THANKED_EDITORS * 4]
    )
    ids = list(dict.fromkeys([entry.author_id, *editor_ids]))
    ids = [pk for pk in ids if pk is not None][: THANKED_EDITORS + 1]
    return list(User.objects.filter(pk__in=ids))
