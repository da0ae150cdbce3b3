"""Flag it or fix it; watching an entry."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from kb.actions.notifications import display_name, notify, shorten
from kb.models import (
    FLAG_COMMENT_MAX_LENGTH,
    SUMMARY_MAX_LENGTH,
    Entry,
    Flag,
    Notification,
    Revision,
    Watch,
)
from kb.permissions import can_supervise


def _flag_label(flag: Flag) -> str:
    """A flag's reason as a person reads it: "wrong", "a duplicate of #12"."""
    if flag.reason == Flag.Reason.DUPLICATE:
        return f"a duplicate of #{flag.duplicate_of_id}" if flag.duplicate_of_id else "a duplicate"
    return flag.get_reason_display().lower()


def flag_entry(
    *,
    entry: Entry,
    user,
    reason: str,
    comment: str = "",
    duplicate_of_id: int | None = None,
) -> tuple[Flag, bool]:
    """Say that ``entry`` needs attention ("flag it or fix it"); the owner is told.

    Returns the flag and whether it is new: the same person flagging the same reason
    while their flag is still open gets that flag back. A ``duplicate`` flag names
    another entry the person can see (``duplicate_of_id``); other reasons ignore it.
    """
    errors: dict[str, str] = {}
    if reason not in Flag.Reason.values:
        errors["reason"] = "Pick a reason: wrong, outdated, unclear or duplicate."
    comment = " ".join((comment or "").replace("\x00", " ").split())
    if len(comment) > FLAG_COMMENT_MAX_LENGTH:
        errors["comment"] = (
            f"Keep the comment to {FLAG_COMMENT_MAX_LENGTH:,} characters (it has {len(comment):,})."
        )
    duplicate_of = None
    if reason == Flag.Reason.DUPLICATE:
        if duplicate_of_id is None:
            errors["duplicate_of"] = "Give the number of the entry this one duplicates."
        elif duplicate_of_id == entry.pk:
            errors["duplicate_of"] = "That is this entry's own number; give the other entry's."
        else:
            duplicate_of = Entry.objects.visible_to(user).filter(pk=duplicate_of_id).first()
            if duplicate_of is None:
                errors["duplicate_of"] = (
                    f"There is no entry #{duplicate_of_id}. The number is in the entry's "
                    "address, /entries/<number>/."
                )
    if errors:
        raise ValidationError(errors)
    open_flags = Flag.objects.filter(entry=entry, raised_by=user, state=Flag.State.OPEN)
    if earlier := open_flags.filter(reason=reason).first():
        return earlier, False
    now = timezone.now()
    try:
        with transaction.atomic():
            flag = Flag.objects.create(
                entry=entry,
                reason=reason,
                duplicate_of=duplicate_of,
                comment=comment,
                raised_by=user,
                created_at=now,
            )
            quoted = f": “{shorten(comment, 120)}”" if comment else "."
            notify(
                [entry.owner],
                kind=Notification.Kind.ENTRY_FLAGGED,
                actor=user,
                text=(
                    f"{display_name(user)} flagged your entry “{shorten(entry.question)}” "
                    f"as {_flag_label(flag)}{quoted}"
                ),
                entry=entry,
                at=now,
            )
    except IntegrityError:  # a double click racing itself (flag_once_while_open)
        return open_flags.get(reason=reason), False
    return flag, True


def dismiss_flag(*, flag: Flag, actor, reason: str) -> Flag:
    """A supervisor closes a flag without an edit, saying why; the raiser is told."""
    if not can_supervise(actor):
        raise PermissionDenied("Only supervisors can dismiss flags.")
    reason = " ".join((reason or "").replace("\x00", " ").split())
    if flag.state != Flag.State.OPEN:
        raise ValidationError(
            {"flag": f"This flag is already closed ({flag.get_state_display().lower()})."}
        )
    if not reason:
        raise ValidationError({"reason": "Say why the flag is dismissed; the raiser is told."})
    if len(reason) > SUMMARY_MAX_LENGTH:
        raise ValidationError(
            {
                "reason": f"Keep the reason to {SUMMARY_MAX_LENGTH} characters "
                f"(it has {len(reason)})."
            }
        )
    now = timezone.now()
    with transaction.atomic():
        closed = Flag.objects.filter(pk=flag.pk, state=Flag.State.OPEN).update(
            state=Flag.State.DISMISSED, resolved_by=actor, resolved_at=now, dismiss_reason=reason
        )
        if not closed:  # closed by someone else a moment ago
            raise ValidationError({"flag": "This flag was closed a moment ago by someone else."})
        flag = Flag.objects.select_related("entry", "raised_by").get(pk=flag.pk)
        notify(
            [flag.raised_by],
            kind=Notification.Kind.FLAG_CLOSED,
            actor=actor,
            text=(
                f"{display_name(actor)} dismissed your flag on “{shorten(flag.entry.question)}” "
                f"({_flag_label(flag)}): {shorten(reason, 120)}"
            ),
            entry=flag.entry,
            at=now,
        )
    return flag


def _resolve_flags(entry: Entry, *, ids: Iterable[int], revision: Revision, editor, at) -> None:
    """Close the named open flags of ``entry`` as fixed by ``revision``, telling who raised
    each. Ids that are not open flags of this entry (closed meanwhile) are left alone."""
    wanted = {int(pk) for pk in ids}
    Flag.objects.filter(entry=entry, state=Flag.State.OPEN, pk__in=wanted).update(
        state=Flag.State.RESOLVED, resolution_revision=revision, resolved_by=editor, resolved_at=at
    )
    name = display_name(editor) if editor else "Someone"
    for flag in Flag.objects.filter(resolution_revision=revision).select_related("raised_by"):
        notify(
            [flag.raised_by],
            kind=Notification.Kind.FLAG_CLOSED,
            actor=editor,
            text=(
                f"{name} fixed “{shorten(entry.question)}” in revision {revision.number}, "
                f"resolving your flag ({_flag_label(flag)})."
            ),
            entry=entry,
            at=at,
        )


def watch_entry(*, entry: Entry, user) -> bool:
    """Follow an entry, to be told when it changes; False if already watching."""
    _, created = Watch.objects.get_or_create(
        user=user, entry=entry, defaults={"created_at": timezone.now()}
    )
    return created


def unwatch_entry(*, entry: Entry, user) -> bool:
    """Stop following an entry; False if the person was not watching it."""
    deleted, _ = Watch.objects.filter(user=user, entry=entry).delete()
    return bool(deleted)
