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
from datetime import timedelta
from functools import cache
from itertools import islice

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.safestring import SafeString

from kb.models import Entry, IndexBacklog, TaggedEntry
from kb.reports import Usage, reuse_stats
from kb.search import fallback, health, ranking, synonyms
from kb.search.backends import SearchBackend, Visibility
from kb.search.documents import entry_document
from kb.search.highlight import highlight, snippet
from kb.search.query import ParsedQuery, parse_query
from kb.search.text import matching_tokens

logger = logging.getLogger(__name__)
# Backlog rows whose indexing failed in this process: caught up without waiting.
_failed_rows: set[int] = set()

INDEX_BATCH = 2_000
BACKLOG_BATCH = 500  # backlog rows read, indexed and dropped at a time
# A backlog row younger than this may be a save another process is still indexing
# (waiting for the lock up to whoosh_backend.WRITE_DEADLINE, 10 s); catching one up
# early only indexes it twice.
BACKLOG_GRACE = timedelta(seconds=15)
CHECK_INTERVAL = 30.0  # seconds between one process's checks of the backlog while searching
REPAIR_RETRY = 60.0  # seconds before a process tries another rebuild after one
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
    """Close the backend so the next call opens it afresh (tests, after settings change),
    and forget what this process knew about its health."""
    global _next_check, _backlog_stale, _next_repair
    health.forget()
    if get_backend.cache_info().currsize:
        get_backend().close()
    get_backend.cache_clear()
    _failed_rows.clear()
    _next_check = _next_repair = 0.0
    _backlog_stale = False


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
    savepoint keeps the transaction usable). The entries are queued in the index
    backlog in the same transaction (Whoosh: always, until the index has them;
    PostgreSQL: when indexing failed), so nothing is lost if the index is broken or the
    process dies before indexing: ``catch_up`` indexes them later.
    """
    entry_ids = list(entry_ids)
    if (deferred := _deferred.get()) is not None:
        deferred.append((entry_ids, new))
        return
    if getattr(get_backend(), "transactional", False):
        _index_in_transaction(entry_ids, new=new)
        return
    rows = _queue(entry_ids)
    transaction.on_commit(lambda: _index_committed(entry_ids, new=new, rows=rows), robust=True)


def _queue(entry_ids: list[int]) -> list[int]:
    """Backlog rows for these entries, written in the caller's transaction."""
    now = timezone.now()
    queued = IndexBacklog.objects.bulk_create(
        [IndexBacklog(entry_id=pk, queued_at=now) for pk in entry_ids], batch_size=BACKLOG_BATCH
    )
    return [row.pk for row in queued]


def _settle(rows: Iterable[int]) -> None:
    """The index holds what these backlog rows asked for: drop them."""
    rows = list(rows)
    try:
        for batch in _batched(iter(rows), BACKLOG_BATCH):
            IndexBacklog.objects.filter(pk__in=batch).delete()
    except Exception as error:  # left in place, they are indexed once more: harmless
        logger.warning("Could not clear %d index backlog rows (%s).", len(rows), error)
        return
    _failed_rows.difference_update(rows)


def _index_committed(entry_ids: list[int], *, new: bool, rows: list[int]) -> None:
    # New entries are added without the lookup an update makes (saved to searchable is
    # what a rep waits for). A rebuild that ran between the commit and now may hold one
    # already: search still shows each entry once; rebuild_index tidies up.
    try:
        index_entries(entry_ids, new=new)
    except Exception as error:
        _failed_rows.update(rows)
        _write_failed(entry_ids, error)
        return
    _settle(rows)
    _write_worked()
    try:
        catch_up()
    except Exception as error:
        _write_failed([], error)


def _index_in_transaction(entry_ids: list[int], *, new: bool) -> None:
    try:
        with transaction.atomic():
            index_entries(entry_ids, new=new)
    except Exception as error:
        _failed_rows.update(_queue(entry_ids))
        _write_failed(entry_ids, error)
    else:
        _write_worked()


