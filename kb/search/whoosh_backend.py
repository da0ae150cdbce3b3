"""The embedded search backend: a Whoosh index in a folder on this machine's disk.

The index is opened once per process. Each thread keeps its own searcher and refreshes
it only when another writer committed a new generation, so a search never reopens the
index. Writers take Whoosh's lock with a timeout and retry the whole batch, so two
processes writing at once both land instead of one raising ``LockError``.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from multiprocessing import util as multiprocessing_util
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh import query as q
from whoosh.fields import DATETIME, ID, KEYWORD, NUMERIC, TEXT, Schema
from whoosh.filedb.filestore import FileStorage
from whoosh.index import LockError
from whoosh.scoring import BM25F
from whoosh.util.filelock import try_for
from whoosh.writing import SegmentWriter

from kb.search import ranking
from kb.search.backends import BackendResult, Hit, IndexBusy, Visibility
from kb.search.documents import EntryDocument
from kb.search.query import ParsedQuery
from kb.search.text import analyzer, pair_analyzer, pairs, spelling_analyzer, stems
from kb.search.whoosh_engine import Filters, SegmentCache, WeightedTerm, rank

logger = logging.getLogger(__name__)

# Bump when build_schema() changes: an index of another version is replaced by an empty
# one, which `rebuild_index --if-empty` (run by `make run`) then fills from the database.
SCHEMA_VERSION = "7"
TEXT_FIELDS = ("question", "also_asked", "body")
# Wait up to LOCK_WAIT seconds for another writer, retry until WRITE_DEADLINE: well
# under gunicorn's 30 s request timeout, so a save whose indexing cannot get the lock
# still answers (its entry stays in the index backlog, caught up later).
LOCK_WAIT = 2.0
WRITE_DEADLINE = 10.0
# Files in the index folder that a rebuild must not delete: other processes may hold them.
LOCK_FILES = ("MAIN_WRITELOCK", "CREATE", "floorbook-rebuild.lock")
# Batches larger than this get a bigger in-memory posting pool, so they do not spill
# sorted runs to temporary files.
# Bulk loads (imports, rebuilds) analyse documents in parallel and keep postings in memory.
BULK_WRITER = {"limitmb": 256, "procs": min(2, os.cpu_count() or 1), "multisegment": True}


PR_SET_PDEATHSIG = 1  # Linux prctl(2): a signal for this process when its parent dies


class _BulkWriterChildren:
    """Registered with multiprocessing, so that every process it forks (the bulk
    writer's analysing processes) runs ``_die_with_parent`` first."""


def _die_with_parent(_registration: _BulkWriterChildren) -> None:
    """A bulk writer's analysing processes inherit the index's write lock. Were the
    writer killed (OOM, SIGKILL), they would wait for work forever, holding the lock,
    and no save could be indexed again: have the kernel end them with their parent."""
    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # it died before prctl
        os._exit(1)


_CHILDREN = _BulkWriterChildren()
multiprocessing_util.register_after_fork(_CHILDREN, _die_with_parent)


def build_schema() -> Schema:
    return Schema(
        id=NUMERIC(int, bits=64, stored=True, unique=True, signed=False, sortable=True),
        question=TEXT(analyzer=analyzer()),
        question_pairs=TEXT(analyzer=pair_analyzer(), phrase=False),
        also_asked=TEXT(analyzer=analyzer()),
        spelling=TEXT(analyzer=spelling_analyzer(), phrase=False),
        body=TEXT(analyzer=analyzer()),
        tags=KEYWORD(commas=True, lowercase=True, scorable=False),
        state=ID(),
        author_id=ID(),
        updated_at=DATETIME(sortable=True),
    )


class WhooshBackend:
    transactional = False  # indexed after the write commits (kb.search.service)

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._index = None
        self._open_lock = threading.Lock()
        self._local = threading.local()
        self._cache = SegmentCache()
        self._corrections: dict[str, str | None] = {}
        self._corrections_for: tuple[str, ...] = ()

    # -- index lifecycle ------------------------------------------------------------

    @property
    def ix(self):
        if self._index is None:
            with self._open_lock:
                if self._index is None:
                    self._index = self._open_or_create()
        return self._index

    def _open_or_create(self):
        """Open the index, creating it if missing.

        Creation holds a file lock and checks again inside it, so two processes
        starting on an empty folder cannot both create (and wipe each other's writes).
        """
        self.path.mkdir(parents=True, exist_ok=True)
        version_file = self.path / "floorbook-schema-version"
        current = version_file.read_text().strip() if version_file.exists() else None
        if whoosh_index.exists_in(str(self.path)) and current != SCHEMA_VERSION:
            logger.warning("Search index schema changed; recreating it (run rebuild_index).")
            whoosh_index.create_in(str(self.path), build_schema())
            version_file.write_text(SCHEMA_VERSION)
        if not whoosh_index.exists_in(str(self.path)):
            create_lock = FileStorage(str(self.path)).lock("CREATE")
            if not create_lock.acquire(blocking=True):
                raise LockError("Could not lock the search index folder to create it.")
            try:
                if not whoosh_index.exists_in(str(self.path)):
                    whoosh_index.create_in(str(self.path), build_schema())
                    version_file.write_text(SCHEMA_VERSION)
            finally:
                create_lock.release()
        return whoosh_index.open_dir(str(self.path))

    def _folder(self) -> int | None:
        """The index folder's identity: a folder deleted and made anew is another index,
        whatever generation number its files start again from."""
        try:
            return os.stat(self.path).st_ino
        except OSError:
            return None

    def _searcher(self):
        searcher = getattr(self._local, "searcher", None)
        folder = self._folder()
        if searcher is None:
            searcher = self.ix.searcher(weighting=BM25F())
        elif folder is None or folder != self._local.folder or not searcher.up_to_date():
            # Not ``searcher.refresh()``: in whoosh-reloaded 2.7.5 a refreshed reader keeps
            # the old segments (replaced and deleted documents come back) and fails on an
            # empty index, so a stale searcher is replaced by a new one. It is forgotten
            # before the new one opens: if that fails (the index is gone), the next
            # search must not reuse a closed one.
            searcher.close()
            self._local.searcher = None
            searcher = self.ix.searcher(weighting=BM25F())
        self._local.searcher, self._local.folder = searcher, folder
        return searcher

    def close(self) -> None:
        searcher = getattr(self._local, "searcher", None)
        if searcher is not None:
            searcher.close()
            self._local.searcher = None
        if self._index is not None:
            self._index.close()
            self._index = None

    # -- writes ---------------------------------------------------------------------

    def _write(self, work: Callable[[SegmentWriter], None], *, bulk: bool = False) -> None:
        """Run ``work`` in one writer and commit, retrying from the start on LockError."""
        deadline = time.monotonic() + WRITE_DEADLINE
        attempt = 0
        options = dict(BULK_WRITER) if bulk else {}
        if bulk and threading.current_thread() is not threading.main_thread():
            # A repair in a server's background thread: no worker processes forked from
            # a threaded process (a lock another thread holds would stay held in them).
            options = {"limitmb": BULK_WRITER["limitmb"]}
        while True:
            try:
                writer = self.ix.writer(timeout=LOCK_WAIT, **options)
            except LockError:
                attempt += 1
                if time.monotonic() > deadline:
                    raise
                logger.info("search index locked by another writer; retry %d", attempt)
                continue
            try:
                work(writer)
                writer.commit(optimize=bulk)
            except BaseException:
                writer.cancel()
                raise
            return

    def index_documents(
        self, documents: Iterable[EntryDocument], *, new: bool = False, bulk: bool = False
    ) -> int:
        """Add or replace documents in one commit.

        ``new=True`` promises none is indexed yet, which saves a lookup each.
        ``bulk=True`` (imports, rebuilds) streams them through a parallel writer with a
        large memory pool and leaves one optimised segment, the fastest to search.
        """
        count = 0

        def work(writer):
            nonlocal count
            write = writer.add_document if new else writer.update_document
            for document in documents:
                write(
                    id=document.id,
                    question=document.question,
                    question_pairs=f"{document.question}\n{document.also_asked}",
                    also_asked=document.also_asked,
                    spelling=f"{document.question}\n{document.also_asked}\n{document.body}",
                    body=document.body,
                    tags=",".join(document.tags),
                    state=document.state,
                    author_id=str(document.author_id or ""),
                    updated_at=document.updated_at,
                )
                count += 1

        self._write(work, bulk=bulk)
        return count

    def remove(self, entry_ids: Iterable[int]) -> None:
        ids = list(entry_ids)

        def work(writer):
            for entry_id in ids:
                writer.delete_by_term("id", entry_id)

        if ids:
            self._write(work)

    def clear(self) -> None:
        """Replace the index with an empty one (a full rebuild), whatever state its files
        are in: missing, corrupt or half-written. Holds the write lock meanwhile, so no
        other process commits into the folder while it is emptied."""
        self.close()
        self.path.mkdir(parents=True, exist_ok=True)
        lock = FileStorage(str(self.path)).lock("MAIN_WRITELOCK")
        if not try_for(lambda: lock.acquire(blocking=False), timeout=WRITE_DEADLINE):
            raise IndexBusy(
                f"another process has held the search index's write lock ({self.path}"
                f"/MAIN_WRITELOCK) for over {WRITE_DEADLINE:.0f} s; stop it (a writer"
                " that hangs) and try again"
            )
        try:
            for child in self.path.iterdir():
                if child.is_file() and child.name not in LOCK_FILES:
                    child.unlink(missing_ok=True)
            whoosh_index.create_in(str(self.path), build_schema())
            (self.path / "floorbook-schema-version").write_text(SCHEMA_VERSION)
        finally:
            lock.release()

    @contextmanager
    def rebuild_guard(self, *, wait: bool) -> Iterator[bool]:
        """One rebuild at a time across processes: while one runs, the index looks empty
        to the others, and they must not start their own. Yields whether this process
        may rebuild (``wait=False`` does not wait for another rebuild to finish)."""
        self.path.mkdir(parents=True, exist_ok=True)
        lock = FileStorage(str(self.path)).lock("floorbook-rebuild.lock")
        acquired = lock.acquire(blocking=wait)
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()

    def readable(self) -> bool:
        """Whether the index on disk opens and its segments read, looked at afresh (not
        through this process's open copy, which may predate a fault)."""
        try:
            ix = whoosh_index.open_dir(str(self.path))
            try:
                with ix.reader() as reader:
                    reader.doc_count_all()
                    for name in TEXT_FIELDS:
                        reader.field_length(name)
            finally:
                ix.close()
        except Exception:
            return False
        return True

    def is_empty(self) -> bool:
        return self.document_count() == 0

    def document_count(self) -> int:
        return self._searcher().doc_count()

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
        searcher = self._searcher()
        filters = self._filters(searcher, query, visibility)
        if query.is_empty:
            return self._browse(searcher, filters, limit=limit, offset=offset)
        terms, corrections = self._expand(searcher.reader(), query, exact=exact)
        terms += [
            WeightedTerm(pair, field="question_pairs", coordinate=False)
            for pair in dict.fromkeys(pairs(query.sequence))
        ]
        known = {t.stem for t in terms}
        terms += [
            WeightedTerm(stem, group=len(terms) + i)
            for i, stem in enumerate(dict.fromkeys(s for p in query.phrases for s in p))
            if stem not in known
        ]
        ranked = rank(
            searcher, self._cache, terms, fields=TEXT_FIELDS, filters=filters, limit=offset + limit
        )
        hits = [Hit(entry_id=i, score=score) for i, score in ranked.hits[offset:]]
        searched = frozenset(t.stem for t in terms if t.field is None)
        return BackendResult(
            total=ranked.total, hits=hits, corrections=corrections, searched=searched
        )

    def _expand(
        self, reader, query: ParsedQuery, *, exact: bool
    ) -> tuple[list[WeightedTerm], dict[str, str]]:
        """The typed words, plus completions of an unfinished last word and, unless
        ``exact``, the closest known spelling of words the index has never seen."""
        terms: list[WeightedTerm] = []
        corrections: dict[str, str] = {}
        for group, word in enumerate(query.words):
            terms.append(WeightedTerm(word.stem, group=group))
            terms += [
                WeightedTerm(s, weight=ranking.SYNONYM_WEIGHT, group=group)
                for s in query.synonyms.get(word.stem, ())
            ]
            unfinished = query.open_ended and word.stem == query.sequence[-1]
            completions = []
            if unfinished and len(word.typed) >= MIN_PREFIX:
                completions = _completions(reader, word.typed)
                terms += [
                    WeightedTerm(s, weight=ranking.PREFIX_WEIGHT, group=group)
                    for completion in completions
                    for s in stems(completion)
                    if s != word.stem
                ]
            known = completions or any(reader.doc_frequency(f, word.stem) for f in TEXT_FIELDS)
            if not exact and not known:
                correction = self._correction(reader, word.typed)
                if correction:
                    corrections[word.typed] = correction
                    terms += [
                        WeightedTerm(s, weight=ranking.CORRECTED_WEIGHT, group=group)
                        for s in stems(correction)
                    ]
        return terms, corrections

    def _correction(self, reader, typed: str) -> str | None:
        """``_closest_spelling``, remembered until the index's segments change: looking
        a word up in Whoosh's Levenshtein automaton takes ~20 ms in Python."""
        if not reader.doc_count_all():
            return None
        segments = tuple(sorted(leaf.segment().segment_id() for leaf, _ in reader.leaf_readers()))
        if self._corrections_for != segments:
            self._corrections_for, self._corrections = segments, {}
        if typed not in self._corrections:
            if len(self._corrections) >= CORRECTION_CACHE_SIZE:
                self._corrections.clear()
            self._corrections[typed] = _closest_spelling(reader, typed)
        return self._corrections[typed]

    def _filters(self, searcher, query: ParsedQuery, visibility: Visibility) -> Filters:
        mine = ("author_id", str(visibility.user_id)) if visibility.user_id is not None else None
        excluded = [(("state", "draft"), mine)]
        if not visibility.include_archived:
            excluded.append((("state", "archived"), None))
        allowed = None
        if query.phrases:
            phrases = q.And(
                [q.Or([q.Phrase(field, stems) for field in TEXT_FIELDS]) for stems in query.phrases]
            )
            allowed = frozenset(searcher.docs_for_query(phrases))
        return Filters(
            required=tuple(("tags", tag) for tag in query.tags),
            excluded=tuple(excluded),
            boosts=tuple((("state", s), m) for s, m in ranking.STATE_BOOST.items()),
            allowed=allowed,
        )

    def _browse(self, searcher, filters: Filters, *, limit: int, offset: int) -> BackendResult:
        """No words, only tag filters: every matching entry, most recently updated first."""
        conditions = [q.Term(*term) for term in filters.required] or [q.Every()]
        results = searcher.search(
            q.And(conditions),
            sortedby="updated_at",
            reverse=True,
            scored=False,
            limit=None,
            mask=self._hidden(searcher, filters),
            # An entry a rebuild indexed while its save was indexed is there twice.
            collapse="id",
            collapse_limit=1,
        )
        hits = [Hit(entry_id=hit["id"], score=0.0) for hit in results[offset : offset + limit]]
        return BackendResult(total=len(results), hits=hits)

    @staticmethod
    def _hidden(searcher, filters: Filters) -> set[int]:
        hidden: set[int] = set()
        for term, unless in filters.excluded:
            docs = set(searcher.docs_for_query(q.Term(*term)))
            if unless is not None:
                docs -= set(searcher.docs_for_query(q.Term(*unless)))
            hidden |= docs
        return hidden


MIN_PREFIX = 2  # letters typed before the unfinished word is completed
MAX_COMPLETIONS = 8
COMPLETION_SCAN = 400  # dictionary terms looked at for one prefix, at most
MIN_CORRECTABLE = 4  # shorter unknown words are left alone (codes, abbreviations)
CORRECTION_CACHE_SIZE = 10_000


def _completions(reader, prefix: str) -> list[str]:
    """The most used words starting with ``prefix`` ("pass" -> "password")."""
    candidates = []
    for raw in itertools.islice(reader.expand_prefix("spelling", prefix), COMPLETION_SCAN):
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        if text != prefix:
            candidates.append((reader.doc_frequency("spelling", text), text))
    return [text for _, text in heapq.nlargest(MAX_COMPLETIONS, candidates)]


def _closest_spelling(reader, typed: str) -> str | None:
    """The most used known word one edit away (two for long words), if any."""
    if len(typed) < MIN_CORRECTABLE or not typed.isalpha():
        return None
    for distance in (1, 2) if len(typed) > 6 else (1,):
        candidates = [
            (reader.doc_frequency("spelling", word), word)
            for word in reader.terms_within("spelling", typed, distance, prefix=1)
            if word != typed
        ]
        if candidates:
            return max(candidates)[1]
    return None
