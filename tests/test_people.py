"""Profiles and the floor leaderboard: credit for reuse and improvements, not entry counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from kb import actions, reports
from kb.actions import EntryContent
from kb.models import Entry, Question, Reuse, Thanks
from tests.conftest import make_user
from tests.helpers import page_text

pytestmark = pytest.mark.django_db

# A Wednesday: the week started on Monday 17 March, the month on 1 March.
NOW = datetime(2025, 3, 19, 12, 0, tzinfo=UTC)
THIS_WEEK = datetime(2025, 3, 18, 9, 0, tzinfo=UTC)
THIS_MONTH = datetime(2025, 3, 5, 9, 0, tzinfo=UTC)  # before this week
LAST_MONTH = datetime(2025, 2, 10, 9, 0, tzinfo=UTC)
LONG_AGO = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)


def write(author, question: str, *, at: datetime = LONG_AGO, state: str = "published") -> Entry:
    content = EntryContent(question=question, answer=f"The answer to {question}.")
    return actions.capture_entry(author=author, content=content, state=state, created_at=at)


def improve(entry: Entry, editor, *, at: datetime = LONG_AGO, words: str = "More detail.") -> Entry:
    entry.refresh_from_db()
    content = EntryContent(question=entry.question, answer=f"{entry.answer} {words}")
    return actions.edit_entry(
        entry=entry, editor=editor, base_version=entry.version, content=content, at=at
    )


def reuse(entry: Entry, user, *, at: datetime, times: int = 1) -> None:
    for _ in range(times):
        Reuse.objects.create(entry=entry, user=user, created_at=at)


@pytest.fixture
def pia(db):
    return make_user("pia")


@pytest.fixture
def history(rep, other_rep, supervisor, pia):
    """rita wrote "Router"; omar wrote "Porting", which rita improved twice and sam
    validated. Reuses and thanks from everyone, including rita's own."""
    router = write(rep, "Router lights blinking")
    write(rep, "Half-written idea", state="draft")
    porting = write(other_rep, "Porting a number")
    improve(porting, rep, words="Check the PAC code.")
    improve(porting, rep, words="It lasts 30 days.")
    improve(porting, other_rep, words="Author's own fix.")  # not an improvement: his entry
    porting.refresh_from_db()
    actions.change_state(
        entry=porting, actor=supervisor, state="validated", base_version=porting.version
    )
    reuse(router, other_rep, at=THIS_WEEK, times=2)  # rita +2
    reuse(router, rep, at=THIS_WEEK)  # her own: not counted
    reuse(porting, pia, at=THIS_MONTH)  # rita +1 (improved), omar +1
    reuse(porting, rep, at=LAST_MONTH)  # omar +1 only
    reuse(porting, supervisor, at=LAST_MONTH)  # rita +1, omar +1; sam validated: no credit
    Thanks.objects.create(entry=router, from_user=other_rep, note="Saved my call", created_at=NOW)
    Thanks.objects.create(entry=porting, from_user=pia, note="", created_at=NOW)
    Thanks.objects.create(entry=porting, from_user=rep, note="Nice", created_at=NOW)
    Question.objects.create(
        text="Where is the PAC form?",
        state=Question.State.ANSWERED,
        asked_by=pia,
        answered_by=rep,
        answer_entry=porting,
        created_at=LONG_AGO,
        answered_at=LONG_AGO,
    )
    return {"router": router, "porting": porting}


def test_profile_figures_on_a_known_history(history, rep):
    profile = reports.profile(rep, now=NOW)

    # Router: 2 by omar (her own use is not counted); Porting: pia and sam once each,
    # although rita made two revisions of it; rita's own use of Porting is not counted.
    assert (profile.reuses_week, profile.reuses_month, profile.reuses_all_time) == (2, 3, 4)
    assert profile.entries_written == 1  # the draft is not counted
    assert profile.improvements == 2
    assert profile.questions_answered == 1
    assert profile.thanks_received == 2  # omar on Router, pia on Porting; not her own
    assert [t.note for t in profile.recent_thanks if t.note] == ["Saved my call"]
    assert [e.question for e in profile.recent_entries] == ["Router lights blinking"]
    assert profile.recent_entries[0].reused_by_others == 2


