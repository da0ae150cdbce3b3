"""The PostgreSQL search backend: full-text search inside the database.

For several app servers sharing one PostgreSQL database (``KB_SEARCH_BACKEND=postgres``).
Each entry is one ``SearchDocument`` row, written in the same transaction as the entry
(``transactional = True``: the service indexes at once instead of after the commit), so
a committed entry is searchable from every app server at once and a rolled-back one
never is.

Text is analysed in Python by ``kb.search.text``, the analyser the Whoosh backend and the
highlighter use, and stored as a ready-made ``tsvector``; queries are ready-made
``tsquery`` values built from the ``ParsedQuery``. So a word is reduced the same way in
both backends (``refunds`` finds ``refund``, the same stop words are dropped, the same
words are highlighted) and PostgreSQL's own parser never re-splits ``wi.fi`` or
``don't``. PostgreSQL does the rest: matching through a GIN index, phrases with ``<->``,
completions with ``word:*``, ranking with weighted ``ts_rank``, and typo candidates
through a pg_trgm index on the vocabulary (``SearchWord``).

Ranking follows ``kb.search.ranking`` with what PostgreSQL offers: per term
``ts_rank`` (field weights A question, B also asked, C answer) times the term's weight
(typed, completion, correction, synonym), plus words typed together found together in
the question, times coordination (the share of typed words matched) and the state boost.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection, transaction
from django.db.models import Case, F, FloatField, Q, Value, When

from kb.models import SearchDocument, SearchWord
from kb.search import ranking
from kb.search.backends import BackendResult, Hit, Visibility
from kb.search.documents import EntryDocument
from kb.search.query import ParsedQuery
from kb.search.text import pairs, spelling_analyzer, stems

WRITE_BATCH = 1_000
# ts_rank's weights, in its order D, C, B, A (each at most 1): the field weights of
# ranking.FIELD_WEIGHTS relative to the question's. D holds only tags, never ranked.
_TOP = ranking.FIELD_WEIGHTS["question"]
RANK_WEIGHTS = [
    0.1,
    ranking.FIELD_WEIGHTS["body"] / _TOP,
    ranking.FIELD_WEIGHTS["also_asked"] / _TOP,
    1.0,
]
PAIR_WEIGHT = ranking.FIELD_WEIGHTS["question_pairs"] / _TOP
NORMALIZATION = 1  # ts_rank divides by 1 + log(document length)

TAG_MARK = "#"  # tags are lexemes "#name": no analysed word starts with "#"
FIELD_GAP = 1  # positions left free between fields, so no phrase spans two of them
# PostgreSQL's limits for a tsvector: positions up to 16383, 256 of them per lexeme,
# lexemes under 2 KB.
MAX_POSITION = 16_383
MAX_POSITIONS = 256
MAX_LEXEME_BYTES = 2_046

MIN_PREFIX = 2  # letters typed before the unfinished word is completed
MIN_CORRECTABLE = 4  # shorter unknown words are left alone (codes, abbreviations)
MAX_WORD = SearchWord._meta.get_field("word").max_length
CORRECTION_CANDIDATES = 20  # closest vocabulary words by trigram similarity, at most


class TsQuery(SearchQuery):
    """A ``tsquery`` of lexemes already analysed here, cast as it is.

    Not ``to_tsquery``: that would run the lexemes through a text search configuration
    again.
    """

    template = "(%(expressions)s)::tsquery"

    def __init__(self, value: str) -> None:
        super().__init__(value)


def quote(lexeme: str) -> str:
    """A lexeme as tsvector and tsquery input spell it."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def any_of(parts: Iterable[str]) -> str:
    return " | ".join(f"({part})" for part in parts)


def all_of(parts: Iterable[str]) -> str:
    return " & ".join(f"({part})" for part in parts)


