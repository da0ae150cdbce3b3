"""Every write a person can make, one function per intent.

Each action validates, writes in one transaction, records the revision and schedules
indexing for after the commit. Views and commands call these; nothing else writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from taggit.models import Tag

from kb import search
from kb.markdown import markdown_to_text
from kb.models import (
    ANSWER_MAX_LENGTH,
    CASE_REF_MAX_LENGTH,
    CONTEXT_MAX_LENGTH,
    QUESTION_MAX_LENGTH,
    QUESTION_STORED_MAX_LENGTH,
    SUMMARY_MAX_LENGTH,
    THANKS_NOTE_MAX_LENGTH,
    Entry,
    Reuse,
    Revision,
    SynonymGroup,
    TaggedEntry,
    Thanks,
)
from kb.permissions import can_supervise

TAG_MAX_LENGTH = 50
MAX_TAGS = 12

# The text fields of an entry, its revisions and EntryContent, besides tags.
CONTENT_FIELDS = ("question", "answer", "also_asked", "environment", "cause")
MAX_ALSO_ASKED = 20


class EditConflict(Exception):
    """Someone saved the entry after the version this edit started from."""

    def __init__(self, entry: Entry, base_version: int) -> None:
        super().__init__(f"Entry {entry.pk} is at version {entry.version}, not {base_version}")
        self.entry = entry
        self.base_version = base_version


@dataclass(frozen=True)
class EntryContent:
    """What a person writes for an entry; validated by ``clean``."""

    question: str
    answer: str
    tags: list[str] = field(default_factory=list)
    also_asked: str = ""  # other phrasings of the question, one a line
    environment: str = ""
    cause: str = ""

    @classmethod
    def of(cls, source: Entry | Revision) -> EntryContent:
        """The content of an entry (tags prefetched or queried) or of a revision."""
        tags = source.tags if isinstance(source, Revision) else source.tag_names()
        return cls(tags=list(tags), **{name: getattr(source, name) for name in CONTENT_FIELDS})

    def fields(self) -> dict[str, str]:
        """The text fields, as model keyword arguments (with the derived plain answer)."""
        values = {name: getattr(self, name) for name in CONTENT_FIELDS}
        return {**values, "answer_text": markdown_to_text(self.answer)}

    def revision_fields(self) -> dict:
        return {**{name: getattr(self, name) for name in CONTENT_FIELDS}, "tags": self.tags}

    def same_as(self, other: EntryContent) -> bool:
        """Whether saving ``other`` would change nothing a person wrote (tag order aside)."""
        written = all(getattr(self, name) == getattr(other, name) for name in CONTENT_FIELDS)
        return written and sorted(self.tags) == sorted(other.tags)

    def clean(self, *, keep_question: str | None = None, imported: bool = False) -> EntryContent:
        """Normalised and validated, or ``ValidationError`` with a message per field.

        Questions are limited to QUESTION_MAX_LENGTH when a person writes or changes
        them; an unchanged question (``keep_question``) or an imported one may be
        longer, up to what the database stores, so no one's words are refused or cut.
        """
        content = EntryContent(
            question=" ".join((self.question or "").split()),
            answer=(self.answer or "").replace("\r\n", "\n").strip(),
            tags=normalise_tags(self.tags),
            also_asked=normalise_phrasings(self.also_asked),
            environment=(self.environment or "").strip(),
            cause=(self.cause or "").strip(),
        )
        long_question_allowed = imported or content.question == keep_question
        content.validate(
            question_limit=QUESTION_STORED_MAX_LENGTH
            if long_question_allowed
            else QUESTION_MAX_LENGTH
        )
        return content

    def validate(self, *, question_limit: int = QUESTION_MAX_LENGTH) -> None:
        errors: dict[str, str] = {}
        if not self.question:
            errors["question"] = "Write the question a customer or rep would ask."
        elif len(self.question) > question_limit:
            errors["question"] = (
                f"Keep the question to {question_limit} characters "
                f"(it has {len(self.question)}); put details in the answer."
            )
        if not self.answer:
            errors["answer"] = "Write the answer, even a short one."
        elif len(self.answer) > ANSWER_MAX_LENGTH:
            errors["answer"] = (
                f"The answer is limited to {ANSWER_MAX_LENGTH:,} characters "
                f"(it has {len(self.answer):,}); split it into several entries."
            )
        phrasings = self.also_asked.splitlines()
        if len(phrasings) > MAX_ALSO_ASKED:
            errors["also_asked"] = f"Give at most {MAX_ALSO_ASKED} other phrasings."
        elif any(len(line) > QUESTION_STORED_MAX_LENGTH for line in phrasings):
            errors["also_asked"] = f"Keep each phrasing to {QUESTION_MAX_LENGTH} characters."
        for name in ("environment", "cause"):
            if len(getattr(self, name)) > CONTEXT_MAX_LENGTH:
                errors[name] = f"Keep this to {CONTEXT_MAX_LENGTH:,} characters."
        if len(self.tags) > MAX_TAGS:
            errors["tags"] = f"Use at most {MAX_TAGS} tags."
        elif any(len(tag) > TAG_MAX_LENGTH for tag in self.tags):
            errors["tags"] = f"Each tag is at most {TAG_MAX_LENGTH} characters."
        if errors:
            raise ValidationError(errors)


def normalise_phrasings(text: str) -> str:
    """One phrasing a line, single-spaced, without blanks or repeats."""
    lines = (" ".join(line.split()) for line in (text or "").splitlines())
    return "\n".join(dict.fromkeys(line for line in lines if line))


def normalise_tags(tags: Iterable[str]) -> list[str]:
    """Lowercase, single-spaced, unique, in the order given."""
    cleaned = (" ".join(str(tag).replace(",", " ").split()).lower() for tag in tags or ())
    return list(dict.fromkeys(tag for tag in cleaned if tag))


def _snapshot(entry: Entry, *, editor, summary: str, at: datetime, restored_from=None) -> Revision:
    return Revision.objects.create(
        entry=entry,
        number=entry.version,
        **EntryContent.of(entry).revision_fields(),
        state=entry.state,
        editor=editor,
        summary=summary[:SUMMARY_MAX_LENGTH],
        restored_from=restored_from,
        created_at=at,
    )


def capture_entry(
    *,
    author,
    content: EntryContent,
    state: str = Entry.State.PUBLISHED,
    created_at: datetime | None = None,
) -> Entry:
    """A new entry with its first revision, findable by search once committed."""
    content = content.clean()
    if state not in (Entry.State.DRAFT, Entry.State.PUBLISHED) and not can_supervise(author):
        raise PermissionDenied("Only supervisors can create validated or archived entries.")
    now = created_at or timezone.now()
    with transaction.atomic():
        entry = Entry.objects.create(
            **content.fields(),
            state=state,
            author=author,
            owner=author,
            created_at=now,
            updated_at=now,
        )
        entry.tags.set(content.tags)
        _snapshot(entry, editor=author, summary="Created", at=now)
        search.index_after_commit([entry.pk], new=True)
    return entry


def edit_entry(
    *,
    entry: Entry,
    editor,
    base_version: int,
    content: EntryContent,
    summary: str = "",
    restored_from: Revision | None = None,
    at: datetime | None = None,
) -> Entry:
    """Save a new version, or raise ``EditConflict`` if ``base_version`` is not current.

    The version check and the update are one UPDATE statement, so two people saving at
    once cannot both win. Saving identical content writes nothing.
    """
    current = Entry.objects.get(pk=entry.pk)
    content = content.clean(keep_question=current.question)
    if current.version != base_version:
        raise EditConflict(current, base_version)
    if EntryContent.of(current).same_as(content):
        return current
    now = at or timezone.now()
    with transaction.atomic():
        updated = Entry.objects.filter(pk=entry.pk, version=base_version).update(
            **content.fields(),
            version=F("version") + 1,
            updated_at=now,
        )
        if not updated:
            raise EditConflict(Entry.objects.get(pk=entry.pk), base_version)
        entry = Entry.objects.get(pk=entry.pk)
        entry.tags.set(content.tags)
        _snapshot(entry, editor=editor, summary=summary, at=now, restored_from=restored_from)
        search.index_after_commit([entry.pk])
    return entry


def restore_revision(*, entry: Entry, revision: Revision, editor, base_version: int) -> Entry:
    """Bring back an old revision's content as a new revision (history only grows)."""
    if revision.entry_id != entry.pk:
        raise ValueError("That revision belongs to another entry.")
    return edit_entry(
        entry=entry,
        editor=editor,
        base_version=base_version,
        content=EntryContent.of(revision),
        summary=f"Restored revision {revision.number}",
        restored_from=revision,
    )


