"""The search interface the rest of Floorbook uses; backends stay behind it."""

from __future__ import annotations

import logging
import math
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from functools import cache
from itertools import islice

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import Count
from django.utils.safestring import SafeString

from kb.models import Entry, TaggedEntry
from kb.reports import Usage, reuse_stats
from kb.search import ranking, synonyms
from kb.search.backends import SearchBackend, Visibility
from kb.search.documents import entry_document
from kb.search.highlight import highlight, snippet
from kb.search.query import ParsedQuery, parse_query
from kb.search.text import matching_tokens

logger = logging.getLogger(__name__)

INDEX_BATCH = 2_000
BULK_THRESHOLD = 500  # more entries than this are indexed as a bulk load
FACET_LIMIT = 12
FACET_SAMPLE = 100  # tag facets count the tags of this many top results


@cache
def get_backend() -> SearchBackend:
    name = settings.KB_SEARCH_BACKEND
    if name == "whoosh":
        from kb.search.whoosh_backend import WhooshBackend

        return WhooshBackend(settings.KB_INDEX_DIR)
    if name == "postgres":
        if connection.vendor != "postgresql":
            raise ImproperlyConfigured(
                "KB_SEARCH_BACKEND=postgres needs a PostgreSQL DATABASE_URL."
            )
        from kb.search.postgres_backend import PostgresBackend

        return PostgresBackend()
    raise ValueError(f"Unknown KB_SEARCH_BACKEND {name!r}")


def forget_synonyms() -> None:
    """After the synonym list changed: search with the new one from now on."""
    synonyms.forget()


def reset_backend() -> None:
    """Close the backend so the next call opens it afresh (tests, after settings change)."""
    if get_backend.cache_info().currsize:
        get_backend().close()
    get_backend.cache_clear()


# -- writes -------------------------------------------------------------------------


def _entries_for_index(entry_ids: Iterable[int]):
    return Entry.objects.filter(pk__in=list(entry_ids)).prefetch_related("tags")


def index_entries(entry_ids: Iterable[int], *, new: bool = False, progress=None) -> int:
    """Index (or re-index) these entries as they are in the database now.

    ``new=True`` promises none of them is in the index yet (imports, rebuilds). Large
    sets are read from the database in batches and written in one bulk commit.
    """
    entry_ids = list(entry_ids)
    backend = get_backend()
    if not new:
        found = set(Entry.objects.filter(pk__in=entry_ids).values_list("pk", flat=True))
        backend.remove(i for i in entry_ids if i not in found)

    def documents():
        done = 0
        for batch in _batched(iter(entry_ids), INDEX_BATCH):
            for entry in _entries_for_index(batch):
                yield entry_document(entry)
            done += len(batch)
            if progress:
                progress(done)

    return backend.index_documents(documents(), new=new, bulk=len(entry_ids) > BULK_THRESHOLD)


_deferred: ContextVar[list[tuple[list[int], bool]] | None] = ContextVar(
    "kb_deferred_indexing", default=None
)


def index_after_commit(entry_ids: Iterable[int], *, new: bool = False) -> None:
    """Index once the surrounding transaction commits, or, when the backend keeps its
    index in the database (``transactional``), now, inside that transaction: the entry
    and its index row commit together, so every app server finds it at once.

    Either way an index failure is logged and never undoes or fails the write (a
    savepoint keeps the transaction usable); ``rebuild_index`` repairs the index.
    """
    entry_ids = list(entry_ids)
    if (deferred := _deferred.get()) is not None:
        deferred.append((entry_ids, new))
        return
    if getattr(get_backend(), "transactional", False):
        _index_in_transaction(entry_ids, new=new)
        return
    transaction.on_commit(lambda: index_entries(entry_ids, new=new), robust=True)


def _index_in_transaction(entry_ids: list[int], *, new: bool) -> None:
    try:
        with transaction.atomic():
            index_entries(entry_ids, new=new)
    except Exception as error:
        logger.error(
            "Indexing entries %s failed (%s); rebuild_index repairs the index.",
            entry_ids[:20],
            error,
            exc_info=True,
        )


@contextmanager
def indexing_deferred() -> Iterator[None]:
    """Collect the indexing of many writes and do it in one go when the block ends.

    For commands that write many entries (the demo seed): one index commit instead of
    one per entry. Wrap the whole transaction, so the block ends after the commit; if it
    raises, nothing is indexed (``rebuild_index`` makes the index match the database).
    """
    token = _deferred.set([])
    try:
        yield
        pending = _deferred.get()
    finally:
        _deferred.reset(token)
    new_ids = [pk for ids, new in pending if new for pk in ids]
    changed = {pk for ids, new in pending if not new for pk in ids}
    if new_only := [pk for pk in new_ids if pk not in changed]:
        index_entries(new_only, new=True)
    if changed:
        index_entries(sorted(changed))


def rebuild(*, progress=None) -> int:
    """Rebuild the whole index from the database. Returns the number of entries indexed.

    A ``transactional`` backend rebuilds in one transaction: searches keep finding the
    old index until the new one is complete.
    """
    backend = get_backend()
    with transaction.atomic() if getattr(backend, "transactional", False) else nullcontext():
        backend.clear()
        ids = Entry.objects.order_by("pk").values_list("pk", flat=True)
        return index_entries(ids.iterator(), new=True, progress=progress)


