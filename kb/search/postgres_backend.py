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

Speed (``make bench``): a search is one round trip to the database, its statements sent
together (``_batch``): whether the typed words are known, the ranking, how many entries
match (or PostgreSQL's estimate) and the hits' reuse counts; only a typo adds a few.
The ranking query works in two stages, a single ``ts_rank`` per matching entry for
every term at once, then the full score for the best ``CANDIDATES`` only. A query with
common words ("not", "up", "card" match most entries) first ranks only the entries
holding its rarer words, found through the GIN index; which words are rare PostgreSQL's
own column statistics say (``pg_stats.most_common_elems``).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from django.contrib.postgres.search import SearchQuery
from django.db import connection, transaction
from django.db.models import Q

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

# Ranking in two stages (see _ranked): entries the full score is computed for, at most.
CANDIDATES = 100
# Narrowing (see _narrowed): from this many entries on, a query with common words ranks
# only the entries holding its rarer words, about this many of them.
NARROW_FROM = 2_000
CANDIDATE_BUDGET = 1_500
WIDER_BUDGET = 3 * CANDIDATE_BUDGET  # when the rarer words found too few entries
# When narrowing leaves more than BROAD_FROM entries to rank (one common word: "card", "my
# payment"; common words found together: "up on my"), only the BROAD_SAMPLE most recently
# updated of them are ranked: ranking every one costs about a microsecond each, 30 ms and
# more on a large site, for results that differ little.
BROAD_FROM = 8_000
BROAD_SAMPLE = 2_000
# On a site with statistics, the first stage ranks by this many of the rarest typed words.
FIRST_STAGE_WORDS = 8
STATISTICS_TTL = 60.0  # seconds the column statistics are reused


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
    group_terms: list[list[int]] = field(default_factory=list)  # each group's indexes in scored
    lexemes: list[list[str]] = field(default_factory=list)  # each group's lexemes ("pass*")
    rest: list[str] = field(default_factory=list)  # what must match besides (phrases, tags)
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
        if bulk:
            # Fresh statistics for the planner and for narrowing (_statistics), without
            # waiting for autovacuum to notice the load.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE kb_searchdocument")
                cursor.execute("SELECT gin_clean_pending_list('kb_searchdocument_vector_gin')")
            _statistics_cache.pop(connection.settings_dict["NAME"], None)
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

    def is_empty(self) -> bool:
        return not SearchDocument.objects.exists()

    def readable(self) -> bool:
        """The index is tables of the database: readable whenever the database is."""
        return True

    @contextmanager
    def rebuild_guard(self, *, wait: bool) -> Iterator[bool]:
        """A rebuild is one transaction: the others keep searching the old rows until it
        commits, so rebuilds need no guard of their own."""
        yield True

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
        wanted = offset + limit
        checked = {} if exact else _correctable(query)
        plan = _plan(query, tags)
        found = _run(plan, visibility, wanted, checked=checked)
        if found.unknown:
            corrections = {typed: c for typed in found.unknown if (c := _correction(typed))}
            if corrections:
                plan = _plan(query, tags, corrections)
                found = _run(plan, visibility, wanted)
        rows = found.rows[offset:]
        if len(rows) < limit and (rows or not offset):
            total = offset + len(rows)  # the last page: every match is in hand
        elif found.matches is not None:
            total = found.matches
        else:
            # Most entries hold a common word: PostgreSQL's estimate of how many match,
            # instead of counting thousands of them on every search.
            total = max(found.estimate or 0, offset + len(rows))
        hits = [Hit(entry_id=entry_id, score=float(score)) for entry_id, score, _ in rows]
        completions = {lexeme for *_, lexemes in rows for lexeme in lexemes or ()}
        return BackendResult(
            total=total,
            hits=hits,
            corrections=plan.corrections,
            searched=frozenset(plan.searched | completions),
            reuses=found.reuses,
        )


@dataclass
class _Found:
    rows: list[tuple[int, float, list[str] | None]]  # entry, score, completions it holds
    matches: int | None = None  # every visible match counted (few match)
    estimate: int | None = None  # PostgreSQL's estimate of the matches (many match)
    unknown: set[str] = field(default_factory=set)  # typed words no entry holds
    reuses: dict[int, tuple[int, object]] = field(default_factory=dict)  # see BackendResult


def _run(
    plan: _Plan, visibility: Visibility, wanted: int, *, checked: dict[str, str] | None = None
) -> _Found:
    """Rank in one round trip (``_batch``), and again only when narrowing, or ranking
    only the most recently updated entries, found too few."""
    narrowed, expected = _narrowed(plan)
    found = _batch(plan, narrowed, visibility, wanted, checked or {}, recent=expected > BROAD_FROM)
    if (narrowed or expected > BROAD_FROM) and len(found.rows) < wanted:
        # The statistics promised more: more of the words, then every match; on a large
        # site the entries holding the rarer words and the most recent of every match.
        unknown = found.unknown
        wider = _narrowed(plan, WIDER_BUDGET)[0] if narrowed else None
        if wider and wider != narrowed:
            found = _batch(plan, wider, visibility, wanted, {})
        if not wider or len(found.rows) < wanted:
            broad = _matches_many(plan, BROAD_FROM)
            rarer = (wider or narrowed) if broad else None
            found = _batch(plan, None, visibility, wanted, {}, recent=broad, also=rarer)
        found = replace(found, unknown=unknown)
    return found


def _batch(
    plan: _Plan,
    narrowed: str | None,
    visibility: Visibility,
    wanted: int,
    checked: dict[str, str],
    *,
    recent: bool = False,
    also: str | None = None,
) -> _Found:
    """Which typed words no entry holds, the best ``wanted`` entries, and how many match,
    in one round trip (several statements in one query string), with sequential scans
    off for it.

    The GIN index finds the matches: a sequential scan would decompress every entry's
    vector to test it, which the planner's costs do not see (and scans the whole table
    for a word no entry holds). ``enable_seqscan`` is set for the rest of the
    transaction, so the last statement restores it (inside a caller's transaction too).
    """
    statements = [
        ("SELECT set_config('kb.enable_seqscan', current_setting('enable_seqscan'), true)", []),
        ("SELECT set_config('enable_seqscan', 'off', true)", []),
    ]
    if checked:
        exists = "EXISTS (SELECT 1 FROM kb_searchdocument WHERE vector @@ %s::tsquery)"
        statements.append(("SELECT " + ", ".join([exists] * len(checked)), list(checked.values())))
    # Counting thousands of matches costs more than ranking them: a query the statistics
    # say most entries match reports PostgreSQL's estimate instead, as a narrowed one does.
    estimated = bool(narrowed) or recent or _matches_many(plan, NARROW_FROM)
    ranked = _ranked(
        plan,
        narrowed or plan.match,
        visibility,
        wanted,
        count=not estimated,
        recent=recent,
        also=also,
    )
    statements.append(ranked)
    if estimated:
        statements.append(_estimate(plan.match, visibility))
    statements.append(
        ("SELECT set_config('enable_seqscan', current_setting('kb.enable_seqscan'), true)", [])
    )
    sql = ";\n".join(connection.ops.compose_sql(text, params) for text, params in statements)
    with connection.cursor() as cursor:
        cursor.execute(sql)
        cursor.nextset()  # the set_config statements
        cursor.nextset()
        unknown = set()
        if checked:
            known = cursor.fetchone()
            unknown = {typed for typed, hit in zip(checked, known, strict=True) if not hit}
            cursor.nextset()
        fetched = cursor.fetchall()
        found = _Found(rows=[(row[0], row[1], row[3]) for row in fetched])
        found.reuses = {row[0]: (row[4], row[5]) for row in fetched}
        if estimated:
            cursor.nextset()
            plan_json = cursor.fetchone()[0]
            if isinstance(plan_json, str):
                plan_json = json.loads(plan_json)
            found.estimate = int(plan_json[0]["Plan"]["Plan Rows"])
        else:
            found.matches = fetched[0][2] if fetched else 0
        while cursor.nextset():  # the last statement: read it all before the next query
            pass
    found.unknown = unknown
    return found


def _visible_sql(visibility: Visibility) -> tuple[str, list]:
    """``_visible`` as SQL: drafts only for their author, archived entries when asked."""
    visible, params = "state <> 'draft'", []
    if visibility.user_id is not None:
        visible = f"({visible} OR author_id = %s)"
        params.append(visibility.user_id)
    if not visibility.include_archived:
        visible += " AND state <> 'archived'"
    return visible, params


def _ranked(
    plan: _Plan,
    match: str,
    visibility: Visibility,
    limit: int,
    *,
    count: bool,
    recent: bool = False,
    also: str | None = None,
) -> tuple[str, list]:
    """The best ``limit`` entries matching ``match``, in two stages, as SQL and its
    parameters. Each row: the entry, its score, how many visible entries match (with
    ``count``), the completions of the unfinished word it holds, and how often it
    helped on a call and when last (what ``reuse_stats`` would read next).

    First one ``ts_rank`` per matching entry, for all the query's terms at once, keeps
    the best ``CANDIDATES``; only those get the full score: a ``ts_rank`` per term, the
    pairs typed together, coordination and the state boost. With ``recent`` the first
    stage ranks only the ``BROAD_SAMPLE`` most recently updated matches, read in that
    order from an index (``searchdocument_recent_idx``) instead of every match, and
    with ``also`` every entry matching that besides (the entries holding the rarer
    words). The first stage keeps only each entry's row address, so no vector is
    carried through its sort; the full score reads each candidate's ``tsvector`` once
    (``vector || ''`` makes an uncompressed copy), not once per term.
    """
    terms = [term for term, _ in plan.scored]
    visible, visible_params = _visible_sql(visibility)
    weights = "'{" + ",".join(str(w) for w in RANK_WEIGHTS) + "}'::real[]"
    rank = f"ts_rank({weights}, vector, %s::tsquery, {NORMALIZATION})"
    part = (
        f"SELECT ctid AS address, entry_id, state, {rank} AS rank FROM kb_searchdocument "
        f"WHERE vector @@ %s::tsquery AND {visible}"
    )
    if recent:
        matching = f"({part} ORDER BY updated_at DESC, entry_id DESC LIMIT {BROAD_SAMPLE})"
    else:  # OFFSET 0 keeps the planner from folding the subquery into the outer sort.
        matching = f"({part} OFFSET 0)"
    first = any_of(_first_stage_terms(plan))
    params: list = [first, match, *visible_params]
    if also:
        matching += f" UNION ({part})"
        params += [first, also, *visible_params]
    params.append(max(CANDIDATES, limit))
    # Counting every match in the first stage costs little once its rows are narrow.
    matches = "count(*) OVER ()" if count else "NULL::bigint"
    completions = "NULL::text[]"
    if plan.prefixes:
        completions = (
            "ARRAY(SELECT u.lexeme FROM unnest(v) u WHERE EXISTS "
            "(SELECT 1 FROM unnest(%s::text[]) p WHERE starts_with(u.lexeme, p)))"
        )
        params.append(plan.prefixes)
    columns = [
        f"ts_rank({weights}, v, %s::tsquery, {NORMALIZATION}) AS t{i}" for i in range(len(terms))
    ]
    params += terms
    for i, pair in enumerate(plan.pairs):
        columns.append(
            f"CASE WHEN v @@ %s::tsquery THEN ts_rank({weights}, v, %s::tsquery, "
            f"{NORMALIZATION}) ELSE 0 END AS p{i}"
        )
        params += [pair, pair]
    text = " + ".join(
        [f"{weight} * t{i}" for i, (_, weight) in enumerate(plan.scored)]
        + [f"{PAIR_WEIGHT} * p{i}" for i in range(len(plan.pairs))]
    )
    score = f"({text})"
    if len(plan.group_terms) > 1 and ranking.COORDINATION:
        matched = " + ".join(
            "CASE WHEN " + " + ".join(f"t{i}" for i in members) + " > 0 THEN 1 ELSE 0 END"
            for members in plan.group_terms
        )
        share = f"(({matched})::float8 / {len(plan.group_terms)})"
        score += (
            f" * {share}" if ranking.COORDINATION == 1 else f" * {share} ^ {ranking.COORDINATION}"
        )
    boost = " ".join(f"WHEN '{state}' THEN {value}" for state, value in ranking.STATE_BOOST.items())
    score += f" * CASE state {boost} ELSE 1.0 END" if boost else ""
    params.append(limit)
    sql = f"""
        WITH candidate AS MATERIALIZED (
            SELECT address, entry_id, state, {matches} AS matches FROM (
                {matching}
            ) matching
            ORDER BY rank DESC, entry_id
            LIMIT %s
        )
        SELECT entry_id, score, matches, {completions}, reused.count, reused.last FROM (
            SELECT entry_id, matches, v, {score} AS score FROM (
                SELECT entry_id, state, matches, v, {", ".join(columns)}
                FROM (
                    SELECT c.entry_id, c.state, c.matches, d.vector || ''::tsvector AS v
                    FROM candidate c JOIN kb_searchdocument d ON d.ctid = c.address
                    OFFSET 0
                ) c
                OFFSET 0
            ) ranked
            ORDER BY score DESC, entry_id
            LIMIT %s
        ) best
        LEFT JOIN LATERAL (
            SELECT count(*) AS count, max(created_at) AS last FROM kb_reuse
            WHERE kb_reuse.entry_id = best.entry_id
        ) reused ON true
        ORDER BY score DESC, entry_id
    """
    return sql, params


def _estimate(match: str, visibility: Visibility) -> tuple[str, list]:
    """The planner's estimate of how many visible entries match, as a statement."""
    visible, params = _visible_sql(visibility)
    return (
        "EXPLAIN (FORMAT JSON) SELECT 1 FROM kb_searchdocument "
        f"WHERE vector @@ %s::tsquery AND {visible}",
        [match, *params],
    )


@dataclass(frozen=True)
class _Statistics:
    """How many entries hold each common lexeme: PostgreSQL's own statistics on the
    ``vector`` column (``pg_stats.most_common_elems``, kept by ANALYZE and autovacuum)."""

    rows: float
    share: dict[str, float]  # lexeme -> share of entries holding it
    floor: float  # lexemes not listed are in fewer entries than this share

    def entries(self, lexemes: list[str]) -> float:
        """About how many entries hold one of ``lexemes`` (``word*``: any completion)."""
        share = 0.0
        for lexeme in lexemes:
            if lexeme.endswith("*"):
                prefix = lexeme[:-1]
                share += sum(f for word, f in self.share.items() if word.startswith(prefix))
                share += self.floor / 2
            else:
                share += self.share.get(lexeme, self.floor / 2)
        return min(share, 1.0) * self.rows


_statistics_cache: dict[str, tuple[float, _Statistics | None]] = {}


def _statistics() -> _Statistics | None:
    """The vector column's statistics, read at most once a ``STATISTICS_TTL``."""
    key = connection.settings_dict["NAME"]
    now = time.monotonic()
    cached = _statistics_cache.get(key)
    if cached and now - cached[0] < STATISTICS_TTL:
        return cached[1]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.reltuples, s.most_common_elems::text::text[], s.most_common_elem_freqs "
            "FROM pg_class c LEFT JOIN pg_stats s ON s.schemaname = current_schema() "
            "AND s.tablename = c.relname AND s.attname = 'vector' "
            "WHERE c.oid = 'kb_searchdocument'::regclass"
        )
        rows, lexemes, shares = cursor.fetchone()
    found = None
    if lexemes and shares and rows >= NARROW_FROM:
        # The last three shares are the smallest, the largest and the null share.
        found = _Statistics(rows, dict(zip(lexemes, shares, strict=False)), shares[-3])
    _statistics_cache[key] = (now, found)
    return found