def change_state(
    *, entry: Entry, actor, state: str, base_version: int, at: datetime | None = None
) -> Entry:
    """Move an entry through the KCS states; records a revision like any save.

    The author may publish their own draft; validating, archiving and un-archiving
    need the supervisor permission.
    """
    if state not in Entry.State.values:
        raise ValidationError({"state": "Unknown state."})
    author_publishing_draft = (
        entry.author_id == actor.pk
        and entry.state == Entry.State.DRAFT
        and state == Entry.State.PUBLISHED
    )
    if not (author_publishing_draft or can_supervise(actor)):
        raise PermissionDenied("Only supervisors can validate or archive entries.")
    now = at or timezone.now()
    with transaction.atomic():
        updated = Entry.objects.filter(pk=entry.pk, version=base_version).update(
            state=state, version=F("version") + 1, updated_at=now
        )
        if not updated:
            raise EditConflict(Entry.objects.get(pk=entry.pk), base_version)
        previous = entry.get_state_display()
        entry = Entry.objects.get(pk=entry.pk)
        summary = f"{previous} → {entry.get_state_display()}"
        _snapshot(entry, editor=actor, summary=summary, at=now)
        search.index_after_commit([entry.pk])
    return entry


REUSE_REPEAT_WINDOW = timedelta(minutes=15)
CASE_REF_RE = re.compile(rf"^[\w.:#/-]{{1,{CASE_REF_MAX_LENGTH}}}$")


