"""The words of Floorbook (see DESIGN.md): data and its invariants, nothing more.

Writes go through ``kb.actions``; these models hold no business logic.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
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
REVIEW_INTERVAL_DAYS = 180  # KCS: a usable entry is looked at again after this long


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
    published_at = models.DateTimeField(
        null=True, blank=True, help_text="When the entry first became usable (published)."
    )
    validated_at = models.DateTimeField(null=True, blank=True)
    validated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    review_interval_days = models.PositiveSmallIntegerField(
        default=REVIEW_INTERVAL_DAYS, help_text="How often this entry is due for a review."
    )
    review_due_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Next review date: set when published or validated, plus the interval.",
    )

    tags = TaggableManager(through=TaggedEntry, blank=True)

    objects = EntryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "entries"
        ordering = ["-updated_at"]
        indexes = [
            models.Index(fields=["state", "-updated_at"]),
            models.Index(fields=["state", "review_due_at"]),
        ]
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

    class Kind(models.TextChoices):
        """What the save did; created, edited and restored change what the entry says
        (and earn credit), a state change only moves it through the KCS states."""

        CREATED = "created", "Created"
        EDITED = "edited", "Edited"
        RESTORED = "restored", "Restored"
        STATE = "state", "State changed"

    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.EDITED)
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
    search_event = models.ForeignKey(
        "SearchEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="reuses"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["entry", "-created_at"]),
            models.Index(fields=["created_at"]),
        ]
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


class SearchEvent(models.Model):
    """One search a person ran, and what followed: the entry opened, whether it was reused.

    ``normalized`` is the query reduced to its sorted distinct stems (and tag filters), so
    "reset router", "router reset" and "how do I reset my router" are one gap.
    """

    class Source(models.TextChoices):
        PAGE = "page", "Search page"
        API = "api", "API"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="search_events",
    )
    query = models.CharField(max_length=500)
    normalized = models.CharField(max_length=500, blank=True)
    result_count = models.PositiveIntegerField()
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.PAGE)
    opened_entry = models.ForeignKey(
        Entry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reused = models.BooleanField(default=False)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # With ``reused`` (and the person), the KCS measures count searches and reuse
            # per period, week and team from these indexes alone.
            models.Index(fields=["created_at", "reused", "user"]),
            models.Index(fields=["user", "-created_at", "reused"]),
            models.Index(fields=["normalized", "created_at"]),
            # The gap review groups these rows by normalised query. Each partial index holds
            # the rows of one list with every column its queries read (the condition's
            # columns too, or SQLite would not read the index alone), so a list is one pass
            # over a small index in group order: no table reads, no sort before grouping.
            models.Index(
                fields=["normalized", "created_at", "user", "result_count"],
                condition=Q(result_count=0),
                name="searchevent_no_result_idx",
            ),
            models.Index(
                fields=[
                    "normalized",
                    "created_at",
                    "user",
                    "opened_entry",
                    "result_count",
                    "reused",
                ],
                condition=Q(result_count__gt=0, reused=False),
                name="searchevent_not_reused_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.query!r} ({self.result_count} results)"


QUESTION_DETAILS_MAX_LENGTH = 2_000


class Question(models.Model):
    """A question someone asked the floor and nobody has answered yet ("ask the floor")."""

    class State(models.TextChoices):
        OPEN = "open", "Open"
        ANSWERED = "answered", "Answered"
        CLOSED = "closed", "Closed by the asker"

    text = models.CharField(max_length=QUESTION_MAX_LENGTH)
    details = models.TextField(blank=True, max_length=QUESTION_DETAILS_MAX_LENGTH)
    normalized = models.CharField(max_length=500, blank=True, db_index=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    asked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="questions_asked",
    )
    created_at = models.DateTimeField()
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="questions_assigned",
    )
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    answer_entry = models.ForeignKey(
        Entry,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="answered_questions",
    )
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="questions_answered",
    )
    answered_at = models.DateTimeField(null=True, blank=True)
    followers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="questions_followed",
        help_text="People who asked the same and are told when it is answered.",
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "created_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["open", "answered", "closed"]), name="question_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(state="open") | Q(answered_at__isnull=False),
                name="question_resolved_has_time",
            ),
        ]

    def __str__(self) -> str:
        return self.text

    def get_absolute_url(self) -> str:
        return reverse("kb:question", args=[self.pk])


FLAG_COMMENT_MAX_LENGTH = 1_000


class Flag(models.Model):
    """A reason an entry needs attention ("flag it or fix it"), raised by anyone,
    resolved by an edit (linking its revision) or dismissed by a supervisor."""

    class Reason(models.TextChoices):
        WRONG = "wrong", "Wrong"
        OUTDATED = "outdated", "Outdated"
        UNCLEAR = "unclear", "Unclear"
        DUPLICATE = "duplicate", "Duplicate"

    class State(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved by an edit"
        DISMISSED = "dismissed", "Dismissed"

    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="flags")
    reason = models.CharField(max_length=16, choices=Reason.choices)
    duplicate_of = models.ForeignKey(
        Entry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    comment = models.TextField(blank=True, max_length=FLAG_COMMENT_MAX_LENGTH)
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="flags_raised"
    )
    created_at = models.DateTimeField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_revision = models.ForeignKey(
        Revision, null=True, blank=True, on_delete=models.SET_NULL, related_name="resolved_flags"
    )
    dismiss_reason = models.CharField(max_length=SUMMARY_MAX_LENGTH, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["state", "created_at"]),
            models.Index(fields=["entry", "state"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(reason__in=["wrong", "outdated", "unclear", "duplicate"]),
                name="flag_reason_valid",
            ),
            models.CheckConstraint(
                condition=~Q(reason="duplicate")
                | Q(duplicate_of__isnull=False)
                # the entry it duplicated may since have been deleted
                | ~Q(state="open"),
                name="flag_duplicate_names_entry",
            ),
            models.UniqueConstraint(
                fields=["entry", "raised_by", "reason"],
                condition=Q(state="open"),
                name="flag_once_while_open",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.entry_id} flagged {self.reason}"


class Watch(models.Model):
    """A person following an entry: they are told when it changes."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watches"
    )
    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="watches")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "entry"], name="watch_once"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} watches #{self.entry_id}"