def _batched(iterable: Iterator[int], size: int) -> Iterator[list[int]]:
    while batch := list(islice(iterable, size)):
        yield batch


# -- reads --------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchResult:
    entry: Entry
    score: float
    question_html: SafeString
    snippet_html: SafeString
    tags: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class SearchResults:
    query: ParsedQuery
    total: int
    results: list[SearchResult]
    took_ms: float
    tag_counts: list[tuple[str, int]] = field(default_factory=list)
    include_archived: bool = False
    corrections: dict[str, str] = field(default_factory=dict)

    @property
    def corrected_text(self) -> str:
        """The query as it was searched, with corrected words in place of typos."""
        text = self.query.text
        for typed, correction in self.corrections.items():
            text = re.sub(rf"(?i)\b{re.escape(typed)}\b", correction, text)
        return text


def search(
    text: str,
    *,
    user,
    tags: tuple[str, ...] = (),
    include_archived: bool = False,
    limit: int = 20,
    offset: int = 0,
    facets: bool = False,
    exact: bool = False,
) -> SearchResults:
    """Ranked entries for what a person typed, with highlighted question and snippet.

    ``facets=True`` also counts the tags of the top results, for "filter by tag" links.
    ``exact=True`` searches the words as typed, without correcting typos.
    """
    started = time.perf_counter()
    parsed = parse_query(text, extra_tags=tags)
    if parsed.sequence:
        parsed = replace(parsed, synonyms=synonyms.alternatives(parsed.sequence))
    visibility = Visibility(
        user_id=user.pk if user.is_authenticated else None, include_archived=include_archived
    )
    if parsed.is_empty and not parsed.tags:
        # Only stop words or punctuation ("AND OR (", "how do i"): nothing to match on.
        return SearchResults(parsed, 0, [], (time.perf_counter() - started) * 1000)
    depth = max(offset + limit, ranking.RERANK_DEPTH, FACET_SAMPLE if facets else 0)
    found = get_backend().search(parsed, visibility=visibility, limit=depth, offset=0, exact=exact)
    candidates = [hit.entry_id for hit in found.hits]
    tag_counts = _tag_counts(candidates[:FACET_SAMPLE]) if facets else []
    if found.reuses is None:
        usage = reuse_stats(candidates)
    else:  # read with the ranking
        usage = defaultdict(Usage, {i: Usage(*reused) for i, reused in found.reuses.items()})
    ranked = sorted(  # stable: equal scores keep the backend's order
        (
            (hit.score * ranking.reuse_boost(usage[hit.entry_id].count), hit.entry_id)
            for hit in found.hits
        ),
        key=lambda item: -item[0],
    )
    page_hits = ranked[offset : offset + limit]
    entries = (
        Entry.objects.visible_to(user)
        .filter(pk__in=[entry_id for _, entry_id in page_hits])
        .in_bulk()
    )
    tags = _tags_of(list(entries))
    terms = parsed.all_terms | found.searched  # mark completions, corrections, synonyms too
    results = [
        SearchResult(
            entry=entries[entry_id],
            score=score,
            question_html=highlight(entries[entry_id].question, terms),
            snippet_html=snippet(entries[entry_id].answer_text, terms),
            tags=tags.get(entry_id, []),
            usage=usage[entry_id],
        )
        for score, entry_id in page_hits
        if entry_id in entries
    ]
    return SearchResults(
        query=parsed,
        total=found.total,
        results=results,
        took_ms=(time.perf_counter() - started) * 1000,
        tag_counts=tag_counts,
        include_archived=include_archived,
        corrections=found.corrections,
    )


def _tags_of(entry_ids: list[int]) -> dict[int, list[str]]:
    """Tag names per entry, in one query (a taggit prefetch builds a queryset per entry)."""
    names: dict[int, list[str]] = {}
    rows = TaggedEntry.objects.filter(content_object_id__in=entry_ids).values_list(
        "content_object_id", "tag__name"
    )
    for entry_id, name in rows.order_by("tag__name"):
        names.setdefault(entry_id, []).append(name)
    return names


def _tag_counts(entry_ids: list[int]) -> list[tuple[str, int]]:
    rows = (
        TaggedEntry.objects.filter(content_object_id__in=entry_ids)
        .values_list("tag__name")
        .annotate(count=Count("id"))
        .order_by("-count", "tag__name")[:FACET_LIMIT]
    )
    return list(rows)


def close_matches(found: SearchResults) -> list[SearchResult]:
    """The results sharing at least half of the searched words.

    Search ranks any entry that shares one word with the query, which is right for a
    rep hunting an answer but reads as noise under "Already answered? These look close".
    """
    terms = frozenset(found.query.terms)
    need = max(1, math.ceil(len(terms) / 2))
    close = []
    for result in found.results:
        entry = result.entry
        text = "\n".join([entry.question, entry.also_asked, entry.answer_text])
        if len({token.stem for token in matching_tokens(text, terms)}) >= need:
            close.append(result)
    return close
