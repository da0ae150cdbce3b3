"""The embedded search backend: a Whoosh index in a folder on this machine's disk.

The index is opened once per process. Each thread keeps its own searcher and refreshes
it only when another writer committed a new generation, so a search never reopens the
index. Writers take Whoosh's lock with a timeout and retry the whole batch, so two
processes writing at once both land instead of one raising ``LockError``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh import query as q
from whoosh.fields import DATETIME, ID, KEYWORD, NUMERIC, TEXT, Schema
from whoosh.filedb.filestore import FileStorage
from whoosh.index import LockError
from whoosh.scoring import BM25F
from whoosh.writing import SegmentWriter

from kb.search.backends import BackendResult, Hit, Visibility
from kb.search.documents import EntryDocument
from kb.search.query import ParsedQuery
from kb.search.text import analyzer

logger = logging.getLogger(__name__)

QUESTION_BOOST = 2.5
# Wait up to LOCK_WAIT seconds for another writer, retry until WRITE_DEADLINE.
LOCK_WAIT = 2.0
WRITE_DEADLINE = 60.0
# Batches larger than this get a bigger in-memory posting pool, so they do not spill
# sorted runs to temporary files.
# Bulk loads (imports, rebuilds) analyse documents in parallel and keep postings in memory.
BULK_WRITER = {"limitmb": 256, "procs": min(2, os.cpu_count() or 1), "multisegment": True}


def build_schema() -> Schema:
    return Schema(
        id=NUMERIC(int, bits=64, stored=True, unique=True, signed=False),
        question=TEXT(analyzer=analyzer(), field_boost=QUESTION_BOOST),
        body=TEXT(analyzer=analyzer()),
        tags=KEYWORD(commas=True, lowercase=True, scorable=False),
        state=ID(),
        author_id=ID(),
        updated_at=DATETIME(sortable=True),
    )


class WhooshBackend:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._index = None
        self._open_lock = threading.Lock()
        self._local = threading.local()

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
        if not whoosh_index.exists_in(str(self.path)):
            create_lock = FileStorage(str(self.path)).lock("CREATE")
            if not create_lock.acquire(blocking=True):
                raise LockError("Could not lock the search index folder to create it.")
            try:
                if not whoosh_index.exists_in(str(self.path)):
                    whoosh_index.create_in(str(self.path), build_schema())
            finally:
                create_lock.release()
        return whoosh_index.open_dir(str(self.path))

    def _searcher(self):
        searcher = getattr(self._local, "searcher", None)
        if searcher is None:
            searcher = self.ix.searcher(weighting=BM25F())
        elif not searcher.up_to_date():
            # Not ``searcher.refresh()``: in whoosh-reloaded 2.7.5 a refreshed reader keeps
            # the old segments (replaced and deleted documents come back) and fails on an
            # empty index, so a stale searcher is replaced by a new one.
            searcher.close()
            searcher = self.ix.searcher(weighting=BM25F())
        self._local.searcher = searcher
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
        while True:
            try:
                writer = self.ix.writer(timeout=LOCK_WAIT, **(BULK_WRITER if bulk else {}))
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
        """Replace the index with an empty one (used by a full rebuild)."""
        self.close()
        self.path.mkdir(parents=True, exist_ok=True)
        whoosh_index.create_in(str(self.path), build_schema())

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
    ) -> BackendResult:
        searcher = self._searcher()
        options = {
            "filter": self._filter(query),
            "mask": self._hidden(searcher, visibility),
            "limit": offset + limit,
        }
        if query.is_empty:
            results = searcher.search(
                q.Every(), sortedby="updated_at", reverse=True, scored=False, **options
            )
        else:
            results = searcher.search(self._all_words(query), **options)
            if results.is_empty() and len(query.terms) > 1:
                results = searcher.search(self._any_word(query), **options)
        hits = [Hit(entry_id=hit["id"], score=hit.score or 0.0) for hit in results[offset:]]
        return BackendResult(total=len(results), hits=hits)

    def _hidden(self, searcher, visibility: Visibility) -> set[int]:
        """Document numbers this person must not see: others' drafts, and archived ones.

        Built from the short posting lists of drafts and archived entries (cached per
        index generation), never by walking every document as ``Not(...)`` would.
        """
        generation = searcher.ixreader.generation()
        cached = getattr(self._local, "hidden", None)
        if cached is None or cached[0] != generation:
            drafts = set(searcher.docs_for_query(q.Term("state", "draft")))
            archived = set(searcher.docs_for_query(q.Term("state", "archived")))
            cached = self._local.hidden = (generation, drafts, archived)
        _, drafts, archived = cached
        hidden = set(drafts)
        if drafts and visibility.user_id is not None:
            mine = q.And([q.Term("state", "draft"), q.Term("author_id", str(visibility.user_id))])
            hidden -= set(searcher.docs_for_query(mine))
        if not visibility.include_archived:
            hidden |= archived
        return hidden

    @staticmethod
    def _term(stem: str) -> q.Query:
        return q.Or([q.Term("question", stem), q.Term("body", stem)])

    @staticmethod
    def _phrase(stems: list[str]) -> q.Query:
        return q.Or([q.Phrase("question", stems), q.Phrase("body", stems)])

    def _all_words(self, query: ParsedQuery) -> q.Query:
        parts = [self._term(t) for t in query.terms] + [self._phrase(p) for p in query.phrases]
        return q.And(parts)

    def _any_word(self, query: ParsedQuery) -> q.Query:
        words = q.Or([self._term(t) for t in query.terms])
        if query.phrases:
            return q.And([words, *(self._phrase(p) for p in query.phrases)])
        return words

    @staticmethod
    def _filter(query: ParsedQuery) -> q.Query | None:
        if not query.tags:
            return None
        return q.And([q.Term("tags", tag) for tag in query.tags])
