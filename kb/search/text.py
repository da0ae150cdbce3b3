"""Text analysis shared by indexing, querying and highlighting.

One analyzer means a word is reduced the same way everywhere: ``refunds`` in a query,
``refund`` in an answer and the highlighted word in a snippet all become ``refund``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from whoosh.analysis import CharsetFilter, StemmingAnalyzer
from whoosh.support.charset import accent_map

# Words made of letters and digits, allowing inner dots and apostrophes ("wi.fi", "don't").
TOKEN_PATTERN = r"\w+(?:[.'\u2019]\w+)*"


@cache
def analyzer():
    return StemmingAnalyzer(expression=TOKEN_PATTERN, minsize=1) | CharsetFilter(accent_map)


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
