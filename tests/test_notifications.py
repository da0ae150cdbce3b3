"""The inbox: who is told what, reading and marking read, and the count in the header."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kb import actions
from kb.actions import EntryContent
from kb.models import Notification
from tests.conftest import make_user
from tests.helpers import page_text

pytestmark = pytest.mark.django_db


def edit(entry, editor, answer: str):
    entry.refresh_from_db()
    return actions.edit_entry(
        entry=entry,
        editor=editor,
        base_version=entry.version,
        content=EntryContent(question=entry.question, answer=answer),
    )


def inbox_of(user) -> list[tuple[str, str]]:
    return [(n.kind, n.text) for n in Notification.objects.filter(recipient=user)]


def kinds_of(user) -> list[str]:
    return [kind for kind, _ in inbox_of(user)]


# -- who is told ---------------------------------------------------------------------


def test_flagging_tells_the_owner(rep, other_rep, others_entry):
    actions.flag_entry(entry=others_entry, user=rep, reason="wrong", comment="Step 2 is wrong")

    assert inbox_of(other_rep) == [
        (
            "entry_flagged",
            "rita flagged your entry “Porting a number to another network” as wrong: "
            "“Step 2 is wrong”",
        )
    ]
    assert inbox_of(rep) == []


def test_flagging_a_duplicate_names_the_other_entry(rep, other_rep, others_entry, make_entry):
    original = make_entry(question="Moving a number")

    actions.flag_entry(
        entry=others_entry, user=rep, reason="duplicate", duplicate_of_id=original.pk
    )

    assert f"as a duplicate of #{original.pk}." in inbox_of(other_rep)[0][1]


def test_owner_flagging_their_own_entry_is_not_told(other_rep, others_entry):
    actions.flag_entry(entry=others_entry, user=other_rep, reason="outdated")

    assert not Notification.objects.exists()


def test_resolving_a_flag_tells_who_raised_it(rep, other_rep, others_entry):
    flag, _ = actions.flag_entry(entry=others_entry, user=rep, reason="outdated")

    actions.edit_entry(
        entry=others_entry,
        editor=other_rep,
        base_version=1,
        content=EntryContent(question=others_entry.question, answer="Text PAC to 65075."),
        resolves=[flag.pk],
    )

    assert inbox_of(rep) == [
        (
            "flag_closed",
            "omar fixed “Porting a number to another network” in revision 2, "
            "resolving your flag (outdated).",
        )
    ]


def test_dismissing_a_flag_tells_who_raised_it_why(rep, supervisor, others_entry):
    flag, _ = actions.flag_entry(entry=others_entry, user=rep, reason="unclear")

    actions.dismiss_flag(flag=flag, actor=supervisor, reason="Clear enough for the floor")

    assert inbox_of(rep) == [
        (
            "flag_closed",
            "sam dismissed your flag on “Porting a number to another network” (unclear): "
            "Clear enough for the floor",
        )
    ]


def test_thanks_tell_the_author_and_the_last_editors(rep, other_rep, supervisor, others_entry):
    edit(others_entry, supervisor, "Give the PAC code; it is valid 30 days.")

    actions.thank_entry(entry=others_entry, user=rep, note="Saved a call")

    assert kinds_of(other_rep) == ["entry_thanked", "entry_edited"]
    assert kinds_of(supervisor) == ["entry_thanked"]
    assert inbox_of(other_rep)[0][1] == (
        "rita thanked you for “Porting a number to another network”: “Saved a call”"
    )
    assert kinds_of(rep) == []


def test_an_edit_by_someone_else_tells_the_owner(rep, other_rep, others_entry):
    edit(others_entry, rep, "Give the PAC code by text.")

    assert inbox_of(other_rep) == [
        ("entry_edited", "rita edited your entry “Porting a number to another network”.")
    ]


def test_the_owner_editing_their_own_entry_is_not_told(other_rep, others_entry):
    edit(others_entry, other_rep, "Give the PAC code by text.")

    assert not Notification.objects.exists()


def test_a_watched_entry_changing_tells_the_watcher(rep, other_rep, supervisor, others_entry):
    actions.watch_entry(entry=others_entry, user=rep)

    edit(others_entry, supervisor, "Give the PAC code by text.")

    assert inbox_of(rep) == [
        (
            "watched_changed",
            "sam changed “Porting a number to another network”, which you watch.",
        )
    ]


def test_a_watcher_is_not_told_of_their_own_edit(rep, others_entry):
    actions.watch_entry(entry=others_entry, user=rep)

    edit(others_entry, rep, "Give the PAC code by text.")

    assert kinds_of(rep) == []


def test_an_unwatched_entry_changing_tells_nobody_but_the_owner(rep, supervisor, others_entry):
    actions.watch_entry(entry=others_entry, user=rep)
    actions.unwatch_entry(entry=others_entry, user=rep)

    edit(others_entry, supervisor, "Give the PAC code by text.")

    assert kinds_of(rep) == []


def test_validating_tells_the_owner(other_rep, supervisor, others_entry):
    actions.change_state(
        entry=others_entry, actor=supervisor, state="validated", base_version=others_entry.version
    )

    assert inbox_of(other_rep) == [
        ("entry_validated", "sam validated “Porting a number to another network”.")
    ]


def test_people_who_left_are_not_told(rep, other_rep, others_entry):
    other_rep.is_active = False
    other_rep.save()

    actions.flag_entry(entry=others_entry, user=rep, reason="wrong")
    edit(others_entry, rep, "New answer.")

    assert not Notification.objects.exists()


# -- the inbox -----------------------------------------------------------------------


def send(user, text: str, *, entry=None, minutes_ago: int = 0, read: bool = False):
    at = timezone.now() - timedelta(minutes=minutes_ago)
    return Notification.objects.create(
        recipient=user,
        kind=Notification.Kind.ENTRY_EDITED,
        text=text,
        entry=entry,
        created_at=at,
        read_at=at if read else None,
    )


def test_inbox_lists_own_notifications_newest_first(rep_client, rep, other_rep):
    send(rep, "Older news", minutes_ago=30, read=True)
    send(rep, "Newer news", minutes_ago=1)
    send(other_rep, "Someone else's news")

    response = rep_client.get("/inbox/")

    text = page_text(response)
    assert response.status_code == 200
    assert text.index("Newer news") < text.index("Older news")
    assert "Someone else's news" not in text


def test_inbox_marks_unread_ones(rep_client, rep):
    unread = send(rep, "Fresh")
    read = send(rep, "Seen", read=True)

    html = rep_client.get("/inbox/").content.decode()

    items = dict(re.findall(r'<li class="notification( unread)?">.*?/inbox/(\d+)/', html, re.S))
    assert items == {" unread": str(unread.pk), "": str(read.pk)}
    assert "Unread: Fresh" in page_text(rep_client.get("/inbox/"))


def test_empty_inbox_explains_what_arrives_here(rep_client):
    text = page_text(rep_client.get("/inbox/"))

    assert "Nothing here yet." in text
    assert "Watch" in text


def test_inbox_is_paginated_by_50(rep_client, rep):
    for number in range(60):
        send(rep, f"Note {number:02d}", minutes_ago=number)

    first = page_text(rep_client.get("/inbox/"))
    second = page_text(rep_client.get("/inbox/", {"page": 2}))

    assert "Note 00" in first and "Note 49" in first and "Note 50" not in first
    assert "Note 50" in second and "Note 59" in second
    assert "Older →" in first and "Page 2 of 2" in second
    assert rep_client.get("/inbox/", {"page": "x"}).status_code == 200


@pytest.mark.parametrize("count", [3, 60])
def test_inbox_query_count_is_bounded(
    rep_client, rep, make_entry, count, django_assert_max_num_queries
):
    entry = make_entry()
    for number in range(count):
        send(rep, f"Note {number}", entry=entry)

    # session, user, two permission lookups (the menu), unread count, page count, page
    with django_assert_max_num_queries(7):
        response = rep_client.get("/inbox/")

    assert response.status_code == 200


def test_opening_a_notification_marks_it_read_and_goes_to_the_entry(rep_client, rep, entry):
    note = send(rep, "Look at this", entry=entry)

    response = rep_client.get(f"/inbox/{note.pk}/")

    assert response.status_code == 302
    assert response.url == entry.get_absolute_url()
    note.refresh_from_db()
    assert note.read_at is not None


def test_opening_a_notification_without_a_target_goes_to_the_inbox(rep_client, rep):
    note = send(rep, "General news")

    assert rep_client.get(f"/inbox/{note.pk}/").url == "/inbox/"


def test_someone_elses_notification_is_404(rep_client, other_rep):
    note = send(other_rep, "Private")

    assert rep_client.get(f"/inbox/{note.pk}/").status_code == 404
    note.refresh_from_db()
    assert note.read_at is None


def test_mark_one_read(rep_client, rep):
    first, second = send(rep, "One"), send(rep, "Two")

    response = rep_client.post("/inbox/read/", {"id": [first.pk]})

    assert response.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.read_at is not None
    assert second.read_at is None


def test_mark_read_cannot_touch_someone_elses(rep_client, other_rep):
    theirs = send(other_rep, "Private")

    rep_client.post("/inbox/read/", {"id": [theirs.pk]})
    rep_client.post("/inbox/read/", {"all": "1"})

    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_mark_all_read(rep_client, rep):
    send(rep, "One"), send(rep, "Two")

    response = rep_client.post("/inbox/read/", {"all": "1"}, follow=True)

    assert not Notification.objects.filter(recipient=rep, read_at=None).exists()
    assert "Everything in your inbox is marked read." in page_text(response)


def test_mark_read_by_htmx_returns_the_list_and_the_new_count(rep_client, rep):
    first = send(rep, "One")
    send(rep, "Two")

    response = rep_client.post("/inbox/read/", {"id": [first.pk]}, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'id="inbox-link"' in html and 'hx-swap-oob="true"' in html
    assert 'aria-label="Inbox, 1 unread"' in html


@pytest.mark.parametrize("data", [{}, {"id": "abc"}, {"id": ["1", "x"]}, {"all": "yes"}])
def test_mark_read_with_bad_ids_is_refused(rep_client, rep, data):
    note = send(rep, "One")

    assert rep_client.post("/inbox/read/", data).status_code == 400
    note.refresh_from_db()
    assert note.read_at is None


def test_mark_read_by_get_is_not_allowed(rep_client):
    assert rep_client.get("/inbox/read/").status_code == 405


# -- the header ----------------------------------------------------------------------


def test_header_shows_the_unread_count(rep_client, rep):
    send(rep, "One"), send(rep, "Two"), send(rep, "Seen", read=True)

    html = rep_client.get("/").content.decode()

    assert 'aria-label="Inbox, 2 unread"' in html
    assert re.search(r'href="/inbox/"[^>]*>Inbox <span class="badge">2</span>', html)


def test_header_shows_nothing_unread(rep_client):
    html = rep_client.get("/").content.decode()

    assert 'aria-label="Inbox, nothing unread"' in html
    assert 'class="badge"' not in html


def test_header_caps_a_large_count(rep_client, rep):
    Notification.objects.bulk_create(
        Notification(recipient=rep, kind="entry_edited", text="x", created_at=timezone.now())
        for _ in range(120)
    )

    assert 'aria-label="Inbox, 99+ unread"' in rep_client.get("/").content.decode()


def test_header_count_costs_one_query(rep_client, rep):
    send(rep, "One")

    with CaptureQueriesContext(connection) as queries:
        rep_client.get("/")

    counts = [q["sql"] for q in queries if "kb_notification" in q["sql"]]
    assert len(counts) == 1


def test_anonymous_pages_do_not_count(client):
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/accounts/login/")

    assert response.status_code == 200
    assert not [q for q in queries if "kb_notification" in q["sql"]]


def test_a_person_who_reads_the_inbox_sees_the_count_drop(client, rep):
    reader = make_user("rosa")
    send(reader, "Hello")
    client.force_login(reader)

    client.post("/inbox/read/", {"all": "1"})

    assert 'aria-label="Inbox, nothing unread"' in client.get("/inbox/").content.decode()