def document_vector(document: EntryDocument) -> str:
    """The document's ``tsvector``, as text: stems with positions and field weights, and
    its tags as ``#tag`` lexemes without position."""
    positions: dict[str, list[str]] = {}
    position = 0
    for text, weight in (
        (document.question, "A"),
        (document.also_asked, "B"),
        (document.body, "C"),
    ):
        for stem in stems(text):
            position += 1
            if len(stem.encode()) > MAX_LEXEME_BYTES:
                continue
            found = positions.setdefault(stem, [])
            if len(found) < MAX_POSITIONS:
                found.append(f"{min(position, MAX_POSITION)}{weight}")
        position += FIELD_GAP
    lexemes = [f"{quote(stem)}:{','.join(found)}" for stem, found in positions.items()]
    lexemes += [quote(TAG_MARK + tag.lower()) for tag in document.tags]
    return " ".join(lexemes)


def spelling_words(document: EntryDocument) -> set[str]:
    """The document's words as written (lowercased): the vocabulary for corrections."""
    text = f"{document.question}\n{document.also_asked}\n{document.body}"
    return {token.text for token in spelling_analyzer()(text) if 3 <= len(token.text) <= MAX_WORD}


@dataclass
class _Plan:
    """A ParsedQuery as tsquery texts: what must match and how each part scores."""

    match: str = ""
    scored: list[tuple[str, float]] = field(default_factory=list)  # (term, weight)
    groups: list[str] = field(default_factory=list)  # one per typed word, for coordination
    pairs: list[str] = field(default_factory=list)  # words typed together
    searched: set[str] = field(default_factory=set)
    prefixes: list[str] = field(default_factory=list)
    corrections: dict[str, str] = field(default_factory=dict)


class PostgresBackend:
    transactional = True  # index inside the write's transaction (see kb.search.service)

    # -- writes ---------------------------------------------------------------------

    def index_documents(
        self, documents: Iterable[EntryDocument], *, new: bool = False, bulk: bool = False
    ) -> int:
        """Add or replace documents, and add their words to the vocabulary."""
        count = 0
        documents = iter(documents)
        while batch := list(itertools.islice(documents, WRITE_BATCH)):
            rows = [
                SearchDocument(
                    entry_id=document.id,
                    vector=document_vector(document),
                    state=document.state,
                    author_id=document.author_id,
                    updated_at=document.updated_at,
                )
                for document in batch
            ]
            words = sorted(set().union(*(spelling_words(document) for document in batch)))
            with transaction.atomic():
                SearchDocument.objects.bulk_create(
                    rows,
                    update_conflicts=True,
                    unique_fields=["entry"],
                    update_fields=["vector", "state", "author_id", "updated_at"],
                )
                # Sorted, and nothing locked for words already known: two writers adding
                # the same new words wait for each other instead of deadlocking.
                with connection.cursor() as cursor:
                    cursor.execute(
                        "INSERT INTO kb_searchword (word) SELECT unnest(%s::text[]) "
                        "ON CONFLICT DO NOTHING",
                        [words],
                    )
            count += len(batch)
        return count

    def remove(self, entry_ids: Iterable[int]) -> None:
        if ids := list(entry_ids):
            SearchDocument.objects.filter(entry_id__in=ids).delete()

    def clear(self) -> None:
        """Empty the index and its vocabulary (a full rebuild refills both)."""
        SearchDocument.objects.all().delete()
        SearchWord.objects.all().delete()

    def document_count(self) -> int:
        return SearchDocument.objects.count()

    def close(self) -> None:
        """Nothing to close: Django owns the database connection."""

    # -- reads ----------------------------------------------------------------------

    def search(
        self,
        query: ParsedQuery,
        *,
        visibility: Visibility,
        limit: int,
        offset: int,
        exact: bool = False,
    ) -> BackendResult:
        documents = SearchDocument.objects.filter(_visible(visibility))
        tags = [quote(TAG_MARK + tag) for tag in query.tags]
        if query.is_empty:
            return _browse(documents, tags, limit=limit, offset=offset)
        plan = _plan(query, tags, exact=exact)
        text = sum(
            (Value(weight) * _rank(term) for term, weight in plan.scored),
            start=Value(0.0),
        )
        text += sum(
            (
                Case(
                    When(vector=TsQuery(pair), then=Value(PAIR_WEIGHT) * _rank(pair)),
                    default=Value(0.0),
                )
                for pair in plan.pairs
            ),
            start=Value(0.0),
        )
        score = text * _state_boost()
        if len(plan.groups) > 1 and ranking.COORDINATION:
            matched = sum(
                (
                    Case(When(vector=TsQuery(group), then=Value(1.0)), default=Value(0.0))
                    for group in plan.groups
                ),
                start=Value(0.0),
            )
            share = matched / Value(float(len(plan.groups)))
            score *= share if ranking.COORDINATION == 1 else share**ranking.COORDINATION
        matching = documents.filter(vector=TsQuery(plan.match))
        # The total is counted apart: ``count(*) OVER ()`` in the ranked query would make
        # PostgreSQL sort every match instead of keeping only the best ``limit``.
        rows = list(
            matching.annotate(score=score)
            .order_by("-score", "entry_id")
            .values_list("entry_id", "score")[offset : offset + limit]
        )
        if len(rows) < limit and (rows or not offset):
            total = offset + len(rows)  # the last page: every match is in hand
        else:
            total = matching.count()
        hits = [Hit(entry_id=entry_id, score=float(score)) for entry_id, score in rows]
        searched = plan.searched | _completions(hits, plan.prefixes)
        return BackendResult(
            total=total,
            hits=hits,
            corrections=plan.corrections,
            searched=frozenset(searched),
        )


