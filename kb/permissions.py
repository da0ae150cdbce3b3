"""The one permission gate for supervisor pages and actions."""

from __future__ import annotations

from django.contrib.auth.decorators import permission_required

SUPERVISE = "kb.review_gaps"

supervisor_required = permission_required(SUPERVISE, raise_exception=True)


def can_supervise(user) -> bool:
    return user.is_authenticated and user.has_perm(SUPERVISE)
