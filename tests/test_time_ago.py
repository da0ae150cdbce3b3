from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from kb.models import Entry
from tests.helpers import page_text


def test_entry_updated_a_moment_ago_says_just_now(rep_client, entry):
    text = page_text(rep_client.get("/"))

    assert "just now" in text
    assert "0 minutes" not in text


def test_entry_updated_hours_ago_says_how_long_ago(rep_client, entry):
    Entry.objects.filter(pk=entry.pk).update(updated_at=timezone.now() - timedelta(hours=3))

    text = page_text(rep_client.get("/"))

    assert "3 hours ago" in text
    assert "just now" not in text