class Notification(models.Model):
    """One line in a person's inbox; ``text`` is written when it is sent."""

    class Kind(models.TextChoices):
        QUESTION_ANSWERED = "question_answered", "Your question was answered"
        SEARCH_ANSWERED = "search_answered", "Something you searched for now has an answer"
        QUESTION_ASSIGNED = "question_assigned", "A question was assigned to you"
        ENTRY_FLAGGED = "entry_flagged", "Your entry was flagged"
        FLAG_CLOSED = "flag_closed", "A flag you raised was resolved or dismissed"
        ENTRY_THANKED = "entry_thanked", "Someone thanked you"
        ENTRY_EDITED = "entry_edited", "Your entry was edited"
        WATCHED_CHANGED = "watched_changed", "An entry you watch changed"
        ENTRY_VALIDATED = "entry_validated", "Your entry was validated"

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.CharField(max_length=300)
    entry = models.ForeignKey(Entry, null=True, blank=True, on_delete=models.CASCADE)
    question = models.ForeignKey(Question, null=True, blank=True, on_delete=models.CASCADE)
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["recipient", "read_at", "-created_at"])]

    def __str__(self) -> str:
        return self.text

    def target_url(self) -> str:
        if self.entry_id:
            return reverse("kb:entry", args=[self.entry_id])
        if self.question_id:
            return reverse("kb:question", args=[self.question_id])
        return reverse("kb:inbox")


class Team(models.Model):
    """A group of reps under one supervisor, for per-team KCS measures."""

    name = models.CharField(max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="teams")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SearchDocument(models.Model):
    """An entry as the PostgreSQL search backend indexes it (``KB_SEARCH_BACKEND=postgres``).

    Written in the same transaction as the entry, so a committed entry is searchable from
    every app server at once. ``vector`` holds the stems ``kb.search.text`` makes (the
    analysis the Whoosh backend uses), weighted A question, B "also asked as", C answer,
    environment and cause, and the tags as ``#tag`` lexemes for filtering. Its GIN index
    is created by migration 0010 on PostgreSQL only. Empty with the Whoosh backend.
    """

    entry = models.OneToOneField(
        Entry, primary_key=True, on_delete=models.CASCADE, related_name="+"
    )
    vector = SearchVectorField()
    state = models.CharField(max_length=16, choices=Entry.State.choices)
    author_id = models.BigIntegerField(null=True)
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            # Most recently updated first: browsing by tag, and the entries a query of
            # very common words ranks on a large site (kb.search.postgres_backend).
            models.Index(fields=["-updated_at", "-entry"], name="searchdocument_recent_idx"),
        ]

    def __str__(self) -> str:
        return f"search document of entry {self.entry_id}"


class SearchWord(models.Model):
    """A word the PostgreSQL search backend has indexed, as written (lowercased): the
    vocabulary typos are corrected against, through a trigram index (migration 0010)."""

    word = models.CharField(max_length=64, primary_key=True)

    def __str__(self) -> str:
        return self.word


class IndexBacklog(models.Model):
    """An entry whose latest save the search index may not hold yet.

    Written in the same transaction as the save and deleted once the index has it
    (``kb.search.service``), so an index that was broken, locked or missing when the save
    committed, or a process that died in between, never loses an entry: the next
    successful index write, or the periodic check searches make, catches it up.
    ``entry_id`` is no foreign key: a deleted entry's row tells the index to drop it.
    """

    entry_id = models.BigIntegerField()
    queued_at = models.DateTimeField(db_index=True)

    class Meta:
        verbose_name_plural = "index backlog"

    def __str__(self) -> str:
        return f"entry {self.entry_id} awaiting indexing"
