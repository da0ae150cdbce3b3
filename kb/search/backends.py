"""The contract every search backend keeps."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from kb.search.documents import EntryDocument
from kb.search.query import ParsedQuery


class IndexBusy(Exception):
    """Another process holds the index and does not let go (a writer that hangs)."""


@dataclass(frozen=True)
class Hit:
    entry_id: int
    score: float


@dataclass(frozen=True)
class BackendResult:
    total: int
    hits: list[Hit]
    corrections: dict[str, str] = field(default_factory=dict)  # typed word -> searched as
    searched: frozenset[str] = frozenset()  # every stem searched for (completions, synonyms)
    # How often each hit helped on a call, and when last, when the backend read it with
    # the ranking (the PostgreSQL backend, in the same query); None: the service asks.
    reuses: dict[int, tuple[int, datetime | None]] | None = None


@dataclass(frozen=True)
class Visibility:
    """Who is searching and what they may see."""

    user_id: int | None
    include_archived: bool = False


class SearchBackend(Protocol):
    # True when the index lives in the database: writes then index inside their own
    # transaction instead of after the commit (kb.search.service.index_after_commit).
    transactional: bool

    def index_documents(
        self, documents: Iterable[EntryDocument], *, new: bool = False, bulk: bool = False
    ) -> int: ...

    def remove(self, entry_ids: Iterable[int]) -> None: ...

    def search(
        self,
        query: ParsedQuery,
        *,
        visibility: Visibility,
        limit: int,
        offset: int,
        exact: bool = False,
    ) -> BackendResult: ...

    def clear(self) -> None: ...

    def document_count(self) -> int: ...

    def is_empty(self) -> bool: ...

    def readable(self) -> bool:
        """Whether the index can be read at all; False means it must be rebuilt."""
        ...

    def rebuild_guard(self, *, wait: bool) -> AbstractContextManager[bool]:
        """Yields whether this process may rebuild now (one rebuild at a time)."""
        ...

    def close(self) -> None: ...