def _first_stage_terms(plan: _Plan) -> list[str]:
    """The terms the first stage ranks by: those of the ``FIRST_STAGE_WORDS`` rarest
    typed words. A long message ("My new landlord says he hasn't received the rent...")
    has forty terms, and ``ts_rank`` costs per term on every row it ranks; its rarer
    words decide which entries are worth the full score, which counts every term."""
    statistics = _statistics()
    if statistics is None or len(plan.groups) <= FIRST_STAGE_WORDS:
        return [term for term, _ in plan.scored]
    rarest = sorted(range(len(plan.groups)), key=lambda i: statistics.entries(plan.lexemes[i]))[
        :FIRST_STAGE_WORDS
    ]
    return [plan.scored[i][0] for group in sorted(rarest) for i in plan.group_terms[group]]


def _matches_many(plan: _Plan, many: int) -> bool:
    """Whether, by the column statistics, more than ``many`` entries match."""
    statistics = _statistics()
    lexemes = [lexeme for group in plan.lexemes for lexeme in group]
    return statistics is not None and statistics.entries(lexemes) > many


def _narrowed(plan: _Plan, budget: int | None = None) -> tuple[str | None, float]:
    """What an entry must match to be worth ranking when the query has common words, or
    None to rank every match; and about how many entries that is, by the statistics (0
    without them).

    The rarest words are kept while the entries holding them stay under ``budget``: an
    entry holding none of them matches only words most entries hold, and ranks below
    those that hold a rarer one. When even the rarest word is that common, the entries
    must hold the rarest words together, as many as it takes (all, at most).
    """
    budget = budget or CANDIDATE_BUDGET
    statistics = _statistics()
    if statistics is None or len(plan.groups) < 1:
        return None, 0.0
    sizes = sorted(
        (statistics.entries(lexemes), group)
        for lexemes, group in zip(plan.lexemes, plan.groups, strict=True)
    )
    if sizes[0][0] <= budget:
        kept, size = [], 0.0
        for entries, group in sizes:
            if kept and size + entries > budget:
                break
            kept.append(group)
            size += entries
        if len(kept) == len(sizes):
            return None, size
        return all_of([any_of(kept), *plan.rest]), size
    if len(sizes) == 1:
        return None, sizes[0][0]
    kept, share = [], 1.0
    for entries, group in sizes:
        kept.append(group)
        share *= entries / statistics.rows
        if share * statistics.rows <= budget:
            break
    return all_of([*kept, *plan.rest]), share * statistics.rows


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
        documents.order_by("-updated_at", "-entry_id").values_list("entry_id", flat=True)[
            offset : offset + limit
        ]
    )
    total = documents.count() if ids or offset else 0
    return BackendResult(total=total, hits=[Hit(entry_id=i, score=0.0) for i in ids])


