"""Template context every page gets."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import cached_property

from kb.models import Notification

BADGE_MAX = 99


class InboxBadge:
    """The unread count in the header: one COUNT query, only if a template shows it."""

    def __init__(self, request: HttpRequest) -> None:
        self.request = request

    @cached_property
    def unread(self) -> int:
        user = getattr(self.request, "user", None)
        if user is None or not user.is_authenticated:
            return 0
        unread = Notification.objects.filter(recipient=user, read_at=None).order_by()
        return unread[: BADGE_MAX + 1].count()

    @property
    def label(self) -> str:
        return f"{BADGE_MAX}+" if self.unread > BADGE_MAX else str(self.unread)


def inbox(request: HttpRequest) -> dict:
    return {"inbox": InboxBadge(request)}
