"""Text analysis shared by indexing, querying and highlighting.

One analyzer means a word is reduced the same way everywhere: ``refunds`` in a query,
``refund`` in an answer and the highlighted word in a snippet all become ``refund``.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import cache, lru_cache

from whoosh.analysis import (
    CharsetFilter,
    LowercaseFilter,
    RegexTokenizer,
    ShingleFilter,
    StemmingAnalyzer,
)
from whoosh.lang.porter2 import stem as porter2_stem
from whoosh.support.charset import accent_map

# Words made of letters and digits, allowing inner dots and apostrophes ("wi.fi", "don't").
TOKEN_PATTERN = r"\w+(?:[.'\u2019]\w+)*"


# Common English function words: pronouns, auxiliaries, question words, conjunctions.
# Dropping them keeps a customer's phrasing ("how do I ... my ...") from outweighing the
# words that carry the problem. Kept on purpose: negations ("not", "no"), which change
# meaning, and particles ("up", "in", "off", ...), which make phrasal verbs ("top up",
# "log in", "cut off"). Measured with `make eval`: P@1 78.8 -> 81.4 against Whoosh's
# shorter default list.
STOP_WORDS = frozenset(
    """
    a about above after all am an and any are as at be because been before being below
    both but by can could did do does doing during each few for from had has have he her
    here him his how i i'm if im into is it it's its just may me more most my myself nor
    now of once only or other our ours own same she should so some such than that the
    their them then there there's these they this those through to too until us very was
    we were what when where which while who whom why will with would yet you your
    """.split()  # noqa: SIM905 - a word list reads best as words
)


@cache
def analyzer():
    """Words, lowercased, common words dropped, reduced by the Porter2 (Snowball) stemmer."""
    stemming = StemmingAnalyzer(
        expression=TOKEN_PATTERN, minsize=1, stemfn=porter2_stem, stoplist=STOP_WORDS
    )
    return stemming | CharsetFilter(accent_map)


@cache
def spelling_analyzer():
    """Whole words as written, lowercased: the vocabulary for typo corrections and for
    completing the word still being typed."""
    return RegexTokenizer(expression=TOKEN_PATTERN) | LowercaseFilter() | CharsetFilter(accent_map)


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


@dataclass(frozen=True, slots=True)
class Word:
    """A searchable word as typed (lowercased) and its stem."""

    typed: str
    stem: str


def stems(text: str) -> list[str]:
    """The searchable terms of ``text``: lowercased, stop words dropped, stemmed."""
    return [token.text for token in analyzer()(text)]


def words(text: str) -> list[Word]:
    return [
        Word(text[t.startchar : t.endchar].lower(), t.text) for t in analyzer()(text, chars=True)
    ]


_STEM_CACHE_LIMIT = 100_000


@lru_cache(maxsize=_STEM_CACHE_LIMIT)
def stem_of(word: str) -> str | None:
    """The stem of one word (None for a stop word); cached, as pages repeat words a lot."""
    found = stems(word)
    return found[0] if len(found) == 1 else None


@lru_cache(maxsize=256)
def _candidates(terms: frozenset[str]) -> re.Pattern:
    """Words that may stem to one of ``terms``: those starting like one of them."""
    starts = sorted({re.escape(term[:3]) for term in terms}, key=len, reverse=True)
    return re.compile(rf"(?<![\w.'\u2019])(?=(?:{'|'.join(starts)}))(?:{TOKEN_PATTERN})", re.I)


def matching_tokens(text: str, terms: frozenset[str]) -> list[Token]:
    """The tokens of ``text`` whose stem is one of ``terms``, with their offsets.

    Only words that start like a term are stemmed: the scan runs in the regex engine,
    which keeps highlighting cheap on long answers.
    """
    if not terms:
        return []
    found = []
    for match in _candidates(terms).finditer(text):
        stem = stem_of(match.group().lower())
        if stem in terms:
            found.append(Token(stem, match.start(), match.end()))
    return found
