"""The floor's synonym list, kept by supervisors."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from kb import search
from kb.models import (
    SynonymGroup,
)
from kb.permissions import can_supervise
from kb.plain_text import without_control_characters

MAX_SYNONYM_GROUPS = 1_000


def save_synonyms(*, actor, text: str) -> list[SynonymGroup]:
    """Replace the synonym list with ``text``: one group of comma-separated words a line.

    Lines with fewer than two distinct words are refused with their line number, and
    nothing is saved unless every line is valid.
    """
    if not can_supervise(actor):
        raise PermissionDenied("Only supervisors can edit synonyms.")
    groups, errors = [], []
    lines = without_control_characters(text or "").splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        members = list(dict.fromkeys(m.strip().lower() for m in line.split(",") if m.strip()))
        if len(members) < 2:
            errors.append(f"Line {number}: give at least two words separated by commas.")
        elif len(", ".join(members)) > 500:
            errors.append(f"Line {number}: keep a group under 500 characters.")
        else:
            groups.append(", ".join(members))
    if len(groups) > MAX_SYNONYM_GROUPS:
        errors.append(f"At most {MAX_SYNONYM_GROUPS:,} groups.")
    if errors:
        raise ValidationError({"synonyms": errors})
    now = timezone.now()
    with transaction.atomic():
        SynonymGroup.objects.all().delete()
        saved = SynonymGroup.objects.bulk_create(
            SynonymGroup(terms=terms, updated_by=actor, updated_at=now) for terms in groups
        )
        transaction.on_commit(search.forget_synonyms)
    return saved
