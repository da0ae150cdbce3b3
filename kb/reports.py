"""Read-side queries: aggregates for the home page, supervisors and profiles."""

from __future__ import annotations

from django.db.models import Count
from taggit.models import Tag

from kb.models import Entry


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
