"""Synonyms applied when searching: the floor's own words for the same thing.

Supervisors keep the list (``SynonymGroup``); nothing domain-specific is built in. A
query word (or several words) matching one member of a group also searches the other
members, at ``ranking.SYNONYM_WEIGHT``, as the same word for coordination.
"""

from __future__ import annotations

from django.core.cache import cache

from kb.models import SynonymGroup
from kb.search.text import stems

CACHE_KEY = "kb:synonyms:v1"
CACHE_SECONDS = 60  # other processes see an edit within this time (at once with Redis)


def groups() -> list[list[tuple[str, ...]]]:
    """Each group as a list of members, each member as its stems."""
    found = cache.get(CACHE_KEY)
    if found is None:
        found = []
        for group in SynonymGroup.objects.all():
            members = [tuple(stems(member)) for member in group.members()]
            members = [m for m in dict.fromkeys(members) if m]
            if len(members) > 1:
                found.append(members)
        cache.set(CACHE_KEY, found, CACHE_SECONDS)
    return found


def forget() -> None:
    cache.delete(CACHE_KEY)


def alternatives(query_stems: list[str]) -> dict[str, list[str]]:
    """For a query's stems: stem -> extra stems to search alongside it.

    A member matches when all its stems are in the query; the other members' stems are
    attached to the first stem of the matched member.
    """
    present = set(query_stems)
    extra: dict[str, list[str]] = {}
    for members in groups():
        for member in members:
            if set(member) <= present:
                anchor = min(member, key=query_stems.index)
                others = [s for other in members if other != member for s in other]
                bucket = extra.setdefault(anchor, [])
                bucket += [s for s in others if s not in present and s not in bucket]
    return extra
