"""Search straight from the database, for when the search index cannot answer.

The index is derived data (DESIGN.md): while it is missing, corrupt or being rebuilt,
search still answers, more slowly and more simply, and says its results may be
incomplete. Every typed word must appear, case-insensitively, in the question, the
"also asked as" phrasings or the answer; matches in the question count most. No
stemming, completion or typo correction. The same people see the same entries as
through the index: drafts only their author, archived entries only when asked for.
"""

from __future__ import annotations

from django.db.models import Case, ExpressionWrapper, F, IntegerField, Q, Value, When

from kb.models import Entry
from kb.search.backends import BackendResult, Hit, Visibility
from kb.search.query import ParsedQuery, without_tags
from kb.search.text import words

MAX_WORDS = 8  # each word is a scan of the text columns: keep a long query affordable
# How much a word found in each field counts; a validated entry ranks a little higher.
FIELD_POINTS = (("question", 4), ("also_asked", 3), ("answer_text", 1))
VALIDATED_POINTS = 1


def searched_words(query: ParsedQuery) -> list[str]:
    """The distinct words typed (stop words left out), phrases' words included."""
    typed = dict.fromkeys(word.typed for word in words(without_tags(query.text)))
    return list(typed)[:MAX_WORDS]


def database_search(query: ParsedQuery, *, visibility: Visibility, limit: int) -> BackendResult:
    entries = Entry.objects.all()
    if visibility.user_id is None:
        entries = entries.exclude(state=Entry.State.DRAFT)
    else:
        entries = entries.filter(~Q(state=Entry.State.DRAFT) | Q(author_id=visibility.user_id))
    if not visibility.include_archived:
        entries = entries.exclude(state=Entry.State.ARCHIVED)
    for tag in query.tags:
        entries = entries.filter(tags__name=tag)
    typed = searched_words(query)
    if not typed and not query.tags:
        return BackendResult(total=0, hits=[])
    points = [Value(0)]
    for word in typed:
        entries = entries.filter(
            Q(question__icontains=word)
            | Q(also_asked__icontains=word)
            | Q(answer_text__icontains=word)
        )
        points += [
            Case(When(**{f"{name}__icontains": word}, then=Value(weight)), default=Value(0))
            for name, weight in FIELD_POINTS
        ]
    points.append(
        Case(When(state=Entry.State.VALIDATED, then=Value(VALIDATED_POINTS)), default=Value(0))
    )
    score = sum(points[1:], points[0])
    ranked = (
        entries.annotate(points=ExpressionWrapper(score, output_field=IntegerField()))
        .order_by(F("points").desc(), "-updated_at", "-pk")
        .values_list("pk", "points")
    )
    hits = [Hit(entry_id=pk, score=float(points)) for pk, points in ranked[:limit]]
    return BackendResult(total=entries.count(), hits=hits)
