"""Flag it or fix it: raise and dismiss flags on an entry, and watch an entry.

Resolving a flag is an edit (``views.entry_edit`` with "this edit fixes"); the helpers
here give the entry and edit pages what they show about flags. This module does not
import ``kb.views``, so that ``kb.views`` can use its helpers.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from kb import actions
from kb.models import FLAG_COMMENT_MAX_LENGTH, SUMMARY_MAX_LENGTH, Entry, Flag, Watch
from kb.permissions import supervisor_required

RECENTLY_FIXED_DAYS = 30
RECENTLY_FIXED_SHOWN = 3
# "12", "#12", or a pasted link to the entry (".../entries/12/...").
ENTRY_NUMBER_RE = re.compile(r"#?\s*(\d{1,18})|(?:.*/)?entries/(\d{1,18})(?:/.*)?")


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _visible_entry(request: HttpRequest, pk: int) -> Entry:
    return get_object_or_404(Entry.objects.visible_to(request.user), pk=pk)


def open_flags(entry: Entry) -> list[Flag]:
    """The entry's open flags, oldest first, with who raised them and what they duplicate."""
    flags = entry.flags.filter(state=Flag.State.OPEN).select_related("raised_by", "duplicate_of")
    return list(flags.order_by("created_at", "pk"))


def flags_context(entry: Entry, user) -> dict:
    """What the entry page shows about flags and watching (templates never query)."""
    flags = open_flags(entry)
    for flag in flags:
        other = flag.duplicate_of
        # The entry it duplicates, when this reader may open it (not someone else's draft).
        flag.duplicate_shown = (
            other
            if other and (other.state != Entry.State.DRAFT or other.author_id == user.pk)
            else None
        )
    since = timezone.now() - timedelta(days=RECENTLY_FIXED_DAYS)
    fixed = entry.flags.filter(state=Flag.State.RESOLVED, resolved_at__gte=since)
    return {
        "open_flags": flags,
        "recently_fixed": list(
            fixed.select_related("resolved_by", "resolution_revision").order_by("-resolved_at")[
                :RECENTLY_FIXED_SHOWN
            ]
        ),
        "flag_reasons": Flag.Reason.choices,
        "flag_comment_max": FLAG_COMMENT_MAX_LENGTH,
        "dismiss_reason_max": SUMMARY_MAX_LENGTH,
        "watching": Watch.objects.filter(entry=entry, user=user).exists(),
    }


def fixes_requested(request: HttpRequest, flags: list[Flag]) -> list[int]:
    """The flags ``?fixes=<id>`` (from a "Fix it" link) asks the edit form to pre-tick."""
    wanted = set(request.GET.getlist("fixes"))
    return [flag.pk for flag in flags if str(flag.pk) in wanted]


def tell_about_fixes(request: HttpRequest, *, saved: Entry, base_version: int, resolves) -> None:
    """After an edit that was asked to fix flags: say whether they were closed."""
    if not resolves:
        return
    if saved.version == base_version:
        messages.warning(
            request,
            "The flags you ticked stay open: an edit has to change something to fix them.",
        )
        return
    closed = saved.flags.filter(resolution_revision__number=saved.version).count()
    if closed:
        messages.success(
            request,
            f"Closed {closed} flag{'s' if closed != 1 else ''} as fixed by revision "
            f"{saved.version}; whoever raised them is told.",
        )


def _entry_number(value: str) -> int | None:
    """The entry number typed or pasted into "duplicate of", or ``ValidationError``."""
    value = (value or "").strip()
    if not value:
        return None
    match = ENTRY_NUMBER_RE.fullmatch(value)
    if not match:
        raise ValidationError(
            {"duplicate_of": "Give the other entry's number, like 42 (or paste its link)."}
        )
    return int(match[1] or match[2])


def _flag_page(request: HttpRequest, entry: Entry, context: dict, status: int) -> HttpResponse:
    """The flag or dismiss form on its own page, showing what was refused and why."""
    context = {
        "entry": entry,
        "flag_reasons": Flag.Reason.choices,
        "flag_comment_max": FLAG_COMMENT_MAX_LENGTH,
        "dismiss_reason_max": SUMMARY_MAX_LENGTH,
        **context,
    }
    return render(request, "kb/flag_form.html", context, status=status)


@require_POST
def flag_entry(request: HttpRequest, pk: int) -> HttpResponse:
    """Flag an entry with a reason (and the entry it duplicates) and a comment."""
    entry = _visible_entry(request, pk)
    values = {
        "reason": request.POST.get("reason", ""),
        "duplicate_of": request.POST.get("duplicate_of", "")[:200],
        "comment": request.POST.get("comment", "")[: FLAG_COMMENT_MAX_LENGTH * 2],
    }
    try:
        duplicate_of_id = (
            _entry_number(values["duplicate_of"])
            if values["reason"] == Flag.Reason.DUPLICATE
            else None
        )
        _, created = actions.flag_entry(
            entry=entry,
            user=request.user,
            reason=values["reason"],
            comment=request.POST.get("comment", ""),
            duplicate_of_id=duplicate_of_id,
        )
    except ValidationError as error:
        errors = {name: messages_[0] for name, messages_ in error.message_dict.items()}
        return _flag_page(request, entry, {"errors": errors, "values": values}, status=400)
    if created:
        messages.success(
            request, "Flagged. The owner is told; the banner stays until an edit fixes it."
        )
    else:
        messages.info(request, "You already flagged this entry for that reason; it is still open.")
    return redirect(entry)


@supervisor_required
@require_POST
def flag_dismiss(request: HttpRequest, flag_id: int) -> HttpResponse:
    """A supervisor closes a flag without an edit, giving the reason the raiser is told."""
    flag = get_object_or_404(
        Flag.objects.select_related("entry", "raised_by"),
        pk=flag_id,
        entry__in=Entry.objects.visible_to(request.user),
    )
    entry = flag.entry
    reason = request.POST.get("reason", "")
    try:
        actions.dismiss_flag(flag=flag, actor=request.user, reason=reason)
    except ValidationError as error:
        errors = error.message_dict
        if "flag" in errors:  # closed already, e.g. a second click
            messages.info(request, errors["flag"][0])
            return redirect(entry)
        context = {
            "dismissing": flag,
            "errors": {"reason": errors["reason"][0]},
            "values": {"reason": reason[: SUMMARY_MAX_LENGTH * 2]},
        }
        return _flag_page(request, entry, context, status=400)
    messages.success(request, "Flag dismissed; whoever raised it is told why.")
    return redirect(entry)


@require_POST
def entry_watch(request: HttpRequest, pk: int) -> HttpResponse:
    """Watch or stop watching an entry: ``watch=1`` or ``0``, or toggle without it."""
    entry = _visible_entry(request, pk)
    wanted = request.POST.get("watch", "")
    if wanted not in ("", "0", "1"):
        return HttpResponse("watch must be 1 (watch) or 0 (stop watching).", status=400)
    if wanted == "":
        wanted = "0" if Watch.objects.filter(entry=entry, user=request.user).exists() else "1"
    if wanted == "1":
        actions.watch_entry(entry=entry, user=request.user)
    else:
        actions.unwatch_entry(entry=entry, user=request.user)
    watching = wanted == "1"
    if _is_htmx(request):
        return render(request, "kb/_watch_button.html", {"entry": entry, "watching": watching})
    if watching:
        messages.success(request, "Watching: you will be told in your inbox when it changes.")
    else:
        messages.info(request, "You no longer watch this entry.")
    return redirect(entry)