def _rank(term: str):
    return SearchRank(
        F("vector"), TsQuery(term), weights=RANK_WEIGHTS, normalization=Value(NORMALIZATION)
    )


def _state_boost():
    return Case(
        *(When(state=state, then=Value(boost)) for state, boost in ranking.STATE_BOOST.items()),
        default=Value(1.0),
        output_field=FloatField(),
    )


def _visible(visibility: Visibility) -> Q:
    """Drafts only for their author; archived entries only when asked for."""
    visible = ~Q(state="draft")
    if visibility.user_id is not None:
        visible |= Q(author_id=visibility.user_id)
    if not visibility.include_archived:
        visible &= ~Q(state="archived")
    return visible


def _browse(documents, tags: list[str], *, limit: int, offset: int) -> BackendResult:
    """No words, only tag filters: every matching entry, most recently updated first."""
    if tags:
        documents = documents.filter(vector=TsQuery(all_of(tags)))
    ids = list(
        documents.order_by("-updated_at", "entry_id").values_list("entry_id", flat=True)[
            offset : offset + limit
        ]
    )
    total = documents.count() if ids or offset else 0
    return BackendResult(total=total, hits=[Hit(entry_id=i, score=0.0) for i in ids])


def _plan(query: ParsedQuery, tags: list[str], *, exact: bool) -> _Plan:
    """The typed words, each with its synonyms, its completions if it is the word still
    being typed, and, unless ``exact``, the closest known spelling of a word no entry
    contains; then the phrases' other words, the pairs typed together and the filters."""
    plan = _Plan()
    unknown = set() if exact else _unknown_words(query)
    for word in query.words:
        scored = [(quote(word.stem), ranking.EXACT_WEIGHT)]
        scored += [(quote(s), ranking.SYNONYM_WEIGHT) for s in query.synonyms.get(word.stem, ())]
        if _unfinished(query, word):
            prefix = _folded(word.typed)
            scored.append((f"{quote(prefix)}:*", ranking.PREFIX_WEIGHT))
            plan.prefixes.append(prefix)
        if word.typed in unknown and (correction := _correction(word.typed)):
            plan.corrections[word.typed] = correction
            scored += [(quote(s), ranking.CORRECTED_WEIGHT) for s in stems(correction)]
        plan.scored += scored
        plan.groups.append(any_of(term for term, _ in scored))
    plan.searched = {word.stem for word in query.words}
    plan.searched |= {s for alternatives in query.synonyms.values() for s in alternatives}
    plan.searched |= {s for c in plan.corrections.values() for s in stems(c)}
    known = {word.stem for word in query.words}
    for stem in dict.fromkeys(s for phrase in query.phrases for s in phrase):
        if stem not in known:
            plan.scored.append((quote(stem), ranking.EXACT_WEIGHT))
            plan.groups.append(quote(stem))
            plan.searched.add(stem)
    plan.pairs = [
        " <-> ".join(f"{quote(stem)}:AB" for stem in pair.split(" "))
        for pair in dict.fromkeys(pairs(query.sequence))
    ]
    phrases = [" <-> ".join(quote(stem) for stem in phrase) for phrase in query.phrases]
    plan.match = all_of([any_of(plan.groups), *phrases, *tags])
    return plan


