"""The JSON Lines format for moving entries between sites.

One object a line: ``{"question", "answer", "tags", "state", "author", "created"}``.
Optional: ``also_asked`` (a list of other phrasings), ``environment``, ``cause``.
Exports add ``id``, ``owner``, ``updated`` and ``revisions`` (each with what the save
did, ``kind``) so that an export imported into an empty site reproduces every entry and its history.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from kb.actions import EntryContent
from kb.models import Entry, Revision
from kb.plain_text import without_control_characters

MAX_LINE_BYTES = 1_000_000
# A surrogate written as a JSON escape, or as such (a line given as text, not read from
# a UTF-8 file); paired ones (emoji escaped by ``ensure_ascii``) are checked and pass.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]|[\ud800-\udfff]")
MAX_REPORTED_ERRORS = 20
_username = UnicodeUsernameValidator()


@dataclass(frozen=True)
class ImportedRevision:
    number: int
    content: EntryContent
    state: str
    editor: str | None
    summary: str
    created: datetime | None
    kind: str | None = None  # what the save did; older exports lack it (then inferred)


@dataclass(frozen=True)
class ImportRecord:
    line: int
    content: EntryContent
    state: str
    author: str | None
    owner: str | None
    created: datetime | None
    updated: datetime | None
    revisions: list[ImportedRevision] = field(default_factory=list)

    def usernames(self) -> set[str]:
        names = {self.author, self.owner, *(r.editor for r in self.revisions)}
        return {name for name in names if name}


class ImportFileError(Exception):
    """A file that cannot be imported, with the reason for each bad line."""

    def __init__(self, errors: list[str], total_bad: int) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors
        self.total_bad = total_bad


def _datetime(value, name: str) -> datetime | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be an ISO-8601 date or null")
    try:
        parsed = parse_datetime(value)
        if parsed is None and (day := parse_date(value)):
            parsed = datetime(day.year, day.month, day.day)
    except ValueError as error:  # well formed but impossible, such as 2024-02-30
        raise ValueError(f"{name} {value[:40]!r} is not a valid date ({error})") from error
    if parsed is None:
        raise ValueError(f"{name} {value[:40]!r} is not an ISO-8601 date")
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def _username_or_none(value, name: str) -> str | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str) or len(value) > 150:
        raise ValueError(f"{name} must be a username or null")
    try:
        _username(value)
    except ValidationError as error:
        raise ValueError(f"{name} {value!r} is not a valid username") from error
    return value


def _string(data: dict, name: str, *, required: bool = False) -> str:
    value = data.get(name, "")
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


def _phrasings(data: dict) -> list[str]:
    phrasings = data.get("also_asked") or []
    if not isinstance(phrasings, list) or not all(isinstance(p, str) for p in phrasings):
        raise ValueError("also_asked must be a list of strings")
    return phrasings


def _content(data: dict) -> EntryContent:
    tags = data.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ValueError("tags must be a list of strings")
    content = EntryContent(
        question=_string(data, "question", required=True),
        answer=_string(data, "answer", required=True),
        tags=tags,
        also_asked="\n".join(_phrasings(data)),
        environment=_string(data, "environment"),
        cause=_string(data, "cause"),
    )
    try:
        return content.clean(imported=True)
    except ValidationError as error:
        raise ValueError(
            "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in error.message_dict.items())
        ) from error


def _state(data: dict) -> str:
    state = data.get("state") or Entry.State.PUBLISHED
    if state not in Entry.State.values:
        raise ValueError(f"state must be one of {', '.join(Entry.State.values)}")
    return state


def _kind(data: dict) -> str | None:
    kind = data.get("kind")
    if kind in (None, ""):
        return None
    if kind not in Revision.Kind.values:
        raise ValueError(f"kind must be one of {', '.join(Revision.Kind.values)}")
    return kind


def _revisions(data: dict) -> list[ImportedRevision]:
    raw = data.get("revisions") or []
    if not isinstance(raw, list):
        raise ValueError("revisions must be a list")
    revisions = []
    for position, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise ValueError(f"revision {position} must be an object")
        try:
            revisions.append(
                ImportedRevision(
                    number=position,
                    content=_content(item),
                    state=_state(item),
                    editor=_username_or_none(item.get("editor"), "editor"),
                    summary=without_control_characters(_string(item, "summary"))[:200],
                    created=_datetime(item.get("created"), "created"),
                    kind=_kind(item),
                )
            )
        except ValueError as error:
            raise ValueError(f"revision {position}: {error}") from error
    return revisions


def _encodable(data: dict) -> bool:
    """Whether every string in the record is text a database can store (as UTF-8)."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_record(text: str, line: int) -> ImportRecord:
    """One line of the file, validated; raises ValueError with a readable reason."""
    if len(text) > MAX_LINE_BYTES:
        raise ValueError(f"line is longer than {MAX_LINE_BYTES:,} characters")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"not valid JSON ({error.msg} at column {error.colno})") from error
    if not isinstance(data, dict):
        raise ValueError("each line must be a JSON object")
    if _SURROGATE_ESCAPE.search(text) and not _encodable(data):
        raise ValueError(
            "holds a lone UTF-16 surrogate (an escape such as \\ud800 without its pair), "
            "which is not text"
        )
    return ImportRecord(
        line=line,
        content=_content(data),
        state=_state(data),
        author=_username_or_none(data.get("author"), "author"),
        owner=_username_or_none(data.get("owner"), "owner"),
        created=_datetime(data.get("created"), "created"),
        updated=_datetime(data.get("updated"), "updated"),
        revisions=_revisions(data),
    )


def parse_lines(lines: Iterable[str], *, progress=None) -> list[ImportRecord]:
    """Every record of a file, or ``ImportFileError`` naming each bad line (nothing half-read)."""
    records, errors, bad = [], [], 0
    for number, text in enumerate(lines, start=1):
        if progress:
            progress(number)
        text = text.strip().lstrip("\ufeff")
        if not text:
            continue
        try:
            records.append(parse_record(text, number))
        except ValueError as error:
            bad += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                errors.append(f"line {number}: {error}")
    if bad:
        raise ImportFileError(errors, bad)
    return records


def _revision_record(revision: Revision) -> dict:
    return {
        "question": revision.question,
        "answer": revision.answer,
        "also_asked": revision.also_asked.splitlines(),
        "environment": revision.environment,
        "cause": revision.cause,
        "tags": revision.tags,
        "state": revision.state,
        "editor": revision.editor.get_username() if revision.editor else None,
        "summary": revision.summary,
        "created": revision.created_at.isoformat(),
        "kind": revision.kind,
    }


def entry_record(entry: Entry) -> dict:
    """Expects tags and revisions (with editors) prefetched, revisions oldest first."""
    return {
        "id": entry.pk,
        "question": entry.question,
        "answer": entry.answer,
        "also_asked": entry.also_asked.splitlines(),
        "environment": entry.environment,
        "cause": entry.cause,
        "tags": entry.tag_names(),
        "state": entry.state,
        "author": entry.author.get_username() if entry.author else None,
        "owner": entry.owner.get_username() if entry.owner else None,
        "created": entry.created_at.isoformat(),
        "updated": entry.updated_at.isoformat(),
        "revisions": [_revision_record(r) for r in entry.revisions.all()],
    }


def export_lines(entries) -> Iterator[str]:
    for entry in entries:
        yield json.dumps(entry_record(entry), ensure_ascii=False)
