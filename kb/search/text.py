"""Text analysis shared by indexing, querying and highlighting.

One analyzer means a word is reduced the same way everywhere: ``refunds`` in a query,
``refund`` in an answer and the highlighted word in a snippet all become ``refund``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache

from whoosh.analysis import CharsetFilter, ShingleFilter, StemmingAnalyzer
from whoosh.lang.porter2 import stem as porter2_stem
from whoosh.support.charset import accent_map

# Words made of letters and digits, allowing inner dots and apostrophes ("wi.fi", "don't").
TOKEN_PATTERN = r"\w+(?:[.'\u2019]\w+)*"


@cache
def analyzer():
    """Words, lowercased, common words dropped, reduced by the Porter2 (Snowball) stemmer."""
    stemming = StemmingAnalyzer(expression=TOKEN_PATTERN, minsize=1, stemfn=porter2_stem)
    return stemming | CharsetFilter(accent_map)


@cache
def pair_analyzer():
    """Adjacent word pairs ("reset router"), for ranking words typed together higher."""
    return analyzer() | ShingleFilter(size=2, sep=" ")


def pairs(stems_: list[str]) -> list[str]:
    return [f"{a} {b}" for a, b in itertools.pairwise(stems_)]


@dataclass(frozen=True, slots=True)
class Token:
    stem: str
    start: int
    end: int


def stems(text: str) -> list[str]:
    """The searchable terms of ``text``: lowercased, stop words dropped, stemmed."""
    return [token.text for token in analyzer()(text)]


def tokens(text: str) -> list[Token]:
    """Like ``stems`` but with character offsets, for highlighting."""
    return [Token(t.text, t.startchar, t.endchar) for t in analyzer()(text, chars=True)]
