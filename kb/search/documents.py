"""One function that turns an entry into what a search backend indexes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kb.models import Entry


@dataclass(frozen=True)
class EntryDocument:
    id: int
    question: str
    also_asked: str
    body: str
    tags: list[str]
    state: str
    author_id: int | None
    updated_at: datetime


def entry_document(entry: Entry) -> EntryDocument:
    """Expects ``entry.tags`` prefetched when called in a loop."""
    body = "\n".join(part for part in (entry.answer_text, entry.environment, entry.cause) if part)
    return EntryDocument(
        id=entry.pk,
        question=entry.question,
        also_asked=entry.also_asked,
        body=body,
        tags=entry.tag_names(),
        state=entry.state,
        author_id=entry.author_id,
        updated_at=entry.updated_at,
    )
