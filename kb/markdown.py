"""Markdown to safe HTML: rendered by python-markdown, then sanitised by nh3.

The sanitiser is the only gate between what a person wrote and the page, so every
template shows entry text through ``render_markdown`` (or plain-text escaping), never
through ``mark_safe`` on raw input.
"""

from __future__ import annotations

import html
import re
import threading

import markdown as md
import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown.extensions import Extension
from markdown.preprocessors import Preprocessor

_LIST_ITEM = re.compile(r"^ {0,3}(?:[-*+]|\d{1,9}[.)]) +\S")
_FENCE = re.compile(r"^ {0,3}(?:```|~~~)")


class ListsInterruptParagraphs(Preprocessor):
    """Let a list start right under a line of text, as CommonMark does.

    Reps write "Steps:" and then "1. ..." on the next line; python-markdown would
    otherwise render the list as one paragraph with literal "1." markers.
    """

    def run(self, lines: list[str]) -> list[str]:
        result: list[str] = []
        in_fence = False
        for line in lines:
            if _FENCE.match(line):
                in_fence = not in_fence
            elif (
                not in_fence
                and _LIST_ITEM.match(line)
                and result
                and result[-1].strip()
                and not _LIST_ITEM.match(result[-1])
                and not result[-1].startswith((" ", "\t"))
            ):
                result.append("")
            result.append(line)
        return result


class FloorbookExtension(Extension):
    def extendMarkdown(self, md_instance) -> None:
        md_instance.preprocessors.register(ListsInterruptParagraphs(md_instance), "lists", 25)


EXTENSIONS = ["fenced_code", "tables", "sane_lists", "nl2br", FloorbookExtension()]

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4",
    "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "strong", "sub",
    "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "th": {"align"},
    "td": {"align"},
    "code": {"class"},
}
ALLOWED_URL_SCHEMES = {"http", "https", "mailto", "tel"}

_SPACE_RE = re.compile(r"\s+")


_local = threading.local()


def _to_html(text: str) -> str:
    """Markdown to (unsafe) HTML, reusing one converter per thread: building one is slow."""
    converter = getattr(_local, "converter", None)
    if converter is None:
        converter = _local.converter = md.Markdown(extensions=EXTENSIONS, output_format="html")
    return converter.reset().convert(text or "")


def sanitise(raw_html: str) -> str:
    return nh3.clean(
        raw_html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


def render_markdown(text: str) -> SafeString:
    """Render Markdown and sanitise the result; safe to put in a page as is."""
    return mark_safe(sanitise(_to_html(text)))  # sanitised just above


_STRIP_RULES = [
    # Backslash escapes first, as character references the final unescape restores.
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>])"), lambda m: f"&#{ord(m.group(1))};"),
    (re.compile(r"^ {0,3}(?:```|~~~).*$", re.M), ""),  # code fences (keep the code)
    (re.compile(r"^ {0,3}(?:[-*_] *){3,}$", re.M), " "),  # horizontal rules
    (re.compile(r"^ *\|? *:?-+:? *(?:\| *:?-+:? *)*\|? *$", re.M), " "),  # table rules
    (re.compile(r"!?\[([^\]]*)\]\([^)]*\)"), r"\1"),  # links and images: their text
    (re.compile(r"!?\[([^\]]*)\]\[[^\]]*\]"), r"\1"),  # reference links
    (re.compile(r"<(https?://[^>\s]+)>"), r"\1"),  # autolinks
    (re.compile(r"<[^>]*>"), " "),  # raw HTML
    (re.compile(r"^ {0,3}#{1,6}\s+|^ {0,3}>\s?|^\s*(?:[-*+]|\d{1,9}[.)])\s+", re.M), ""),
    (re.compile(r"(\*\*|__|~~|`)"), ""),  # strong, strike, code
    (re.compile(r"\*(\S(?:[^*\n]*?\S)?)\*"), r"\1"),  # *emphasis*
    (re.compile(r"(?<!\w)_(\S(?:[^_\n]*?\S)?)_(?!\w)"), r"\1"),  # _emphasis_, not snake_case
    (re.compile(r"\|"), " "),  # table cells
]


def markdown_to_text(text: str) -> str:
    """The words a reader sees, without markup: for snippets and the search index.

    A light strip of Markdown syntax rather than a full render: it runs on every
    save and import (a render costs ~1 ms an answer, this ~30 us) and only has to get
    the words right, not the layout. The result is plain text, escaped where shown.
    """
    for pattern, replacement in _STRIP_RULES:
        text = pattern.sub(replacement, text or "")
    return _SPACE_RE.sub(" ", html.unescape(text)).strip()