def _plan(query: ParsedQuery, tags: list[str], corrections: dict[str, str] | None = None) -> _Plan:
    """The typed words, each with its synonyms, its completions if it is the word still
    being typed, and the closest known spelling (``corrections``) of a word no entry
    contains; then the phrases' other words, the pairs typed together and the filters."""
    plan = _Plan()
    corrections = corrections or {}
    for word in query.words:
        scored = [(quote(word.stem), ranking.EXACT_WEIGHT)]
        scored += [(quote(s), ranking.SYNONYM_WEIGHT) for s in query.synonyms.get(word.stem, ())]
        if _unfinished(query, word):
            prefix = _folded(word.typed)
            scored.append((f"{quote(prefix)}:*", ranking.PREFIX_WEIGHT))
            plan.prefixes.append(prefix)
        if correction := corrections.get(word.typed):
            plan.corrections[word.typed] = correction
            scored += [(quote(s), ranking.CORRECTED_WEIGHT) for s in stems(correction)]
        plan.group_terms.append(list(range(len(plan.scored), len(plan.scored) + len(scored))))
        plan.scored += scored
        plan.groups.append(any_of(term for term, _ in scored))
        plan.lexemes.append(
            [word.stem, *query.synonyms.get(word.stem, ())]
            + [f"{p}*" for p in plan.prefixes[-1:] if _unfinished(query, word)]
            + [s for s in stems(plan.corrections.get(word.typed, ""))]
        )
    plan.searched = {word.stem for word in query.words}
    plan.searched |= {s for alternatives in query.synonyms.values() for s in alternatives}
    plan.searched |= {s for c in plan.corrections.values() for s in stems(c)}
    known = {word.stem for word in query.words}
    for stem in dict.fromkeys(s for phrase in query.phrases for s in phrase):
        if stem not in known:
            plan.group_terms.append([len(plan.scored)])
            plan.scored.append((quote(stem), ranking.EXACT_WEIGHT))
            plan.groups.append(quote(stem))
            plan.lexemes.append([stem])
            plan.searched.add(stem)
    plan.pairs = [
        " <-> ".join(f"{quote(stem)}:AB" for stem in pair.split(" "))
        for pair in dict.fromkeys(pairs(query.sequence))
    ]
    phrases = [" <-> ".join(quote(stem) for stem in phrase) for phrase in query.phrases]
    plan.rest = [*phrases, *tags]
    plan.match = all_of([any_of(plan.groups), *plan.rest])
    return plan


def _unfinished(query: ParsedQuery, word) -> bool:
    return query.open_ended and word.stem == query.sequence[-1] and len(word.typed) >= MIN_PREFIX


def _folded(typed: str) -> str:
    """A typed word as the vocabulary spells it (accents folded, like the analyser)."""
    return "".join(token.text for token in spelling_analyzer()(typed))


def _correctable(query: ParsedQuery) -> dict[str, str]:
    """The typed words that could be typos (long enough, letters only), each with what
    a document must hold for it to be known: the word, or a completion when it is the
    word still being typed. ``_batch`` asks which of them no document holds."""
    checked = {}
    for word in query.words:
        if len(word.typed) >= MIN_CORRECTABLE and word.typed.isalpha():
            term = quote(word.stem)
            if _unfinished(query, word):
                term = f"{term} | {quote(_folded(word.typed))}:*"
            checked[word.typed] = term
    return checked


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