def _unfinished(query: ParsedQuery, word) -> bool:
    return query.open_ended and word.stem == query.sequence[-1] and len(word.typed) >= MIN_PREFIX


def _folded(typed: str) -> str:
    """A typed word as the vocabulary spells it (accents folded, like the analyser)."""
    return "".join(token.text for token in spelling_analyzer()(typed))


def _unknown_words(query: ParsedQuery) -> set[str]:
    """The typed words that could be typos (long enough, letters only) and that no
    document contains, nor completes when it is the word still being typed."""
    checked = {}
    for word in query.words:
        if len(word.typed) >= MIN_CORRECTABLE and word.typed.isalpha():
            term = quote(word.stem)
            if _unfinished(query, word):
                term = f"{term} | {quote(_folded(word.typed))}:*"
            checked[word.typed] = term
    if not checked:
        return set()
    exists = "EXISTS (SELECT 1 FROM kb_searchdocument WHERE vector @@ %s::tsquery)"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT " + ", ".join([exists] * len(checked)),
            list(checked.values()),
        )
        found = cursor.fetchone()
    return {typed for typed, known in zip(checked, found, strict=True) if not known}


def _correction(typed: str) -> str | None:
    """The most used known word one edit away (two for long words), if any.

    pg_trgm's index finds the vocabulary words that look alike; the edit distance then
    decides, as in the Whoosh backend. How much a word is used is counted in the
    documents, so words no entry contains any more are never suggested.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT word FROM kb_searchword WHERE word %% %s AND left(word, 1) = left(%s, 1) "
            "AND word <> %s ORDER BY similarity(word, %s) DESC, word LIMIT %s",
            [typed, typed, typed, typed, CORRECTION_CANDIDATES],
        )
        candidates = [word for (word,) in cursor.fetchall()]
    for distance in (1, 2) if len(typed) > 6 else (1,):
        near = [(w, s) for w in candidates if _edits(typed, w) <= distance and (s := stems(w))]
        if near:
            used = _document_frequencies([all_of(quote(x) for x in s) for _, s in near])
            best = max(zip(used, (w for w, _ in near), strict=True))
            if best[0]:
                return best[1]
    return None


def _document_frequencies(terms: list[str]) -> list[int]:
    count = "(SELECT count(*) FROM kb_searchdocument WHERE vector @@ %s::tsquery)"
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join([count] * len(terms)), terms)
        return list(cursor.fetchone())


def _edits(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def _completions(hits: list[Hit], prefixes: list[str]) -> set[str]:
    """The stems that completed the word still being typed, in the entries found: what
    the page highlights as the completed word."""
    if not prefixes or not hits:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT u.lexeme FROM kb_searchdocument d, unnest(d.vector) u "
            "WHERE d.entry_id = ANY(%s) "
            "AND EXISTS (SELECT 1 FROM unnest(%s::text[]) p WHERE starts_with(u.lexeme, p))",
            [[hit.entry_id for hit in hits], prefixes],
        )
        return {lexeme for (lexeme,) in cursor.fetchall()}
