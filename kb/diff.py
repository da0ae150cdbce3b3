"""Line diffs between two revisions, for the history and conflict pages."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from kb.models import Revision

CONTEXT_LINES = 3
FIELDS = (
    ("question", "Question"),
    ("answer", "Answer"),
    ("also_asked", "Also asked as"),
    ("tags", "Tags"),
    ("environment", "Environment"),
    ("cause", "Cause"),
    ("state", "State"),
)


@dataclass(frozen=True)
class Line:
    op: str  # "equal", "insert", "delete" or "skip" (unchanged lines folded away)
    text: str


@dataclass(frozen=True)
class FieldDiff:
    label: str
    lines: list[Line]


def fields_of(obj) -> dict[str, str]:
    """The diffable fields of a revision, an entry or an ``EntryContent``, as text."""
    values = {}
    for name, _label in FIELDS:
        value = getattr(obj, name, "")
        values[name] = ", ".join(value) if isinstance(value, list) else str(value)
    return values


def diff_lines(old: str, new: str) -> list[Line]:
    a, b = old.splitlines(), new.splitlines()
    lines: list[Line] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for group in matcher.get_grouped_opcodes(CONTEXT_LINES):
        if lines:
            lines.append(Line("skip", "…"))
        for op, i1, i2, j1, j2 in group:
            if op == "equal":
                lines += [Line("equal", text) for text in a[i1:i2]]
                continue
            lines += [Line("delete", text) for text in a[i1:i2]]
            lines += [Line("insert", text) for text in b[j1:j2]]
    return lines


def diff_fields(old: dict[str, str], new: dict[str, str]) -> list[FieldDiff]:
    """Only the fields that changed; a field missing on one side is not compared."""
    return [
        FieldDiff(label, diff_lines(old[name], new[name]))
        for name, label in FIELDS
        if name in old and name in new and old[name] != new[name]
    ]


def diff_revisions(old: Revision, new: Revision) -> list[FieldDiff]:
    return diff_fields(fields_of(old), fields_of(new))
