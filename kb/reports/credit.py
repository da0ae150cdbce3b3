"""Who gets credit for an entry: one definition for profiles, the leaderboard and KCS.

Creating, editing and restoring change what an entry says; moving it between states
(publish, validate, archive) does not, so validating entries earns no credit for them.
"""

from __future__ import annotations

from django.db.models import F, Q, QuerySet

from kb.models import Revision

CONTENT_KINDS = (Revision.Kind.CREATED, Revision.Kind.EDITED, Revision.Kind.RESTORED)
# A revision that changed what the entry says.
CONTRIBUTING = Q(kind__in=CONTENT_KINDS)
# A change of content after the entry was created (by anyone, its author included).
IMPROVING = Q(kind__in=(Revision.Kind.EDITED, Revision.Kind.RESTORED))


def content_revisions() -> QuerySet[Revision]:
    """Revisions that changed what an entry says."""
    return Revision.objects.filter(CONTRIBUTING)


def improvement_revisions() -> QuerySet[Revision]:
    """Improvements of someone else's entry: content changes after the first revision,
    by a person other than the author."""
    return Revision.objects.filter(IMPROVING, editor__isnull=False).exclude(
        entry__author=F("editor")
    )