def test_profile_of_the_author_counts_reuse_by_the_improver(history, other_rep):
    profile = reports.profile(other_rep, now=NOW)

    assert (profile.reuses_week, profile.reuses_month, profile.reuses_all_time) == (0, 1, 3)
    assert profile.improvements == 0  # editing his own entry is not an improvement
    assert profile.thanks_received == 2  # pia and rita on Porting


def test_state_changes_are_not_improvements_nor_credit(history, supervisor):
    profile = reports.profile(supervisor, now=NOW)

    assert (profile.improvements, profile.reuses_all_time, profile.thanks_received) == (0, 0, 0)


def test_profile_chart_has_twelve_weeks_of_others_reuses(history, rep):
    weeks = reports.profile(rep, now=NOW).reuse_weeks

    assert len(weeks) == 12
    assert weeks[-1] == (THIS_WEEK.date() - timedelta(days=1), 2)  # week of Monday 17 March
    assert sum(count for _, count in weeks) == 4


def test_profile_page_shows_impact_and_contributions(client, history, rep, other_rep):
    client.force_login(other_rep)

    response = client.get("/people/rita/")

    assert response.status_code == 200
    text = page_text(response)
    assert "All time 4" in text
    assert "Entries written 1" in text
    assert "Improvements made 2" in text
    assert "Questions answered 1" in text
    assert "Thanks received 2" in text
    assert "omar thanked them for Router lights blinking Saved my call" in text
    assert "Half-written idea" not in text
    assert "<svg" in response.content.decode()


def test_profile_chart_caption_gives_the_busiest_week(rep_client, rep, other_rep):
    entry = write(rep, "Router lights")
    reuse(entry, other_rep, at=timezone.now(), times=3)

    assert "; highest 3" in page_text(rep_client.get("/people/rita/"))


def test_profile_chart_caption_of_a_quiet_person_says_highest_0(rep_client, rep):
    write(rep, "Router lights")

    text = page_text(rep_client.get("/people/rita/"))

    assert "; highest 0" in text
    assert "; highest 1" not in text


def test_profile_note_is_escaped(client, rep, other_rep):
    entry = write(rep, "Router lights")
    Thanks.objects.create(
        entry=entry, from_user=other_rep, note="<script>alert(1)</script>", created_at=NOW
    )
    client.force_login(other_rep)

    body = client.get("/people/rita/").content.decode()

    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_profile_unknown_person_is_404(rep_client):
    assert rep_client.get("/people/nobody-here/").status_code == 404


def test_profile_of_someone_who_left_says_so(rep_client, other_rep):
    other_rep.is_active = False
    other_rep.save()

    text = page_text(rep_client.get("/people/omar/"))

    assert "omar has left the floor" in text


def test_own_profile_has_empty_states(rep_client):
    text = page_text(rep_client.get("/people/rita/"))

    assert "You have not written an entry yet" in text
    assert "No thanks yet" in text


def test_profile_needs_login(client, rep):
    response = client.get("/people/rita/")

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_profile_queries_are_bounded(client, rep, other_rep, django_assert_max_num_queries):
    client.force_login(other_rep)

    def grow(count: int) -> None:
        for n in range(count):
            entry = write(rep, f"Question number {n} {count}")
            improve(entry, other_rep)
            reuse(entry, other_rep, at=timezone.now())
            Thanks.objects.create(entry=entry, from_user=other_rep, created_at=timezone.now())

    grow(3)
    with django_assert_max_num_queries(14):
        assert client.get("/people/rita/").status_code == 200
    grow(27)
    with django_assert_max_num_queries(14):
        assert client.get("/people/rita/").status_code == 200


# --- Leaderboard ---