def _write_failed(entry_ids: list[int], error: Exception) -> None:
    health.fault(
        "write",
        "Search index write failed (%s: %s), entries %s saved but not yet indexed; they stay"
        " in the index backlog and are indexed as soon as the index works again"
        " (`manage.py rebuild_index` repairs it too). Further failures are not logged.",
        type(error).__name__,
        error,
        entry_ids[:20],
        exc_info=True,
    )
    _repair_if_unreadable()


def _write_worked() -> None:
    health.recovered("write", "Search index writes work again; catching up the backlog.")


def catch_up(*, limit: int = BACKLOG_BATCH) -> int:
    """Index the entries waiting in the backlog: those whose indexing failed in this
    process, and those queued long enough ago (``BACKLOG_GRACE``) that the process that
    saved them would have indexed them by now (it died or its write failed). Returns
    how many entries were indexed.

    The rows are read before the entries, so each row dropped afterwards stands for a
    save the index now holds; a save committed meanwhile keeps its row.
    """
    failed = set(list(_failed_rows.copy())[:limit])  # copy(): another thread may add
    stale = Q(queued_at__lt=timezone.now() - BACKLOG_GRACE) | Q(pk__in=failed)
    rows = list(
        IndexBacklog.objects.filter(stale).order_by("pk").values_list("pk", "entry_id")[:limit]
    )
    # Rows of a transaction that rolled back never existed: nothing to wait for.
    _failed_rows.difference_update(failed - {pk for pk, _ in rows})
    if not rows:
        return 0
    entry_ids = sorted({entry_id for _, entry_id in rows})
    backend = get_backend()
    with transaction.atomic() if getattr(backend, "transactional", False) else nullcontext():
        index_entries(entry_ids)
    _settle(pk for pk, _ in rows)
    logger.info("Search index caught up %d entries from the backlog.", len(entry_ids))
    return len(entry_ids)


def backlog_waiting() -> bool:
    """Whether saves may be missing from the index (cheap: one indexed query)."""
    if _failed_rows:
        return True
    return IndexBacklog.objects.filter(queued_at__lt=timezone.now() - BACKLOG_GRACE).exists()


_next_check = 0.0  # time.monotonic() of this process's next look at the backlog
_backlog_stale = False  # what that look found


def _backlog_known() -> bool:
    return bool(_failed_rows) or _backlog_stale


def _check_now_and_then() -> None:
    """Every CHECK_INTERVAL seconds (at once after a failed write here), see whether the
    index misses saves (backlog rows) or whole entries (fewer documents than entries: an
    index folder that was recreated, or never built, and then written to), and repair in
    the background: a search never waits for an index write."""
    global _next_check, _backlog_stale
    now = time.monotonic()
    if now < _next_check and not _failed_rows:
        return
    _next_check = now + CHECK_INTERVAL
    try:
        _backlog_stale = backlog_waiting()
        short = not _backlog_stale and _index_short()
    except Exception:
        return
    if _backlog_stale or short:
        health.in_background(_catch_up_and_verify)


def _index_short() -> bool:
    """Whether the index holds fewer documents than the database has entries not waiting
    in the backlog (read in this order, so a save committing meanwhile is not counted
    short unless it is also indexed by the time the index is counted)."""
    queued = IndexBacklog.objects.count()
    entries = Entry.objects.count()
    return get_backend().document_count() < entries - queued


def _catch_up_and_verify() -> None:
    """Catch up the backlog; if the index still holds fewer entries than the database,
    rebuild it (the missing ones left no backlog row: the index lost them)."""
    global _backlog_stale, _next_repair
    try:
        while catch_up():
            pass
        _backlog_stale = False
        short = _index_short()
    except Exception as error:
        _write_failed([], error)
        return
    _write_worked()
    if short and time.monotonic() >= _next_repair:
        _next_repair = time.monotonic() + REPAIR_RETRY
        logger.warning("Search index holds fewer entries than the database; rebuilding it.")
        _repair()


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


