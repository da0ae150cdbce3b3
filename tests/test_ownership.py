"""Ownership: orphaned entries, adopting one, and "my entries" with flags and review dates."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from kb import actions, reports
from kb.models import Entry, Flag, Reuse
from tests.helpers import page_text

pytestmark = pytest.mark.django_db


def leave(user) -> None:
    user.is_active = False
    user.save(update_fields=["is_active"])


@pytest.fixture
def orphan(make_entry, other_rep):
    entry = make_entry(question="Roaming charges abroad", author=other_rep)
    leave(other_rep)
    return entry


def adopt_url(entry) -> str:
    return f"/entries/{entry.pk}/adopt/"


def test_adopt_an_entry_whose_owner_left(rep_client, rep, orphan):
    response = rep_client.post(adopt_url(orphan), follow=True)

    orphan.refresh_from_db()
    assert orphan.owner == rep
    assert "You now own “Roaming charges abroad”" in page_text(response)
    assert response.redirect_chain[-1][0] == orphan.get_absolute_url()


def test_adopt_an_entry_without_owner(rep, make_entry, other_rep):
    entry = make_entry(author=other_rep)
    Entry.objects.filter(pk=entry.pk).update(owner=None)

    adopted = actions.adopt_entry(entry=entry, user=rep)

    assert adopted.owner == rep


def test_adopt_refused_when_owner_is_active(rep_client, make_entry, other_rep):
    entry = make_entry(author=other_rep)

    response = rep_client.post(adopt_url(entry), follow=True)

    entry.refresh_from_db()
    assert entry.owner == other_rep
    assert "omar owns this entry" in page_text(response)


def test_adopt_second_person_loses_the_race(rep, supervisor, orphan):
    stale = Entry.objects.get(pk=orphan.pk)  # loaded while still orphaned
    actions.adopt_entry(entry=orphan, user=supervisor)

    with pytest.raises(ValidationError, match="sam owns this entry"):
        actions.adopt_entry(entry=stale, user=rep)
    assert Entry.objects.get(pk=orphan.pk).owner == supervisor


def test_adopt_refused_for_archived_entries(rep, make_entry, other_rep):
    entry = make_entry(author=other_rep, state="archived")
    leave(other_rep)

    with pytest.raises(ValidationError, match="Archived entries need no owner"):
        actions.adopt_entry(entry=entry, user=rep)
    assert Entry.objects.get(pk=entry.pk).owner == other_rep


def test_adopt_someone_elses_draft_is_404(rep_client, make_entry, other_rep):
    draft = make_entry(author=other_rep, state="draft")
    leave(other_rep)

    response = rep_client.post(adopt_url(draft))

    assert response.status_code == 404
    assert Entry.objects.get(pk=draft.pk).owner == other_rep


def test_adopt_needs_post(rep_client, orphan):
    assert rep_client.get(adopt_url(orphan)).status_code == 405
    assert Entry.objects.get(pk=orphan.pk).owner.username == "omar"


def test_adopt_returns_to_the_orphaned_list(rep_client, orphan):
    response = rep_client.post(adopt_url(orphan), {"next": "/entries/orphaned/"})

    assert response["Location"] == "/entries/orphaned/"


def test_adopt_ignores_an_offsite_next(rep_client, orphan):
    response = rep_client.post(adopt_url(orphan), {"next": "https://evil.example/"})

    assert response["Location"] == orphan.get_absolute_url()


def test_orphaned_list_shows_only_usable_entries_without_owner(
    rep_client, make_entry, other_rep, orphan
):
    make_entry(question="Archived and ownerless", author=other_rep, state="archived")
    make_entry(question="A draft nobody else sees", author=other_rep, state="draft")
    make_entry(question="Someone still owns this")  # rita, active
    removed = make_entry(question="Owner account removed")
    Entry.objects.filter(pk=removed.pk).update(owner=None)

    response = rep_client.get("/entries/orphaned/")

    text = page_text(response)
    assert "Roaming charges abroad omar (left)" in text
    assert "Owner account removed removed" in text
    for hidden in ("Archived and ownerless", "A draft nobody else sees", "Someone still owns"):
        assert hidden not in text


def test_orphaned_list_puts_the_most_used_first(rep, make_entry, other_rep, orphan):
    later = make_entry(question="Updated later, never used", author=other_rep)
    Reuse.objects.create(entry=orphan, user=rep, created_at=timezone.now())

    assert [e.pk for e in reports.orphaned_entries()] == [orphan.pk, later.pk]


def test_orphaned_list_empty_state(rep_client):
    assert "No orphaned entries." in page_text(rep_client.get("/entries/orphaned/"))


def test_entry_page_offers_adoption_when_orphaned(rep_client, orphan):
    text = page_text(rep_client.get(orphan.get_absolute_url()))

    assert "Owner omar Owner has left — Adopt" in text


def test_entry_page_links_owner_to_profile(rep_client, entry):
    response = rep_client.get(entry.get_absolute_url())

    assert 'href="/people/rita/"' in response.content.decode()
    assert "Owner has left" not in page_text(response)


# --- My entries ---


def test_my_entries_shows_open_flags_review_dates_and_drafts(
    rep_client, rep, other_rep, make_entry
):
    now = timezone.now()
    flagged = make_entry(question="Flagged twice")
    for reason in ("wrong", "unclear"):
        Flag.objects.create(entry=flagged, reason=reason, raised_by=other_rep, created_at=now)
    Flag.objects.create(
        entry=flagged, reason="outdated", raised_by=other_rep, created_at=now, state="dismissed"
    )
    overdue = make_entry(question="Long unreviewed")
    Entry.objects.filter(pk=overdue.pk).update(review_due_at=now - timedelta(days=3))
    soon = make_entry(question="Due next week")
    Entry.objects.filter(pk=soon.pk).update(review_due_at=now + timedelta(days=7))
    make_entry(question="My half-written idea", state="draft")
    make_entry(question="Not mine", author=other_rep)
    Reuse.objects.create(entry=soon, user=other_rep, created_at=now)

    response = rep_client.get("/my/entries/")

    text = page_text(response)
    assert "4 entries 1 draft 2 open flags on 1 entry 1 review overdue 1 due within 14" in text
    overdue_date = (now - timedelta(days=3)).strftime("%-d %b %Y")
    assert f"Long unreviewed 0 Overdue since {overdue_date}" in text
    assert f"Due next week 0 Due {(now + timedelta(days=7)).strftime('%-d %b %Y')}" in text
    assert "Flagged twice 2" in text
    assert "Draft My half-written idea 0 Draft: publish it to start the review clock" in text
    assert "Not mine" not in text
    # flagged first, then the soonest review
    assert text.index("Flagged twice") < text.index("Long unreviewed") < text.index("Due next")


def test_my_entries_lists_an_adopted_entry(rep_client, orphan):
    rep_client.post(adopt_url(orphan))

    assert "Roaming charges abroad" in page_text(rep_client.get("/my/entries/"))


def test_my_entries_empty_state(client, other_rep):
    client.force_login(other_rep)

    assert "own any entries yet." in page_text(client.get("/my/entries/"))


def test_my_entries_queries_are_bounded(rep_client, rep, other_rep, django_assert_max_num_queries):
    def grow(count: int) -> None:
        for n in range(count):
            entry = actions.capture_entry(
                author=rep, content=actions.EntryContent(question=f"Q {count} {n}", answer="A")
            )
            Flag.objects.create(
                entry=entry, reason="wrong", raised_by=other_rep, created_at=timezone.now()
            )
            Reuse.objects.create(entry=entry, user=other_rep, created_at=timezone.now())

    grow(3)
    with django_assert_max_num_queries(10):
        assert rep_client.get("/my/entries/").status_code == 200
    grow(27)
    with django_assert_max_num_queries(10):
        assert "30 entries" in page_text(rep_client.get("/my/entries/"))


def test_orphaned_list_queries_are_bounded(
    rep_client, make_entry, other_rep, django_assert_max_num_queries
):
    def grow(count: int) -> None:
        for n in range(count):
            make_entry(question=f"Orphan {count} {n}", author=other_rep)
        Entry.objects.update(owner=None)

    grow(3)
    with django_assert_max_num_queries(10):
        assert rep_client.get("/entries/orphaned/").status_code == 200
    grow(27)
    with django_assert_max_num_queries(10):
        assert rep_client.get("/entries/orphaned/").status_code == 200
