"""Writing entries: capture, edit, restore, change state, adopt.

Each action validates, writes in one transaction, records the revision and schedules
indexing for after the commit."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from kb import reports, search
from kb.actions.flags import _resolve_flags
from kb.actions.notifications import display_name, notify, shorten
from kb.markdown import markdown_to_text
from kb.models import (
    ANSWER_MAX_LENGTH,
    CONTEXT_MAX_LENGTH,
    QUESTION_MAX_LENGTH,
    QUESTION_STORED_MAX_LENGTH,
    REVIEW_INTERVAL_DAYS,
    SUMMARY_MAX_LENGTH,
    Entry,
    Notification,
    Revision,
)
from kb.permissions import can_supervise
from kb.plain_text import without_control_characters

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
        text = without_control_characters
        content = EntryContent(
            question=" ".join(text(self.question or "").split()),
            answer=text(self.answer or "").replace("\r\n", "\n").strip(),
            tags=normalise_tags(self.tags),
            also_asked=normalise_phrasings(text(self.also_asked or "")),
            environment=text(self.environment or "").strip(),
            cause=text(self.cause or "").strip(),
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
    cleaned = (
        " ".join(without_control_characters(str(tag)).replace(",", " ").split()).lower()
        for tag in tags or ()
    )
    return list(dict.fromkeys(tag for tag in cleaned if tag))


def _snapshot(
    entry: Entry, *, editor, summary: str, at: datetime, kind: str, restored_from=None
) -> Revision:
    return Revision.objects.create(
        entry=entry,
        number=entry.version,
        kind=kind,
        **EntryContent.of(entry).revision_fields(),
        state=entry.state,
        editor=editor,
        summary=summary[:SUMMARY_MAX_LENGTH],
        restored_from=restored_from,
        created_at=at,
    )


def _review_dates(state: str, *, created_at: datetime, changed_at: datetime) -> dict:
    """When an entry that arrives in ``state`` was published and is next due for review."""
    if state not in (Entry.State.PUBLISHED, Entry.State.VALIDATED):
        return {}
    return {
        "published_at": created_at,
        "review_due_at": changed_at + timedelta(days=REVIEW_INTERVAL_DAYS),
    }


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
            **_review_dates(state, created_at=now, changed_at=now),
        )
        entry.tags.set(content.tags)
        _snapshot(entry, editor=author, summary="Created", at=now, kind=Revision.Kind.CREATED)
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
    resolves: Iterable[int] = (),
) -> Entry:
    """Save a new version, or raise ``EditConflict`` if ``base_version`` is not current.

    The version check and the update are one UPDATE statement, so two people saving at
    once cannot both win. Saving identical content writes nothing. ``resolves`` names
    open flags on this entry that the new revision fixes (see ``_resolve_flags``);
    when nothing changed they stay open.
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
        entry = Entry.objects.select_related("owner").get(pk=entry.pk)
        entry.tags.set(content.tags)
        revision = _snapshot(
            entry,
            editor=editor,
            summary=summary,
            at=now,
            kind=Revision.Kind.RESTORED if restored_from else Revision.Kind.EDITED,
            restored_from=restored_from,
        )
        _tell_about_edit(entry, editor=editor, at=now)
        if resolves:
            _resolve_flags(entry, ids=resolves, revision=revision, editor=editor, at=now)
        search.index_after_commit([entry.pk])
    return entry


def _tell_about_edit(entry: Entry, *, editor, at: datetime) -> None:
    """The owner hears that someone else edited their entry; watchers that it changed."""
    name = display_name(editor) if editor else "Someone"
    if entry.owner:
        notify(
            [entry.owner],
            kind=Notification.Kind.ENTRY_EDITED,
            actor=editor,
            text=f"{name} edited your entry “{shorten(entry.question)}”.",
            entry=entry,
            at=at,
        )
    watchers = get_user_model().objects.filter(watches__entry=entry).exclude(pk=entry.owner_id)
    notify(
        watchers,
        kind=Notification.Kind.WATCHED_CHANGED,
        actor=editor,
        text=f"{name} changed “{shorten(entry.question)}”, which you watch.",
        entry=entry,
        at=at,
    )


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
            state=state,
            version=F("version") + 1,
            updated_at=now,
            **_state_dates(entry, state, actor=actor, at=now),
        )
        if not updated:
            raise EditConflict(Entry.objects.get(pk=entry.pk), base_version)
        previous = entry.get_state_display()
        entry = Entry.objects.select_related("owner").get(pk=entry.pk)
        summary = f"{previous} → {entry.get_state_display()}"
        _snapshot(entry, editor=actor, summary=summary, at=now, kind=Revision.Kind.STATE)
        if state == Entry.State.VALIDATED and entry.owner:
            notify(
                [entry.owner],
                kind=Notification.Kind.ENTRY_VALIDATED,
                actor=actor,
                text=f"{display_name(actor)} validated “{shorten(entry.question)}”.",
                entry=entry,
                at=now,
            )
        search.index_after_commit([entry.pk])
    return entry


def _state_dates(entry: Entry, state: str, *, actor, at: datetime) -> dict:
    """Publishing starts the review clock; validating records who and when and restarts it."""
    dates = {}
    if state in (Entry.State.PUBLISHED, Entry.State.VALIDATED):
        if entry.published_at is None:
            dates["published_at"] = at
        if state == Entry.State.VALIDATED or entry.review_due_at is None:
            dates["review_due_at"] = at + timedelta(days=entry.review_interval_days)
    if state == Entry.State.VALIDATED:
        dates.update(validated_at=at, validated_by=actor)
    return dates


def adopt_entry(*, entry: Entry, user) -> Entry:
    """``user`` becomes the owner of an orphaned entry (its owner left or was removed).

    ``ValidationError`` keyed ``owner`` when the entry is not orphaned, archived or
    someone else's draft. The check and the write are one conditional UPDATE, so of two
    people adopting at once the first wins and the other is told who owns it.
    """
    if entry.state == Entry.State.DRAFT and entry.author_id != user.pk:
        raise ValidationError({"owner": "Drafts stay with their author."})
    if entry.state == Entry.State.ARCHIVED:
        raise ValidationError(
            {"owner": "Archived entries need no owner; bring it back to published first."}
        )
    with transaction.atomic():
        adopted = (
            Entry.objects.filter(reports.orphaned_q(), pk=entry.pk)
            .exclude(state=Entry.State.ARCHIVED)
            .update(owner=user)
        )
        entry = Entry.objects.select_related("owner", "author").get(pk=entry.pk)
    if not adopted:
        if entry.owner_id == user.pk:
            raise ValidationError({"owner": "You already own this entry."})
        if entry.owner and entry.owner.is_active:
            raise ValidationError({"owner": f"{display_name(entry.owner)} owns this entry."})
        raise ValidationError({"owner": "This entry can no longer be adopted."})
    return entry
