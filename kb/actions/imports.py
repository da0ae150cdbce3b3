"""Bulk import of entries with their revisions (``import_entries``)."""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone
from taggit.models import Tag

from kb import search
from kb.actions.entries import _review_dates
from kb.models import (
    Entry,
    Revision,
    TaggedEntry,
)

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
                kind=Revision.Kind.CREATED,
                editor=entry.author,
                summary="Imported",
                created_at=entry.created_at,
            )
        ]
    previous = [None, *record.revisions[:-1]]
    return [
        Revision(
            entry=entry,
            number=revision.number,
            kind=revision.kind or _imported_kind(revision, before),
            **revision.content.revision_fields(),
            state=revision.state,
            editor=users.get(revision.editor),
            summary=revision.summary,
            created_at=revision.created or entry.created_at,
        )
        for revision, before in zip(record.revisions, previous, strict=True)
    ]


def _imported_kind(revision, before) -> str:
    """For histories that do not say what each save did (older exports): the first
    created the entry, one that left the content as it was only changed the state."""
    if before is None:
        return Revision.Kind.CREATED
    if revision.content.same_as(before.content):
        return Revision.Kind.STATE
    return Revision.Kind.EDITED
