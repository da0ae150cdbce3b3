"""The home page and search results: popular tags, recent entries, reuse counts."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import (
    Count,
    Max,
)
from django.utils import timezone
from taggit.models import Tag

from kb.models import (
    Entry,
    Reuse,
)


def popular_tags(*, limit: int = 20) -> list[tuple[str, int]]:
    """Tags on usable (not archived, not draft) entries, most used first."""
    rows = (
        Tag.objects.filter(
            kb_taggedentry_items__content_object__state__in=[
                Entry.State.PUBLISHED,
                Entry.State.VALIDATED,
            ]
        )
        .annotate(uses=Count("kb_taggedentry_items"))
        .order_by("-uses", "name")
        .values_list("name", "uses")[:limit]
    )
    return list(rows)


def recent_entries(user, *, limit: int = 10) -> list[Entry]:
    return list(
        Entry.objects.visible_to(user)
        .searchable()
        .select_related("author")
        .prefetch_related("tags")
        .order_by("-updated_at")[:limit]
    )


@dataclass(frozen=True)
class Usage:
    """How often an entry helped on a call, and when last."""

    count: int = 0
    last_used_at: datetime | None = None

    @property
    def just_now(self) -> bool:
        return bool(self.last_used_at) and timezone.now() - self.last_used_at < timedelta(minutes=1)


def reuse_stats(entry_ids: list[int]) -> defaultdict[int, Usage]:
    """Usage per entry in one query; entries never reused get ``Usage()``."""
    rows = (
        Reuse.objects.filter(entry_id__in=entry_ids)
        .values("entry_id")
        .annotate(count=Count("id"), last=Max("created_at"))
        .values_list("entry_id", "count", "last")
    )
    usage: defaultdict[int, Usage] = defaultdict(Usage)
    for entry_id, count, last in rows:
        usage[entry_id] = Usage(count, last)
    return usage