@pytest.fixture
def floor(db):
    """ana and bob each had 3 reuses this week, bob also improved an entry this week;
    eve ties with ana; cy had 5 reuses earlier this month; dee reuses and writes."""
    ana, bob, cy, dee, eve = (make_user(name) for name in ("ana", "bob", "cy", "dee", "eve"))
    reuse(write(ana, "A"), dee, at=THIS_WEEK, times=3)
    reuse(write(bob, "B"), dee, at=THIS_WEEK, times=3)
    reuse(write(eve, "E"), dee, at=THIS_WEEK, times=3)
    reuse(write(cy, "C"), dee, at=THIS_MONTH, times=5)
    reuse(write(cy, "C2"), dee, at=LAST_MONTH, times=9)  # outside both periods
    improve(write(dee, "D"), bob, at=THIS_WEEK)
    for n in range(6):  # many entries, never reused: entry counts do not rank
        write(dee, f"Unused {n}", at=THIS_WEEK)
    return {"ana": ana, "bob": bob, "cy": cy, "dee": dee, "eve": eve}


def rows_of(period: str) -> list[tuple]:
    return [
        (row.rank, row.person.username, row.reuses, row.improvements, row.entries_written)
        for row in reports.leaderboard(period, now=NOW)
    ]


def test_leaderboard_week_ranks_by_reuse_then_improvements_then_name(floor):
    assert rows_of("week") == [
        (1, "bob", 3, 1, 0),
        (2, "ana", 3, 0, 0),
        (2, "eve", 3, 0, 0),
        (4, "dee", 0, 0, 6),
    ]


def test_leaderboard_month_includes_earlier_weeks(floor):
    assert rows_of("month") == [
        (1, "cy", 5, 0, 0),
        (2, "bob", 3, 1, 0),
        (3, "ana", 3, 0, 0),
        (3, "eve", 3, 0, 0),
        (5, "dee", 0, 0, 6),
    ]


def test_leaderboard_counts_a_reuse_once_per_improver(rep, other_rep, pia):
    entry = write(rep, "Porting")
    improve(entry, other_rep, at=THIS_WEEK, words="One.")
    improve(entry, other_rep, at=THIS_WEEK, words="Two.")
    reuse(entry, pia, at=THIS_WEEK)
    reuse(entry, other_rep, at=THIS_WEEK)  # omar's own use: counts for rita only

    assert rows_of("week") == [(1, "rita", 2, 0, 0), (2, "omar", 1, 2, 0)]
    assert reports.profile(other_rep, now=NOW).reuses_week == 1


def test_leaderboard_leaves_out_people_who_left(floor):
    floor["bob"].is_active = False
    floor["bob"].save()

    assert "bob" not in [row[1] for row in rows_of("week")]


def test_leaderboard_page_toggles_week_and_month(rep_client, rep, other_rep):
    reuse(write(rep, "Router", at=timezone.now()), other_rep, at=timezone.now())

    week = rep_client.get("/people/")
    month = rep_client.get("/people/?period=month")

    assert week.status_code == month.status_code == 200
    assert "1 rita (you) 1 0 1" in page_text(week)
    assert 'aria-current="page" class="current">This month' in month.content.decode()


def test_leaderboard_page_refuses_an_unknown_period(rep_client):
    response = rep_client.get("/people/?period=<b>year</b>")

    assert response.status_code == 400
    assert "Choose this week or this month." in page_text(response)
    assert "<b>year" not in response.content.decode()


def test_leaderboard_empty_state(rep_client):
    assert "Nothing yet this week." in page_text(rep_client.get("/people/"))


def test_leaderboard_queries_are_bounded(rep_client, other_rep, django_assert_max_num_queries):
    def grow(count: int) -> None:
        for n in range(count):
            person = make_user(f"rep{count}x{n}")
            entry = write(person, f"Question {n}", at=timezone.now())
            improve(entry, other_rep, at=timezone.now())
            reuse(entry, other_rep, at=timezone.now())

    grow(3)
    with django_assert_max_num_queries(10):
        assert rep_client.get("/people/").status_code == 200
    grow(27)
    with django_assert_max_num_queries(10):
        assert rep_client.get("/people/?period=month").status_code == 200
