"""The words of Floorbook (see DESIGN.md): data and its invariants, nothing more.

Writes go through ``kb.actions``; these models hold no business logic.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from taggit.managers import TaggableManager
from taggit.models import TaggedItemBase

QUESTION_MAX_LENGTH = 300  # what a person may write; imports may carry longer ones
QUESTION_STORED_MAX_LENGTH = 1_000
ANSWER_MAX_LENGTH = 50_000
CONTEXT_MAX_LENGTH = 5_000
SUMMARY_MAX_LENGTH = 200


class EntryQuerySet(models.QuerySet):
    def visible_to(self, user) -> EntryQuerySet:
        """Everything but other people's drafts."""
        return self.filter(~Q(state=Entry.State.DRAFT) | Q(author=user))

    def searchable(self) -> EntryQuerySet:
        return self.exclude(state=Entry.State.ARCHIVED)


class TaggedEntry(TaggedItemBase):
    """Tag links with a real foreign key, so tag joins and filters use an index."""

    content_object = models.ForeignKey("Entry", on_delete=models.CASCADE)


class Entry(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        VALIDATED = "validated", "Validated"
        ARCHIVED = "archived", "Archived"

    question = models.CharField(max_length=QUESTION_STORED_MAX_LENGTH)
    answer = models.TextField(max_length=ANSWER_MAX_LENGTH)
    answer_text = models.TextField(
        blank=True, editable=False, help_text="The answer as plain text, kept by every save."
    )
    also_asked = models.TextField(
        blank=True, help_text="Other ways customers ask this question, one a line."
    )
    environment = models.TextField(
        blank=True,
        max_length=CONTEXT_MAX_LENGTH,
        help_text="Product, plan or device this applies to.",
    )
    cause = models.TextField(
        blank=True, max_length=CONTEXT_MAX_LENGTH, help_text="Why this happens, if known."
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.PUBLISHED)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="authored_entries",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="owned_entries",
    )
    version = models.PositiveIntegerField(
        default=1, help_text="Bumped by every save; edits based on an older version conflict."
    )
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    tags = TaggableManager(through=TaggedEntry, blank=True)

    objects = EntryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "entries"
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["state", "-updated_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["draft", "published", "validated", "archived"]),
                name="entry_state_valid",
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="entry_version_positive"),
        ]
        permissions = [
            ("review_gaps", "Can review gaps, validate and archive entries"),
        ]

    def __str__(self) -> str:
        return self.question

    def get_absolute_url(self) -> str:
        return reverse("kb:entry", args=[self.pk])

    def tag_names(self) -> list[str]:
        """Tag names, sorted; uses prefetched tags when present."""
        return sorted(tag.name for tag in self.tags.all())


class Revision(models.Model):
    """A snapshot of an entry after one save. History is append-only."""

    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    question = models.CharField(max_length=QUESTION_STORED_MAX_LENGTH)
    answer = models.TextField()
    also_asked = models.TextField(blank=True)
    environment = models.TextField(blank=True)
    cause = models.TextField(blank=True)
    tags = models.JSONField(default=list)
    state = models.CharField(max_length=16, choices=Entry.State.choices)
    editor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="revisions"
    )
    summary = models.CharField(max_length=SUMMARY_MAX_LENGTH, blank=True)
    restored_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(fields=["entry", "number"], name="revision_number_unique"),
        ]

    def __str__(self) -> str:
        return f"#{self.entry_id} revision {self.number}"

    def get_absolute_url(self) -> str:
        return reverse("kb:revision", args=[self.entry_id, self.number])


class SynonymGroup(models.Model):
    """Words the floor uses for the same thing ("wifi, wi-fi, wireless"), kept by
    supervisors and applied when searching."""

    terms = models.CharField(max_length=500, help_text="Comma-separated equivalent words.")
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["terms"]

    def __str__(self) -> str:
        return self.terms

    def members(self) -> list[str]:
        return [term.strip() for term in self.terms.split(",") if term.strip()]


CASE_REF_MAX_LENGTH = 64


class Reuse(models.Model):
    """An entry helped on a call: who, when, the search that led there, the case."""

    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="reuses")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="reuses"
    )
    case_ref = models.CharField(max_length=CASE_REF_MAX_LENGTH, blank=True)
    query = models.CharField(max_length=500, blank=True, help_text="The search that led here.")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["entry", "-created_at"])]
        constraints = [
            # One reuse per entry and case: a second click for the same call does not count.
            models.UniqueConstraint(
                fields=["entry", "case_ref"],
                condition=~Q(case_ref=""),
                name="reuse_once_per_case",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.entry_id} reused by {self.user_id}"


THANKS_NOTE_MAX_LENGTH = 280


class Thanks(models.Model):
    """Gratitude from one rep for an entry, credited to its author and editors."""

    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="thanks")
    from_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="thanks_given"
    )
    note = models.CharField(max_length=THANKS_NOTE_MAX_LENGTH, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "thanks"
        constraints = [
            models.UniqueConstraint(fields=["entry", "from_user"], name="thanks_once_per_person"),
        ]

    def __str__(self) -> str:
        return f"{self.from_user_id} thanked #{self.entry_id}"
