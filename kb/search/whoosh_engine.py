"""Vectorised scoring over a Whoosh index.

Whoosh stores the index (segments, posting lists, field lengths) and analyses text;
this module scores with numpy instead of Whoosh's matcher tree, which visits postings
one at a time in Python (about 1 us each: 50 ms for a ten-word question over 10,000
entries). Whoosh segments are immutable, so everything read from one is cached under
its segment id: decoded posting lists (in a bounded LRU), field lengths, the entry id of
each document. A new commit adds a small segment; only that one is read afresh.

The formula and its weights live in ``kb.search.ranking``.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from whoosh.util.numlists import delta_decode

from kb.search import ranking

POSTING_CACHE_LIMIT = 8_000_000  # postings kept decoded, across all segments (~64 MB)


@dataclass(frozen=True)
class WeightedTerm:
    """One word to look for: its stem and how much a match counts (1.0 = as typed)."""

    stem: str
    weight: float = ranking.EXACT_WEIGHT
    group: int = 0  # terms of one group (a word and its variants) count once for coordination
    field: str | None = None  # only this field (word pairs), else every text field
    coordinate: bool = True  # whether matching it counts as matching one of the words


class SegmentData:
    """What never changes in a segment: each document's entry id and field lengths.

    Lengths are read per field on first use: a one-word query needs no word pairs,
    and the next query may. They are read through the caller's reader of this segment,
    never the one the data was first made with: that one is closed once its searcher is
    replaced after another process commits (``ReaderClosed``).
    """

    def __init__(self, reader) -> None:
        self._lock = threading.Lock()
        count = reader.doc_count_all()
        self.entry_ids = np.fromiter(reader.column_reader("id"), dtype=np.int64, count=count)
        self._lengths: dict[str, np.ndarray] = {}

    def lengths(self, reader, field: str) -> np.ndarray:
        """``reader``: an open reader of this segment."""
        found = self._lengths.get(field)
        if found is None:
            count = len(self.entry_ids)
            found = np.fromiter(
                (reader.doc_field_length(n, field, 0) for n in range(count)),
                dtype=np.float32,
                count=count,
            )
            with self._lock:
                self._lengths[field] = found
        return found


class SegmentCache:
    """Arrays read from immutable segments, shared by every thread of the process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._segments: dict[str, SegmentData] = {}
        self._live: dict[str, tuple[int, np.ndarray]] = {}
        self._postings: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._posting_count = 0
        self._known_segments: frozenset[str] = frozenset()

    def forget_others(self, segment_ids: set[str]) -> None:
        """Drop what was read from segments no longer in the index (merged away)."""
        if segment_ids == self._known_segments:
            return
        with self._lock:
            self._known_segments = frozenset(segment_ids)
            for key in [k for k in self._segments if k not in segment_ids]:
                del self._segments[key]
                self._live.pop(key, None)
            for key in [k for k in self._postings if k[0] not in segment_ids]:
                self._posting_count -= len(self._postings.pop(key)[0])

    def segment(self, reader) -> SegmentData:
        segment_id = reader.segment().segment_id()
        data = self._segments.get(segment_id)
        if data is None:
            data = SegmentData(reader)
            with self._lock:
                self._segments[segment_id] = data
        return data

    def live(self, reader) -> np.ndarray:
        """Which documents of the segment are not deleted (an update deletes the old one)."""
        segment = reader.segment()
        segment_id, deleted_count = segment.segment_id(), segment.deleted_count()
        cached = self._live.get(segment_id)
        if cached is None or cached[0] != deleted_count:
            live = np.ones(reader.doc_count_all(), dtype=bool)
            if deleted_count:
                live[np.fromiter(segment.deleted_docs(), dtype=np.int64)] = False
            cached = self._live[segment_id] = (deleted_count, live)
        return cached[1]

    def postings(self, reader, field: str, stem: str) -> tuple[np.ndarray, np.ndarray]:
        key = (reader.segment().segment_id(), field, stem)
        with self._lock:
            cached = self._postings.get(key)
            if cached is not None:
                self._postings.move_to_end(key)
                return cached
        found = _read_postings(reader, field, stem)
        with self._lock:
            self._postings[key] = found
            self._posting_count += len(found[0])
            while self._posting_count > POSTING_CACHE_LIMIT and len(self._postings) > 1:
                _, (old_ids, _) = self._postings.popitem(last=False)
                self._posting_count -= len(old_ids)
        return found


def _read_postings(reader, field: str, stem: str) -> tuple[np.ndarray, np.ndarray]:
    """Document numbers and term frequencies of one posting list, block by block."""
    empty = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))
    if (field, stem) not in reader:
        return empty
    matcher = reader.postings(field, stem)
    ids: list[int] = []
    weights: list[float] = []
    if hasattr(matcher, "_read_ids") and hasattr(matcher, "_next_block"):
        # Whoosh 2.7's W3 codec: read whole blocks instead of one posting at a time.
        while True:
            if matcher._data is None:
                matcher._read_data()
            raw_ids = matcher._data[0]
            ids.extend(raw_ids if matcher._byteids else delta_decode(raw_ids))
            matcher._read_weights()
            weights.extend(matcher._weights)
            if matcher._lastblock:
                break
            matcher._next_block()
    else:  # any other codec: the public, slower interface
        while matcher.is_active():
            ids.append(matcher.id())
            weights.append(matcher.weight())
            matcher.next()
    return np.array(ids, dtype=np.int64), np.array(weights, dtype=np.float32)


