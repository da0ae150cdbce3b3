"""What a rep typed, turned into words, phrases and tag filters.

A rep types words, not query syntax: ``payment?`` is the word "payment", ``a:b`` is two
words and an unbalanced quote is just a quote. Only the syntax the search page documents
is honoured: ``"quoted phrases"`` and ``tag:name`` filters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kb.search.text import Word, stems, words

MAX_QUERY_LENGTH = 500

_PHRASE_RE = re.compile(r'"([^"]+)"')
_TAG_RE = re.compile(r"(?<!\S)tag:(\S+)", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedQuery:
    text: str
    terms: list[str] = field(default_factory=list)
    sequence: list[str] = field(default_factory=list)  # the stems in typed order, repeats kept
    words: list[Word] = field(default_factory=list)  # one per distinct stem, as typed
    open_ended: bool = False  # the last word may be unfinished (no space or mark after it)
    synonyms: dict[str, list[str]] = field(default_factory=dict)  # stem -> stems also searched
    phrases: list[list[str]] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.terms or self.phrases)

    @property
    def all_terms(self) -> set[str]:
        """Every stem the results should highlight."""
        return set(self.terms).union(*self.phrases) if self.phrases else set(self.terms)


def normalise_tag(name: str) -> str:
    return name.strip().strip(",").lower()


def parse_query(text: str, *, extra_tags: tuple[str, ...] = ()) -> ParsedQuery:
    text = (text or "").replace("\x00", " ")[:MAX_QUERY_LENGTH]
    tags = [normalise_tag(m) for m in _TAG_RE.findall(text)]
    tags += [normalise_tag(t) for t in extra_tags]
    remainder = _TAG_RE.sub(" ", text)
    phrases = []
    for phrase in _PHRASE_RE.findall(remainder):
        phrase_stems = stems(phrase)
        if len(phrase_stems) > 1:
            phrases.append(phrase_stems)
    remainder = _PHRASE_RE.sub(
        lambda m: " " if len(stems(m.group(1))) > 1 else m.group(1), remainder
    )
    typed = words(remainder)
    sequence = [word.stem for word in typed]
    distinct = list({word.stem: word for word in reversed(typed)}.values())[::-1]
    return ParsedQuery(
        text=text.strip(),
        terms=list(dict.fromkeys(sequence)),
        sequence=sequence,
        words=distinct,
        open_ended=bool(typed)
        and bool(re.search(r"\w$", remainder))
        and remainder.lower().endswith(typed[-1].typed),
        phrases=phrases,
        tags=list(dict.fromkeys(t for t in tags if t)),
    )


def without_tags(text: str) -> str:
    """The text with its ``tag:name`` filters taken out."""
    return _TAG_RE.sub(" ", text)


def normalise_query(text: str) -> str:
    """A query reduced to what it asks for: its distinct stems, sorted, and its tag
    filters. "reset router", "router reset" and "how do I reset my router" all become
    "reset router", so the gaps report counts them as one search."""
    parsed = parse_query(text)
    stems_ = sorted(set(parsed.sequence).union(*parsed.phrases))
    tags = sorted(f"tag:{tag}" for tag in parsed.tags)
    return " ".join(stems_ + tags)[:MAX_QUERY_LENGTH]
