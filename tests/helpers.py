"""Small helpers for asserting what a user sees."""

from __future__ import annotations

import html
import re

# The supervisor's gap lists, each under /review/.
REVIEW_LISTS = [
    "/review/no-results/",
    "/review/no-reuse/",
    "/review/questions/",
    "/review/flags/",
    "/review/stale/",
    "/review/tags/",
]

_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def page_text(response) -> str:
    """The visible text of an HTML response: tags removed, entities decoded, spaces folded."""
    body = response.content.decode()
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return _SPACE.sub(" ", html.unescape(_TAGS.sub(" ", body))).strip()