@dataclass(frozen=True)
class Ranked:
    total: int
    hits: list[tuple[int, float]]  # (entry id, score), best first


Term = tuple[str, str]  # (field, indexed term)


@dataclass(frozen=True)
class Filters:
    """Which documents may be returned, as terms looked up in the same posting cache."""

    required: tuple[Term, ...] = ()  # every one must match (tag filters)
    excluded: tuple[tuple[Term, Term | None], ...] = ()  # (term, unless this one matches)
    boosts: tuple[tuple[Term, float], ...] = ()  # multiply the score where the term matches
    allowed: frozenset[int] | None = None  # global document numbers (phrase matches)


def rank(
    searcher,
    cache: SegmentCache,
    terms: list[WeightedTerm],
    *,
    fields: tuple[str, ...],
    filters: Filters,
    limit: int,
) -> Ranked:
    """Score every document matching at least one term; return the top ``limit``."""
    reader = searcher.ixreader
    if not reader.doc_count_all():
        return Ranked(total=0, hits=[])
    total_docs = max(reader.doc_count(), 1)
    placements = [
        (term, field) for term in terms for field in ([term.field] if term.field else fields)
    ]
    average = {f: (reader.field_length(f) / total_docs) or 1.0 for _, f in placements}
    idf = {(t.stem, f): _idf(reader.doc_frequency(f, t.stem), total_docs) for t, f in placements}
    # Coordination counts each word group by its rarest field's idf: matching "refund"
    # matters more than matching "my".
    group_weight: dict[int, float] = {}
    for term, field in placements:
        if term.coordinate:
            group_weight[term.group] = max(
                group_weight.get(term.group, 0.0), idf[(term.stem, field)]
            )
    group_index = {g: i for i, g in enumerate(sorted(group_weight))}
    weights = np.array([group_weight[g] for g in sorted(group_weight)], dtype=np.float32)
    coordinate = len(group_index) > 1 and ranking.COORDINATION and weights.sum() > 0
    leaves = reader.leaf_readers()
    cache.forget_others({leaf.segment().segment_id() for leaf, _ in leaves})
    candidates: list[tuple[float, int]] = []
    total = 0
    for leaf, base in leaves:
        data = cache.segment(leaf)
        keep = cache.live(leaf).copy()
        size = len(keep)
        scores = np.zeros(size, dtype=np.float32)
        matched = np.zeros((len(group_index), size), dtype=bool) if coordinate else None
        for term, field in placements:
            docnums, tf = cache.postings(leaf, field, term.stem)
            if not len(docnums):
                continue
            b = ranking.B[field]
            norm = ranking.K1 * (1 - b + b * data.lengths(leaf, field)[docnums] / average[field])
            weight = term.weight * ranking.FIELD_WEIGHTS[field] * idf[(term.stem, field)]
            scores[docnums] += weight * tf * (ranking.K1 + 1) / (tf + norm)
            if matched is not None and term.coordinate:
                matched[group_index[term.group], docnums] = True
        keep &= scores > 0
        _apply_filters(keep, scores, cache, leaf, base, filters)
        if matched is not None:
            share = (weights @ matched) / weights.sum()
            scores *= share**ranking.COORDINATION
        positions = np.flatnonzero(keep)
        total += len(positions)
        if len(positions) > limit:
            best = np.argpartition(-scores[positions], limit - 1)[:limit]
            positions = positions[best]
        candidates += [(float(scores[p]), int(data.entry_ids[p])) for p in positions]
    candidates.sort(key=lambda item: (-item[0], item[1]))
    hits, seen = [], set()
    for score, entry_id in candidates:
        if entry_id not in seen:  # an entry is indexed once; never show it twice regardless
            seen.add(entry_id)
            hits.append((entry_id, score))
    return Ranked(total=total, hits=hits[:limit])


def _matching(cache: SegmentCache, leaf, term: Term, size: int) -> np.ndarray:
    found = np.zeros(size, dtype=bool)
    docnums, _ = cache.postings(leaf, *term)
    found[docnums] = True
    return found


def _apply_filters(keep, scores, cache: SegmentCache, leaf, base: int, filters: Filters) -> None:
    size = len(keep)
    for term in filters.required:
        keep &= _matching(cache, leaf, term, size)
    for term, unless in filters.excluded:
        excluded = _matching(cache, leaf, term, size)
        if unless is not None:
            excluded &= ~_matching(cache, leaf, unless, size)
        keep &= ~excluded
    for term, multiplier in filters.boosts:
        scores[_matching(cache, leaf, term, size)] *= multiplier
    if filters.allowed is not None:
        allowed = np.zeros(size, dtype=bool)
        local = [n - base for n in filters.allowed if base <= n < base + size]
        if local:
            allowed[np.array(local, dtype=np.int64)] = True
        keep &= allowed


def _idf(document_frequency: int, total_docs: int) -> float:
    """BM25's idf. Frequencies count deleted copies until a merge, so N is at least df."""
    total_docs = max(total_docs, document_frequency)
    return math.log(1 + (total_docs - document_frequency + 0.5) / (document_frequency + 0.5))
