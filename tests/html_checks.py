"""Parse a page and list the markup in it that could run code: the hostile-content and
CSP tests assert that this list is empty, rather than that some string is absent."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Attributes a browser loads or navigates to.
URL_ATTRIBUTES = {
    "href",
    "src",
    "action",
    "formaction",
    "xlink:href",
    "data",
    "poster",
    "background",
    "srcset",
    "ping",
    "cite",
    "manifest",
}
DANGEROUS_SCHEMES = ("javascript:", "data:", "vbscript:")
# Elements that load or run something whatever their attributes.
ACTIVE_TAGS = {"iframe", "frame", "frameset", "object", "embed", "applet", "base", "style"}
# htmx attributes that send a request: only ever to this site.
HTMX_REQUESTS = {"hx-get", "hx-post", "hx-put", "hx-patch", "hx-delete"}
# Browsers drop ASCII whitespace and control characters inside a URL's scheme.
_IGNORED_IN_SCHEME = re.compile(r"[\x00-\x20\x7f]+")


def _scheme_of(value: str) -> str:
    return _IGNORED_IN_SCHEME.sub("", value).lower()


class _Finder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._script_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._element(tag, attrs)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._element(tag, attrs)
        if tag == "script":
            self._script_depth -= 1

    def _element(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "script":
            self._script_depth += 1
            if not values.get("src", "").startswith("/static/"):
                self.found.append(f"<script src={values.get('src')!r}>")
        if tag in ACTIVE_TAGS:
            self.found.append(f"<{tag}>")
        if tag == "link" and not values.get("href", "").startswith("/static/"):
            self.found.append(f"<link href={values.get('href')!r}>")
        if tag == "meta" and "http-equiv" in values:
            self.found.append("<meta http-equiv>")
        if tag == "form" and values.get("action") and not values["action"].startswith("/"):
            self.found.append(f"<form action={values['action']!r}>")
        for name, value in values.items():
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}>")
            elif name == "style":
                self.found.append(f"<{tag} style>")
            elif name in URL_ATTRIBUTES and _scheme_of(value).startswith(DANGEROUS_SCHEMES):
                self.found.append(f"<{tag} {name}={value[:40]!r}>")
            elif name.startswith(("hx-on", "data-hx-on")):
                self.found.append(f"<{tag} {name}>")
            elif name in ("hx-vals", "hx-vars", "hx-headers") and "js:" in value.lower():
                self.found.append(f"<{tag} {name} js:>")
            elif name in HTMX_REQUESTS and not re.match(r"/(?!/)", value):
                self.found.append(f"<{tag} {name}={value[:40]!r}>")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script_depth = max(0, self._script_depth - 1)

    def handle_data(self, data: str) -> None:
        if self._script_depth and data.strip():
            self.found.append(f"inline script {data.strip()[:40]!r}")


def executable_markup(html: str) -> list[str]:
    """What in ``html`` could run script, load active content or fire requests by itself:
    scripts other than our static files (or with inline code), on* and style attributes,
    javascript:/data:/vbscript: URLs, active elements, htmx handlers and requests that
    leave the site."""
    finder = _Finder()
    finder.feed(html)
    finder.close()
    return finder.found


class _Attributes(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.values: set[tuple[str, str]] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.values.update((name, value or "") for name, value in attrs)


def attributes(html: str) -> set[tuple[str, str]]:
    """Every (attribute name, value) pair in ``html``."""
    parser = _Attributes()
    parser.feed(html)
    parser.close()
    return parser.values
