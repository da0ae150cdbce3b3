"""Highlight the words a search matched, in escaped text.

Works on plain text from the database, so both search backends share it. Everything is
escaped; only the ``<mark>`` elements added here are markup.
"""

from __future__ import annotations

from html import escape  # Django's escape, without its lazy-string wrapper per call

from django.utils.safestring import SafeString, mark_safe

from kb.search.text import Token, matching_tokens

SNIPPET_CHARS = 240


def _matches(text: str, terms: set[str]) -> list[Token]:
    return matching_tokens(text, frozenset(terms))


def _mark(text: str, matches: list[Token], start: int, end: int) -> str:
    parts, cursor = [], start
    for token in matches:
        if token.start < start or token.end > end:
            continue
        parts.append(escape(text[cursor : token.start]))
        parts.append(f"<mark>{escape(text[token.start : token.end])}</mark>")
        cursor = token.end
    parts.append(escape(text[cursor:end]))
    return "".join(parts)


def highlight(text: str, terms: set[str]) -> SafeString:
    """The whole of ``text``, escaped, with matched words marked."""
    return mark_safe(_mark(text, _matches(text, terms), 0, len(text)))  # escaped in _mark


def snippet(text: str, terms: set[str], *, length: int = SNIPPET_CHARS) -> SafeString:
    """The window of ``text`` that matches the most distinct terms, escaped and marked.

    Without a match it is the opening of the text, so a result always shows the first
    lines of its answer.
    """
    matches = _matches(text, terms)
    start = 0
    if matches and len(text) > length:
        best = (0, 0)
        for i, first in enumerate(matches):
            window = {m.stem for m in matches[i:] if m.end - first.start <= length}
            if len(window) > best[0]:
                best = (len(window), first.start)
        start = _word_start(text, max(0, best[1] - length // 4))
    end = min(len(text), start + length)
    if end < len(text):
        end = _word_end(text, end)
    body = _mark(text, matches, start, end)
    prefix = "… " if start > 0 else ""
    suffix = " …" if end < len(text) else ""
    return mark_safe(f"{prefix}{body}{suffix}")  # escaped in _mark


def _word_start(text: str, index: int) -> int:
    if index == 0:
        return 0
    space = text.rfind(" ", 0, index)
    return space + 1 if space != -1 else index


def _word_end(text: str, index: int) -> int:
    space = text.rfind(" ", 0, index)
    return space if space > index - 40 else index