def rebuild(*, progress=None, wait: bool = True) -> int | None:
    """Rebuild the whole index from the database. Returns the number of entries indexed,
    or None when another process is rebuilding and ``wait`` is False.

    Repairs an index in any state (missing, corrupt, locked by a dead process) and empties
    the backlog rows read before it started. A ``transactional`` backend rebuilds in one
    transaction: searches keep finding the old index until the new one is complete.
    """
    global _backlog_stale
    backend = get_backend()
    with backend.rebuild_guard(wait=wait) as allowed:
        if not allowed:
            return None
        rows = list(IndexBacklog.objects.values_list("pk", flat=True))
        transactional = getattr(backend, "transactional", False)
        with transaction.atomic() if transactional else nullcontext():
            backend.clear()
            ids = Entry.objects.order_by("pk").values_list("pk", flat=True)
            count = index_entries(ids.iterator(), new=True, progress=progress)
    _settle(rows)
    _backlog_stale = False
    health.recovered("search", "Search index readable again; searching it again.")
    _write_worked()
    return count


_next_repair = 0.0  # time.monotonic() before which no new repair starts here


def schedule_repair() -> bool:
    """Rebuild the index from the database in a background thread, unless one is running
    or was tried less than REPAIR_RETRY seconds ago. Meanwhile searches use the database."""
    global _next_repair
    now = time.monotonic()
    if now < _next_repair or health.repairing():
        return False
    _next_repair = now + REPAIR_RETRY
    return health.in_background(_repair, repair=True)


def _repair() -> None:
    try:
        count = rebuild(wait=False)
    except Exception as error:
        health.fault(
            "repair",
            "Rebuilding the search index failed (%s: %s); searches use the database"
            " until `manage.py rebuild_index` succeeds.",
            type(error).__name__,
            error,
            exc_info=True,
        )
        return
    if count is not None:
        health.recovered("repair", "Search index rebuild works again.")
        logger.warning("Search index rebuilt from the database: %d entries.", count)


def _repair_if_unreadable() -> None:
    if health.repairing():
        return
    try:
        readable = get_backend().readable()
    except Exception:
        readable = False
    if not readable:
        schedule_repair()


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
    # True when the index could not answer (the database did) or is known to miss saves:
    # the page and the API say the results may be incomplete.
    incomplete: bool = False

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
    found = _search_index(parsed, visibility=visibility, depth=depth, exact=exact)
    incomplete = found is None or _backlog_known()
    if found is None:  # the index cannot answer: the database does, more simply
        found = fallback.database_search(parsed, visibility=visibility, limit=depth)
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
        incomplete=incomplete,
    )


def _search_index(parsed: ParsedQuery, *, visibility: Visibility, depth: int, exact: bool):
    """The backend's answer, or None when the index is unreadable or missing (then a
    repair is scheduled and the fault logged once)."""
    backend = get_backend()
    # Inside a transaction a failed query would spoil it for the fallback: a savepoint.
    guard = transaction.atomic() if connection.in_atomic_block else nullcontext()
    try:
        with guard:
            found = backend.search(
                parsed, visibility=visibility, limit=depth, offset=0, exact=exact
            )
            # While a command defers its indexing the index is behind on purpose.
            checking = _deferred.get() is None
            missing = checking and not found.total and backend.is_empty() and Entry.objects.exists()
    except Exception as error:
        health.fault(
            "search",
            "Search index unreadable (%s: %s); searching the database instead (results may"
            " be incomplete) until it is repaired. Further failures are not logged.",
            type(error).__name__,
            error,
            exc_info=True,
        )
        _repair_if_unreadable()
        return None
    if missing:
        health.fault(
            "search",
            "Search index is empty but the database holds entries (its folder was deleted,"
            " or it was never built); searching the database and rebuilding the index.",
        )
        schedule_repair()
        return None
    health.recovered("search", "Search index readable again; searching it again.")
    if checking:
        _check_now_and_then()
    return found


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