def counted_reuse(*, entry: Entry, user, case_ref: str, at: datetime) -> Reuse | None:
    """The reuse this call already counts as, if any (see ``record_reuse``)."""
    earlier = Reuse.objects.filter(entry=entry)
    if case_ref:
        return earlier.filter(case_ref=case_ref).first()
    recent = at - REUSE_REPEAT_WINDOW
    return earlier.filter(user=user, case_ref="", created_at__gte=recent).first()


def record_reuse(*, entry: Entry, user, case_ref: str = "", query: str = "") -> tuple[Reuse, bool]:
    """Count that ``entry`` helped on a call; returns the reuse and whether it is new.

    A call counts once: a second click for the same case reference, or without one
    by the same person within REUSE_REPEAT_WINDOW, returns the first reuse.
    """
    case_ref = (case_ref or "").strip()
    if case_ref and not CASE_REF_RE.match(case_ref):
        raise ValidationError(
            {
                "case": f"A case or call reference is up to {CASE_REF_MAX_LENGTH} letters, "
                "digits and . : # / - _ (no spaces)."
            }
        )
    query = " ".join((query or "").split())[:500]
    now = timezone.now()
    if first := counted_reuse(entry=entry, user=user, case_ref=case_ref, at=now):
        return first, False
    try:
        with transaction.atomic():
            reuse = Reuse.objects.create(
                entry=entry, user=user, case_ref=case_ref, query=query, created_at=now
            )
    except IntegrityError:  # the same case recorded by someone else a moment ago
        return Reuse.objects.get(entry=entry, case_ref=case_ref), False
    return reuse, True


def thank_entry(*, entry: Entry, user, note: str = "") -> tuple[Thanks, bool]:
    """Thank the people behind an entry; once per person per entry (a second time
    returns the first thanks). The author cannot thank their own entry."""
    if entry.author_id == user.pk:
        raise ValidationError({"note": "You wrote this entry; thanks are for others' work."})
    note = " ".join((note or "").split())
    if len(note) > THANKS_NOTE_MAX_LENGTH:
        raise ValidationError(
            {"note": f"Keep the note to {THANKS_NOTE_MAX_LENGTH} characters (it has {len(note)})."}
        )
    if earlier := Thanks.objects.filter(entry=entry, from_user=user).first():
        return earlier, False
    try:
        with transaction.atomic():
            thanks = Thanks.objects.create(
                entry=entry, from_user=user, note=note, created_at=timezone.now()
            )
    except IntegrityError:  # a double click racing itself
        return Thanks.objects.get(entry=entry, from_user=user), False
    return thanks, True


MAX_SYNONYM_GROUPS = 1_000


