"""The admin: for managing teams and looking things up, not for writing knowledge.

Entries, questions, reuses and the rest are written through the site, where
``kb.actions`` keeps the revision history, the search index and notifications right.
Here they can be read, and a few plain fields (an entry's owner and review interval, a
question's wording, team members) changed. Records of what people did (revisions,
searches) cannot be changed; some can be deleted to clean up mistakes or abuse.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count

from kb import search
from kb.models import (
    Entry,
    Flag,
    Notification,
    Question,
    Reuse,
    Revision,
    SearchEvent,
    SynonymGroup,
    Team,
    Thanks,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never added or changed here. ``deletable`` allows deleting rows."""

    deletable = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.deletable and super().has_delete_permission(request, obj)


@admin.register(Entry)
class EntryAdmin(admin.ModelAdmin):
    list_display = ["question", "state", "owner", "updated_at"]
    list_filter = ["state"]
    search_fields = ["question"]
    list_select_related = ["owner"]
    date_hierarchy = "updated_at"
    raw_id_fields = ["owner"]
    fields = [
        "question",
        "answer",
        "state",
        "author",
        "owner",
        "version",
        ("created_at", "updated_at"),
        ("published_at", "validated_at", "validated_by"),
        ("review_interval_days", "review_due_at"),
    ]
    readonly_fields = [
        "question",
        "answer",
        "state",
        "author",
        "version",
        "created_at",
        "updated_at",
        "published_at",
        "validated_at",
        "validated_by",
    ]

    def has_add_permission(self, request) -> bool:
        return False  # written on the site, so they get a first revision and are indexed

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        search.index_after_commit([obj.pk])

    def delete_model(self, request, obj) -> None:
        pk = obj.pk
        super().delete_model(request, obj)
        search.index_after_commit([pk])  # gone from the database: removed from the index

    def delete_queryset(self, request, queryset) -> None:
        ids = list(queryset.values_list("pk", flat=True))
        super().delete_queryset(request, queryset)
        search.index_after_commit(ids)


@admin.register(Revision)
class RevisionAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "summary", "editor", "created_at"]
    list_select_related = ["editor"]
    search_fields = ["question", "summary"]
    date_hierarchy = "created_at"
    show_full_result_count = False


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "member_count"]
    search_fields = ["name"]
    filter_horizontal = ["members"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("members"))

    @admin.display(description="members", ordering="member_count")
    def member_count(self, team: Team) -> int:
        return team.member_count


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):
    list_display = ["text", "state", "asked_by", "created_at", "assigned_to", "answered_at"]
    list_filter = ["state"]
    search_fields = ["text"]
    list_select_related = ["asked_by", "assigned_to"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "state",
        "asked_by",
        "created_at",
        "assigned_to",
        "assigned_by",
        "assigned_at",
        "answer_entry",
        "answered_by",
        "answered_at",
    ]
    exclude = ["normalized"]

    def has_add_permission(self, request) -> bool:
        return False  # asked on the site (``/questions/ask/``)


@admin.register(Flag)
class FlagAdmin(ReadOnlyAdmin):
    list_display = ["entry", "reason", "state", "raised_by", "created_at"]
    list_filter = ["state", "reason"]
    list_select_related = ["entry", "raised_by"]
    date_hierarchy = "created_at"
    deletable = True


@admin.register(SearchEvent)
class SearchEventAdmin(ReadOnlyAdmin):
    list_display = ["query", "user", "result_count", "source", "reused", "created_at"]
    list_filter = ["source", "reused"]
    search_fields = ["query"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    show_full_result_count = False  # the search log is large


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["recipient", "kind", "text", "created_at", "read_at"]
    list_filter = ["kind"]
    list_select_related = ["recipient"]
    date_hierarchy = "created_at"
    deletable = True


@admin.register(Reuse)
class ReuseAdmin(ReadOnlyAdmin):
    list_display = ["entry", "user", "case_ref", "created_at"]
    search_fields = ["case_ref"]
    list_select_related = ["entry", "user"]
    date_hierarchy = "created_at"
    deletable = True


@admin.register(Thanks)
class ThanksAdmin(ReadOnlyAdmin):
    list_display = ["entry", "from_user", "note", "created_at"]
    list_select_related = ["entry", "from_user"]
    date_hierarchy = "created_at"
    deletable = True


@admin.register(SynonymGroup)
class SynonymGroupAdmin(ReadOnlyAdmin):
    """Kept on the site's synonyms page (``/review/synonyms/``), which applies them."""

    list_display = ["terms", "updated_by", "updated_at"]
    search_fields = ["terms"]
