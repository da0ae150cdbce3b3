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

from kb import reports, search
from kb.markdown import markdown_to_text
from kb.models import (
    ANSWER_MAX_LENGTH,
    CASE_REF_MAX_LENGTH,
    CONTEXT_MAX_LENGTH,
    FLAG_COMMENT_MAX_LENGTH,
    QUESTION_DETAILS_MAX_LENGTH,
    QUESTION_MAX_LENGTH,
    QUESTION_STORED_MAX_LENGTH,
    REVIEW_INTERVAL_DAYS,
    SUMMARY_MAX_LENGTH,
    THANKS_NOTE_MAX_LENGTH,
    Entry,
    Flag,
    Notification,
    Question,
    Reuse,
    Revision,
    SearchEvent,
    SynonymGroup,
    TaggedEntry,
    Thanks,
    Watch,
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
            entry, editor=editor, summary=summary, at=now, restored_from=restored_from
        )
        _tell_about_edit(entry, editor=editor, at=now)
        if resolves:
            _resolve_flags(entry, ids=resolves, revision=revision, editor=editor, at=now)
        search.index_after_commit([entry.pk])
    return entry


def _tell_about_edit(entry: Entry, *, editor, at: datetime) -> None:
    """The owner hears that someone else edited their entry; watchers that it changed."""
    name = editor.get_username() if editor else "Someone"
    if entry.owner:
        notify(
            [entry.owner],
            kind=Notification.Kind.ENTRY_EDITED,
            actor=editor,
            text=f"{name} edited your entry “{_short(entry.question)}”.",
            entry=entry,
            at=at,
        )
    watchers = get_user_model().objects.filter(watches__entry=entry).exclude(pk=entry.owner_id)
    notify(
        watchers,
        kind=Notification.Kind.WATCHED_CHANGED,
        actor=editor,
        text=f"{name} changed “{_short(entry.question)}”, which you watch.",
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
        _snapshot(entry, editor=actor, summary=summary, at=now)
        if state == Entry.State.VALIDATED and entry.owner:
            notify(
                [entry.owner],
                kind=Notification.Kind.ENTRY_VALIDATED,
                actor=actor,
                text=f"{actor.get_username()} validated “{_short(entry.question)}”.",
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


REUSE_REPEAT_WINDOW = timedelta(minutes=15)
CASE_REF_RE = re.compile(rf"^[\w.:#/-]{{1,{CASE_REF_MAX_LENGTH}}}$")


def counted_reuse(*, entry: Entry, user, case_ref: str, at: datetime) -> Reuse | None:
    """The reuse this call already counts as, if any (see ``record_reuse``)."""
    earlier = Reuse.objects.filter(entry=entry)
    if case_ref:
        return earlier.filter(case_ref=case_ref).first()
    recent = at - REUSE_REPEAT_WINDOW
    return earlier.filter(user=user, case_ref="", created_at__gte=recent).first()


def record_reuse(
    *, entry: Entry, user, case_ref: str = "", query: str = "", search_event_id: int | None = None
) -> tuple[Reuse, bool]:
    """Count that ``entry`` helped on a call; returns the reuse and whether it is new.

    A call counts once: a second click for the same case reference, or without one
    by the same person within REUSE_REPEAT_WINDOW, returns the first reuse. The
    person's search that led here (``search_event_id``) is marked as followed by a reuse.
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
    event = (
        SearchEvent.objects.filter(pk=search_event_id, user=user).first()
        if search_event_id
        else None
    )
    try:
        with transaction.atomic():
            reuse = Reuse.objects.create(
                entry=entry,
                user=user,
                case_ref=case_ref,
                query=query or (event.query if event else ""),
                search_event=event,
                created_at=now,
            )
            if event:
                SearchEvent.objects.filter(pk=event.pk).update(reused=True)
                SearchEvent.objects.filter(pk=event.pk, opened_entry=None).update(
                    opened_entry=entry
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
    now = timezone.now()
    try:
        with transaction.atomic():
            thanks = Thanks.objects.create(entry=entry, from_user=user, note=note, created_at=now)
            quoted = f": “{note}”" if note else "."
            notify(
                credited_people(entry),
                kind=Notification.Kind.ENTRY_THANKED,
                actor=user,
                text=f"{user.get_username()} thanked you for “{_short(entry.question)}”{quoted}",
                entry=entry,
                at=now,
            )
    except IntegrityError:  # a double click racing itself
        return Thanks.objects.get(entry=entry, from_user=user), False
    return thanks, True


THANKED_EDITORS = 3


def credited_people(entry: Entry) -> list:
    """Who a thanks is for: the author and the people behind the last few revisions."""
    User = get_user_model()
    editor_ids = list(
        entry.revisions.exclude(editor=None)
        .order_by("-number")
        .values_list("editor_id", flat=True)[: THANKED_EDITORS * 4]
    )
    ids = list(dict.fromkeys([entry.author_id, *editor_ids]))
    ids = [pk for pk in ids if pk is not None][: THANKED_EDITORS + 1]
    return list(User.objects.filter(pk__in=ids))


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
        **_review_dates(record.state, created_at=created, changed_at=updated),
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


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def notify(
    recipients: Iterable,
    *,
    kind: str,
    actor,
    text: str,
    entry: Entry | None = None,
    question=None,
    at: datetime | None = None,
) -> list[Notification]:
    """Put one line in each recipient's inbox; nobody is told about their own action,
    and people who have left (inactive) are not told at all."""
    actor_id = actor.pk if actor else None
    people = {p.pk: p for p in recipients if p and p.is_active and p.pk != actor_id}
    now = at or timezone.now()
    return Notification.objects.bulk_create(
        Notification(
            recipient=person,
            kind=kind,
            actor=actor,
            text=text[:300],
            entry=entry,
            question=question,
            created_at=now,
        )
        for person in people.values()
    )


def mark_read(*, user, ids: Iterable[int] | None = None) -> int:
    """Mark some (or, with ``ids=None``, all) of a person's notifications read."""
    unread = Notification.objects.filter(recipient=user, read_at=None)
    if ids is not None:
        unread = unread.filter(pk__in=list(ids))
    return unread.update(read_at=timezone.now())


SEARCH_COALESCE_WINDOW = timedelta(seconds=60)


def log_search(
    *, user, text: str, result_count: int, source: str = SearchEvent.Source.PAGE
) -> SearchEvent:
    """Record a search someone ran (see DESIGN.md, "Search event").

    Search as you type sends a request at every pause: "reset", "reset rou", "reset
    router". Those are one search, so a query that extends or shortens the same person's
    previous one, within a minute and before they opened anything, updates that event
    instead of adding another. What they typed last is what is kept.
    """
    query = " ".join((text or "").split())[: search.MAX_QUERY_LENGTH]
    now = timezone.now()
    normalized = search.normalise_query(query)
    previous = (
        SearchEvent.objects.filter(
            user=user, source=source, created_at__gte=now - SEARCH_COALESCE_WINDOW
        )
        .only("pk", "query", "opened_entry_id", "reused")
        .first()
    )
    if previous and _same_search(previous, query):
        SearchEvent.objects.filter(pk=previous.pk).update(
            query=query, normalized=normalized, result_count=result_count, created_at=now
        )
        previous.query, previous.normalized, previous.result_count = query, normalized, result_count
        previous.created_at = now
        return previous
    return SearchEvent.objects.create(
        user=user,
        query=query,
        normalized=normalized,
        result_count=result_count,
        source=source,
        created_at=now,
    )


def _same_search(previous: SearchEvent, query: str) -> bool:
    if previous.opened_entry_id or previous.reused:
        return False
    old, new = previous.query.lower(), query.lower()
    return new.startswith(old) or old.startswith(new)


def search_opened(*, event_id: int | None, user, entry: Entry) -> None:
    """A result of the person's own search was opened; keep the first one opened."""
    if event_id:
        SearchEvent.objects.filter(pk=event_id, user=user, opened_entry=None).update(
            opened_entry=entry
        )


# --- Open questions ---

QUESTION_MIN_LENGTH = 3
ANSWER_STATES = (Entry.State.PUBLISHED, Entry.State.VALIDATED)


def _clean_question(text: str, details: str) -> tuple[str, str]:
    """The question single-spaced and the details trimmed, or ``ValidationError``."""
    text = " ".join((text or "").replace("\x00", " ").split())
    details = (details or "").replace("\x00", "").replace("\r\n", "\n").strip()
    errors: dict[str, str] = {}
    if len(text) < QUESTION_MIN_LENGTH:
        errors["text"] = "Write the question as a customer would ask it (a few words at least)."
    elif len(text) > QUESTION_MAX_LENGTH:
        errors["text"] = (
            f"Keep the question to {QUESTION_MAX_LENGTH} characters (it has {len(text)}); "
            "put the rest in the details."
        )
    if len(details) > QUESTION_DETAILS_MAX_LENGTH:
        errors["details"] = (
            f"Keep the details to {QUESTION_DETAILS_MAX_LENGTH:,} characters "
            f"(they have {len(details):,})."
        )
    if errors:
        raise ValidationError(errors)
    return text, details


def ask_question(*, user, text: str, details: str = "") -> tuple[Question, bool]:
    """Ask the floor; returns the question and whether it is new.

    When an open question already asks the same thing (same normalised text), that one
    is returned instead, and the person is recorded as wanting to know: the people told
    about an answer are the asker and everyone whose search for it found nothing, so
    a person without such a search gets one (their question is a search that found
    nothing useful).
    """
    text, details = _clean_question(text, details)
    normalized = search.normalise_query(text)
    now = timezone.now()
    existing = (
        Question.objects.filter(state=Question.State.OPEN, normalized=normalized)
        .exclude(normalized="")
        .select_related("asked_by")
        .order_by("created_at")
        .first()
    )
    if existing:
        wants_to_know = existing.asked_by_id == user.pk or (
            SearchEvent.objects.filter(user=user, normalized=normalized, result_count=0).exists()
        )
        if not wants_to_know:
            SearchEvent.objects.create(
                user=user, query=text, normalized=normalized, result_count=0, created_at=now
            )
        return existing, False
    question = Question.objects.create(
        text=text, details=details, normalized=normalized, asked_by=user, created_at=now
    )
    return question, True


def assign_question(*, question: Question, actor, assignee) -> Question:
    """A supervisor asks a rep to answer an open question; the rep is told."""
    if not can_supervise(actor):
        raise PermissionDenied("Only supervisors can assign questions.")
    if assignee is None or not assignee.is_active:
        raise ValidationError({"assignee": "Pick someone who is still on the floor."})
    now = timezone.now()
    with transaction.atomic():
        updated = Question.objects.filter(pk=question.pk, state=Question.State.OPEN).update(
            assigned_to=assignee, assigned_by=actor, assigned_at=now
        )
        if not updated:
            raise ValidationError({"question": "This question is no longer open."})
        question = Question.objects.select_related("asked_by", "assigned_to").get(pk=question.pk)
        notify(
            [assignee],
            kind=Notification.Kind.QUESTION_ASSIGNED,
            actor=actor,
            text=f"{actor.get_username()} asked you to answer “{_short(question.text)}”.",
            question=question,
            at=now,
        )
    return question


def answer_question(
    *, question: Question, user, content: EntryContent, state: str = Entry.State.PUBLISHED
) -> Entry:
    """Answer an open question with a new entry linked to it, and tell the asker and
    everyone whose search for it found nothing that the answer now exists.

    ``ValidationError`` keyed ``question`` when someone answered or closed it first
    (nothing is written), or keyed by the entry's fields when the content is invalid.
    """
    if state not in ANSWER_STATES:
        raise ValidationError({"state": "Publish the answer so the people waiting can read it."})
    if Question.objects.filter(pk=question.pk).values_list("state", flat=True).first() != (
        Question.State.OPEN
    ):
        raise ValidationError({"question": "Someone answered this question first."})
    with transaction.atomic():
        entry = capture_entry(author=user, content=content, state=state)
        now = entry.created_at
        # Conditional update: of two people answering at once, one wins, the other's
        # entry is rolled back and they are shown the winner's answer.
        updated = Question.objects.filter(pk=question.pk, state=Question.State.OPEN).update(
            state=Question.State.ANSWERED, answer_entry=entry, answered_by=user, answered_at=now
        )
        if not updated:
            raise ValidationError({"question": "Someone answered this question first."})
        question = Question.objects.select_related("asked_by").get(pk=question.pk)
        _tell_about_answer(question, entry=entry, answerer=user, at=now)
    return entry


def _tell_about_answer(question: Question, *, entry: Entry, answerer, at: datetime) -> None:
    name = answerer.get_username()
    quoted = _short(question.text)
    notify(
        [question.asked_by],
        kind=Notification.Kind.QUESTION_ANSWERED,
        actor=answerer,
        text=f"{name} answered your question “{quoted}”.",
        entry=entry,
        question=question,
        at=at,
    )
    if not question.normalized:
        return
    searchers = (
        get_user_model()
        .objects.filter(
            is_active=True,
            search_events__normalized=question.normalized,
            search_events__result_count=0,
        )
        .exclude(pk__in=[pk for pk in (question.asked_by_id, answerer.pk) if pk])
        .distinct()
    )
    notify(
        searchers,
        kind=Notification.Kind.SEARCH_ANSWERED,
        actor=answerer,
        text=f"The answer to “{quoted}”, which you searched for, now exists.",
        entry=entry,
        question=question,
        at=at,
    )


def close_question(*, question: Question, user, entry: Entry | None) -> Question:
    """The asker found the answer themselves ("found it"): the question closes, linked
    to that entry."""
    if question.asked_by_id != user.pk:
        raise PermissionDenied("Only the person who asked can close the question.")
    if entry is None or not Entry.objects.visible_to(user).filter(pk=entry.pk).exists():
        raise ValidationError({"entry": "Give the number of an entry you can open."})
    now = timezone.now()
    updated = Question.objects.filter(pk=question.pk, state=Question.State.OPEN).update(
        state=Question.State.CLOSED, answer_entry=entry, answered_at=now
    )
    if not updated:
        raise ValidationError({"question": "This question is no longer open."})
    return Question.objects.select_related("asked_by", "answer_entry").get(pk=question.pk)


# --- Flags and watching ---


def _flag_label(flag: Flag) -> str:
    """A flag's reason as a person reads it: "wrong", "a duplicate of #12"."""
    if flag.reason == Flag.Reason.DUPLICATE:
        return f"a duplicate of #{flag.duplicate_of_id}" if flag.duplicate_of_id else "a duplicate"
    return flag.get_reason_display().lower()


def flag_entry(
    *,
    entry: Entry,
    user,
    reason: str,
    comment: str = "",
    duplicate_of_id: int | None = None,
) -> tuple[Flag, bool]:
    """Say that ``entry`` needs attention ("flag it or fix it"); the owner is told.

    Returns the flag and whether it is new: the same person flagging the same reason
    while their flag is still open gets that flag back. A ``duplicate`` flag names
    another entry the person can see (``duplicate_of_id``); other reasons ignore it.
    """
    errors: dict[str, str] = {}
    if reason not in Flag.Reason.values:
        errors["reason"] = "Pick a reason: wrong, outdated, unclear or duplicate."
    comment = " ".join((comment or "").replace("\x00", " ").split())
    if len(comment) > FLAG_COMMENT_MAX_LENGTH:
        errors["comment"] = (
            f"Keep the comment to {FLAG_COMMENT_MAX_LENGTH:,} characters (it has {len(comment):,})."
        )
    duplicate_of = None
    if reason == Flag.Reason.DUPLICATE:
        if duplicate_of_id is None:
            errors["duplicate_of"] = "Give the number of the entry this one duplicates."
        elif duplicate_of_id == entry.pk:
            errors["duplicate_of"] = "That is this entry's own number; give the other entry's."
        else:
            duplicate_of = Entry.objects.visible_to(user).filter(pk=duplicate_of_id).first()
            if duplicate_of is None:
                errors["duplicate_of"] = (
                    f"There is no entry #{duplicate_of_id}. The number is in the entry's "
                    "address, /entries/<number>/."
                )
    if errors:
        raise ValidationError(errors)
    open_flags = Flag.objects.filter(entry=entry, raised_by=user, state=Flag.State.OPEN)
    if earlier := open_flags.filter(reason=reason).first():
        return earlier, False
    now = timezone.now()
    try:
        with transaction.atomic():
            flag = Flag.objects.create(
                entry=entry,
                reason=reason,
                duplicate_of=duplicate_of,
                comment=comment,
                raised_by=user,
                created_at=now,
            )
            quoted = f": “{_short(comment, 120)}”" if comment else "."
            notify(
                [entry.owner],
                kind=Notification.Kind.ENTRY_FLAGGED,
                actor=user,
                text=(
                    f"{user.get_username()} flagged your entry “{_short(entry.question)}” "
                    f"as {_flag_label(flag)}{quoted}"
                ),
                entry=entry,
                at=now,
            )
    except IntegrityError:  # a double click racing itself (flag_once_while_open)
        return open_flags.get(reason=reason), False
    return flag, True


def dismiss_flag(*, flag: Flag, actor, reason: str) -> Flag:
    """A supervisor closes a flag without an edit, saying why; the raiser is told."""
    if not can_supervise(actor):
        raise PermissionDenied("Only supervisors can dismiss flags.")
    reason = " ".join((reason or "").replace("\x00", " ").split())
    if flag.state != Flag.State.OPEN:
        raise ValidationError(
            {"flag": f"This flag is already closed ({flag.get_state_display().lower()})."}
        )
    if not reason:
        raise ValidationError({"reason": "Say why the flag is dismissed; the raiser is told."})
    if len(reason) > SUMMARY_MAX_LENGTH:
        raise ValidationError(
            {
                "reason": f"Keep the reason to {SUMMARY_MAX_LENGTH} characters "
                f"(it has {len(reason)})."
            }
        )
    now = timezone.now()
    with transaction.atomic():
        closed = Flag.objects.filter(pk=flag.pk, state=Flag.State.OPEN).update(
            state=Flag.State.DISMISSED, resolved_by=actor, resolved_at=now, dismiss_reason=reason
        )
        if not closed:  # closed by someone else a moment ago
            raise ValidationError({"flag": "This flag was closed a moment ago by someone else."})
        flag = Flag.objects.select_related("entry", "raised_by").get(pk=flag.pk)
        notify(
            [flag.raised_by],
            kind=Notification.Kind.FLAG_CLOSED,
            actor=actor,
            text=(
                f"{actor.get_username()} dismissed your flag on “{_short(flag.entry.question)}” "
                f"({_flag_label(flag)}): {_short(reason, 120)}"
            ),
            entry=flag.entry,
            at=now,
        )
    return flag


def _resolve_flags(entry: Entry, *, ids: Iterable[int], revision: Revision, editor, at) -> None:
    """Close the named open flags of ``entry`` as fixed by ``revision``, telling who raised
    each. Ids that are not open flags of this entry (closed meanwhile) are left alone."""
    wanted = {int(pk) for pk in ids}
    Flag.objects.filter(entry=entry, state=Flag.State.OPEN, pk__in=wanted).update(
        state=Flag.State.RESOLVED, resolution_revision=revision, resolved_by=editor, resolved_at=at
    )
    name = editor.get_username() if editor else "Someone"
    for flag in Flag.objects.filter(resolution_revision=revision).select_related("raised_by"):
        notify(
            [flag.raised_by],
            kind=Notification.Kind.FLAG_CLOSED,
            actor=editor,
            text=(
                f"{name} fixed “{_short(entry.question)}” in revision {revision.number}, "
                f"resolving your flag ({_flag_label(flag)})."
            ),
            entry=entry,
            at=at,
        )


def watch_entry(*, entry: Entry, user) -> bool:
    """Follow an entry, to be told when it changes; False if already watching."""
    _, created = Watch.objects.get_or_create(
        user=user, entry=entry, defaults={"created_at": timezone.now()}
    )
    return created


def unwatch_entry(*, entry: Entry, user) -> bool:
    """Stop following an entry; False if the person was not watching it."""
    deleted, _ = Watch.objects.filter(user=user, entry=entry).delete()
    return bool(deleted)


# --- Gaps ---


def assign_gap(*, normalized: str, text: str, actor, assignee) -> Question:
    """Ask a rep to close a gap: searches that found nothing, grouped by ``normalized``
    (``text`` is how someone typed it). The open question asking the same is reused, or
    one is asked by ``actor``; then it is assigned and the rep is told. All or nothing.
    """
    if not can_supervise(actor):
        raise PermissionDenied("Only supervisors can assign gaps.")
    normalized = (normalized or "").strip() or search.normalise_query(text or "")
    with transaction.atomic():
        question = (
            Question.objects.filter(state=Question.State.OPEN, normalized=normalized)
            .exclude(normalized="")
            .order_by("created_at")
            .first()
        )
        if question is None:
            question, _ = ask_question(user=actor, text=text)
        return assign_question(question=question, actor=actor, assignee=assignee)


# --- Ownership ---


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
            raise ValidationError({"owner": f"{entry.owner.get_username()} owns this entry."})
        raise ValidationError({"owner": "This entry can no longer be adopted."})
    return entry