def save_synonyms(*, actor, text: str) -> list[SynonymGroup]:
    """Replace the synonym list with ``text``: one group of comma-separated words a line.

    Lines with fewer than two distinct words are refused with their line number, and
    nothing is saved unless every line is valid.
    """
    if not can_supervise(actor):
        raise PermissionDenied("Only supervisors can edit synonyms.")
    groups, errors = [], []
    for number, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip():
            continue
        members = list(dict.fromkeys(m.strip().lower() for m in line.split(",") if m.strip()))
        if len(members) < 2:
            errors.append(f"Line {number}: give at least two words separated by commas.")
        elif len(", ".join(members)) > 500:
            errors.append(f"Line {number}: keep a group under 500 characters.")
        else:
            groups.append(", ".join(members))
    if len(groups) > MAX_SYNONYM_GROUPS:
        errors.append(f"At most {MAX_SYNONYM_GROUPS:,} groups.")
    if errors:
        raise ValidationError({"synonyms": errors})
    now = timezone.now()
    with transaction.atomic():
        SynonymGroup.objects.all().delete()
        saved = SynonymGroup.objects.bulk_create(
            SynonymGroup(terms=terms, updated_by=actor, updated_at=now) for terms in groups
        )
        transaction.on_commit(search.forget_synonyms)
    return saved


IMPORT_BATCH = 1_000


def import_entries(*, records: list, progress=None) -> list[int]:
    """Write parsed import records (``kb.transfer``) in one transaction: all or none.

    Authors not known here are created as inactive users, so attribution survives a
    move between sites. Rows are written in bulk and indexed after the commit. Records
    that carry ``revisions`` (exports) keep their whole history.
    """
    now = timezone.now()
    entry_ids: list[int] = []
    with transaction.atomic():
        users = _import_users(set().union(*(record.usernames() for record in records)))
        tags = _import_tags({tag for record in records for tag in record.content.tags})
        for start in range(0, len(records), IMPORT_BATCH):
            batch = records[start : start + IMPORT_BATCH]
            entries = Entry.objects.bulk_create(
                [_imported_entry(record, users, now) for record in batch]
            )
            TaggedEntry.objects.bulk_create(
                TaggedEntry(content_object=entry, tag=tags[name])
                for entry, record in zip(entries, batch, strict=True)
                for name in record.content.tags
            )
            Revision.objects.bulk_create(
                revision
                for entry, record in zip(entries, batch, strict=True)
                for revision in _imported_revisions(entry, record, users)
            )
            entry_ids += [entry.pk for entry in entries]
            if progress:
                progress(len(entry_ids))
        search.index_after_commit(entry_ids, new=True)
    return entry_ids


def _import_users(usernames: set[str]) -> dict:
    User = get_user_model()
    users = {user.get_username(): user for user in User.objects.filter(username__in=usernames)}
    missing = [
        User(username=name, is_active=False, password=make_password(None))
        for name in sorted(usernames - users.keys())
    ]
    for user in User.objects.bulk_create(missing):
        users[user.get_username()] = user
    return users


def _import_tags(names: set[str]) -> dict[str, Tag]:
    tags = {tag.name: tag for tag in Tag.objects.filter(name__in=names)}
    for name in sorted(names - tags.keys()):
        tags[name] = Tag.objects.create(name=name)  # save() picks a unique slug
    return tags


def _imported_entry(record, users: dict, now: datetime) -> Entry:
    created = record.created or now
    last_revision = record.revisions[-1] if record.revisions else None
    updated = record.updated or (last_revision and last_revision.created) or created
    author = users.get(record.author)
    return Entry(
        **record.content.fields(),
        state=record.state,
        author=author,
        owner=users.get(record.owner) or author,
        version=len(record.revisions) or 1,
        created_at=created,
        updated_at=updated,
    )


def _imported_revisions(entry: Entry, record, users: dict) -> list[Revision]:
    if not record.revisions:
        return [
            Revision(
                entry=entry,
                number=1,
                **record.content.revision_fields(),
                state=entry.state,
                editor=entry.author,
                summary="Imported",
                created_at=entry.created_at,
            )
        ]
    return [
        Revision(
            entry=entry,
            number=revision.number,
            **revision.content.revision_fields(),
            state=revision.state,
            editor=users.get(revision.editor),
            summary=revision.summary,
            created_at=revision.created or entry.created_at,
        )
        for revision in record.revisions
    ]
