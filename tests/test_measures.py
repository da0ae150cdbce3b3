"""KCS measures (issue 4, item 10), each computed on a small history written out by hand.

The period is Monday 3 March to Sunday 16 March 2025: two weekly buckets, the week of
3 March ("week 1") and the week of 10 March ("week 2"). Every row below has an explicit
time; a few fall outside the period to prove they are left out.

People: rita, omar and tess are active reps; ivan is a rep who left (inactive); sam
is a supervisor. Team North is rita and tess; team South is omar.

Entries (revision 1 is the creation, by the author, at creation time):
  E1 rita, created 4 Mar 10:00, published 4 Mar 12:00 (2 h); rita edits it 10 Mar
  E2 omar, draft created 11 Mar 09:00; omar publishes it 12 Mar 09:00 (24 h)
  E3 rita, created 20 Feb (before); tess edits 25 Feb (before); sam validates 5 Mar
     (a state change); omar edits it 12 Mar and 13 Mar
  E5 ivan (inactive), draft created 6 Mar
  E6 rita, created 17 Mar 00:00 (the first instant after the period)
  E7 tess, draft created 28 Feb 10:00; tess publishes it 10 Mar 10:00 (240 h)
Searches: rita 4 Mar (reused), rita 4 Mar, omar 11 Mar (reused), tess 12 Mar,
  tess 13 Mar; omar 28 Feb (reused, before)
Reuses: rita E3 4 Mar case C-1, omar E3 11 Mar, omar E1 12 Mar case C-2, tess E3
  13 Mar; rita E3 26 Feb case C-0 (before)
Flags: tess on E1 6 Mar, rita on E3 12 Mar (dismissed since); omar 10 Feb (before)
Questions: Q1 asked 3 Mar 09:00, answered by omar 3 Mar 13:00 (4 h); Q2 asked 27 Feb
  09:00, answered by rita 11 Mar 09:00 (288 h); Q3 closed by its asker 6 Mar (left
  out); Q4 answered 20 Mar (after); Q5 still open.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from kb import actions, reports
from kb.actions import EntryContent
from kb.models import Entry, Flag, Question, Reuse, Revision, SearchEvent, Team
from tests.conftest import make_user
from tests.helpers import page_text

URL = "/review/measures/"
PERIOD = {"since": "2025-03-03", "until": "2025-03-16"}
WEEK_1, WEEK_2 = date(2025, 3, 3), date(2025, 3, 10)


@pytest.fixture(autouse=True)
def utc(settings):
    """The durations above are in wall-clock hours: no daylight saving change inside them."""
    settings.TIME_ZONE = "UTC"


def at(moment: str) -> datetime:
    return timezone.make_aware(datetime.fromisoformat(f"2025-{moment}"))


def period() -> dict:
    return {"since": at("03-03 00:00"), "until": at("03-17 00:00")}


def make_entry_row(author, created: str, *, published: str | None = None, **extra) -> Entry:
    entry = Entry.objects.create(
        question=f"Question by {author.username} on {created}",
        answer="An answer.",
        state=Entry.State.PUBLISHED if published else Entry.State.DRAFT,
        author=author,
        owner=author,
        created_at=at(created),
        updated_at=at(created),
        published_at=at(published) if published else None,
        **extra,
    )
    save_revision(entry, 1, author, created, summary="Created")
    return entry


def save_revision(entry: Entry, number: int, editor, when: str, summary: str = "") -> Revision:
    """A revision as the actions record it: the first creates, "A → B" moves state."""
    if number == 1:
        kind = Revision.Kind.CREATED
    else:
        kind = Revision.Kind.STATE if "→" in summary else Revision.Kind.EDITED
    return Revision.objects.create(
        entry=entry,
        number=number,
        kind=kind,
        question=entry.question,
        answer=entry.answer,
        state=entry.state,
        editor=editor,
        summary=summary,
        created_at=at(when),
    )


@pytest.fixture
def people(rep, other_rep, supervisor):
    tess = make_user("tess")
    ivan = make_user("ivan", is_active=False)
    north = Team.objects.create(name="North")
    north.members.set([rep, tess])
    south = Team.objects.create(name="South")
    south.members.set([other_rep])
    return {"rita": rep, "omar": other_rep, "tess": tess, "ivan": ivan, "sam": supervisor}


@pytest.fixture
def history(people):
    rita, omar, tess, ivan, sam = (people[name] for name in ("rita", "omar", "tess", "ivan", "sam"))
    e1 = make_entry_row(
        rita, "03-04 10:00", published="03-04 12:00", validated_at=at("03-18 09:00")
    )
    save_revision(e1, 2, rita, "03-10 15:00")  # an edit with no summary
    e2 = make_entry_row(omar, "03-11 09:00", published="03-12 09:00")
    save_revision(e2, 2, omar, "03-12 09:00", "Draft → Published")
    e3 = make_entry_row(
        rita,
        "02-20 10:00",
        published="02-20 10:00",
        validated_at=at("03-05 11:00"),
        validated_by=sam,
    )
    save_revision(e3, 2, tess, "02-25 10:00", "Clearer steps")
    save_revision(e3, 3, sam, "03-05 11:00", "Published → Validated")
    save_revision(e3, 4, omar, "03-12 14:00", "Fixed the steps")
    save_revision(e3, 5, omar, "03-13 14:00", "Typo")
    make_entry_row(ivan, "03-06 10:00")
    make_entry_row(rita, "03-17 00:00", published="03-17 00:00")
    e7 = make_entry_row(tess, "02-28 10:00", published="03-10 10:00")
    save_revision(e7, 2, tess, "03-10 10:00", "Draft → Published")

    for user, when, reused in [
        (rita, "03-04 09:00", True),
        (rita, "03-04 09:30", False),
        (omar, "03-11 10:00", True),
        (tess, "03-12 10:00", False),
        (tess, "03-13 10:00", False),
        (omar, "02-28 10:00", True),
    ]:
        SearchEvent.objects.create(
            user=user, query="router", result_count=3, reused=reused, created_at=at(when)
        )
    for entry, user, when, case in [
        (e3, rita, "03-04 09:01", "C-1"),
        (e3, omar, "03-11 10:01", ""),
        (e1, omar, "03-12 10:00", "C-2"),
        (e3, tess, "03-13 10:01", ""),
        (e3, rita, "02-26 10:00", "C-0"),
    ]:
        Reuse.objects.create(entry=entry, user=user, case_ref=case, created_at=at(when))
    for entry, user, when, state in [
        (e1, tess, "03-06 10:00", Flag.State.OPEN),
        (e3, rita, "03-12 10:00", Flag.State.DISMISSED),
        (e3, omar, "02-10 10:00", Flag.State.OPEN),
    ]:
        Flag.objects.create(
            entry=entry, reason="unclear", raised_by=user, created_at=at(when), state=state
        )

    answered, closed = Question.State.ANSWERED, Question.State.CLOSED
    for asked, state, answered_at, answerer in [
        ("03-03 09:00", answered, "03-03 13:00", omar),
        ("02-27 09:00", answered, "03-11 09:00", rita),
        ("03-05 09:00", closed, "03-06 09:00", tess),
        ("03-01 09:00", answered, "03-20 09:00", rita),
        ("03-04 09:00", Question.State.OPEN, None, None),
    ]:
        Question.objects.create(
            text=f"Asked {asked}",
            state=state,
            asked_by=tess,
            created_at=at(asked),
            answered_at=at(answered_at) if answered_at else None,
            answered_by=answerer,
        )
    return people


def measures(team: Team | None = None) -> reports.Measures:
    return reports.kcs_measures(**period(), team=team)


# --- the figures, whole floor ---


def test_participation_counts_active_reps_who_created_or_improved(history):
    figures = measures().figures
    # rita created E1, omar created E2 and edited E3; tess only published a draft (a
    # state change) and edited before the period; ivan is inactive, sam not a rep.
    # 2 of 3 active reps → 66.7%
    assert figures.participation == reports.Ratio(2, 3)
    assert figures.participation.percent == 66.7


def test_reuse_rate_is_searches_followed_by_a_reuse(history):
    # 5 searches in the period (the one on 28 Feb is out), 2 followed by a reuse → 40%
    assert measures().figures.reuse_rate == reports.Ratio(2, 5)
    assert measures().figures.reuse_rate.percent == 40


def test_link_rate_is_reuses_with_a_case_reference(history):
    # 4 reuses in the period (C-0 on 26 Feb is out); C-1 and C-2 are linked → 2 of 4 → 50%
    assert measures().figures.link_rate == reports.Ratio(2, 4)
    assert measures().figures.link_rate.percent == 50


def test_known_vs_new_compares_reuses_with_entries_created(history):
    # known: 4 reuses; new: 3 entries created (E1, E2, E5; E6 is just after) → 4 / 7 = 57.1%
    assert measures().figures.known == reports.Ratio(4, 7)
    assert measures().figures.known.percent == 57.1


def test_time_to_publish_is_the_median_over_entries_first_published(history):
    # first published in the period: E1 after 2 h, E2 after 24 h, E7 after 240 h
    # (E3 published before, E6 after) → median 24 h
    assert measures().figures.time_to_publish == timedelta(hours=24)


def test_time_to_answer_is_the_median_over_questions_answered(history):
    # answered in the period: Q1 after 4 h, Q2 after 288 h (Q3 was closed by its asker,
    # Q4 answered after the period) → median (4 + 288) / 2 = 146 h
    assert measures().figures.time_to_answer == timedelta(hours=146)


def test_activity_counts(history):
    figures = measures().figures
    assert figures.created == 3  # E1, E2, E5 (ivan's draft counts; E6 and E7 do not)
    assert figures.improved == 2  # E1 (rita's edit), E3 (omar's two edits count once)
    assert figures.flagged == 2  # tess's and rita's; omar's was raised in February
    assert figures.validated == 1  # E3 on 5 Mar; E1's validation is on 18 Mar


def test_improved_counts_edits_but_not_state_changes(rep, supervisor, make_entry):
    entry = make_entry(author=rep)  # created now, outside the period
    validated = actions.change_state(
        entry=entry,
        actor=supervisor,
        state="validated",
        base_version=entry.version,
        at=at("03-04 10:00"),
    )
    figures = measures().figures
    # only a state change (Published → Validated) in the period: nothing improved
    assert (figures.improved, figures.participation.part, figures.validated) == (0, 0, 1)

    actions.edit_entry(
        entry=validated,
        editor=rep,
        base_version=validated.version,
        content=EntryContent(question=entry.question, answer="Hold it for 30 seconds."),
        at=at("03-05 10:00"),
    )
    figures = measures().figures
    # one edit by rita → 1 entry improved, 1 of 1 active reps participated → 100%
    assert (figures.improved, figures.participation) == (1, reports.Ratio(1, 1))


# --- per team ---


def test_team_figures_count_what_its_members_did(history):
    north = measures(Team.objects.get(name="North")).figures
    # North is rita and tess: rita created E1 → 1 of 2 reps → 50%
    assert north.participation == reports.Ratio(1, 2)
    # their searches: two by rita, two by tess; rita's first was reused → 1 of 4 → 25%
    assert north.reuse_rate == reports.Ratio(1, 4)
    # their reuses: rita C-1, tess (no case) → 1 of 2 → 50%
    assert north.link_rate == reports.Ratio(1, 2)
    # 2 reuses, 1 entry created (E1) → 2 / 3 → 66.7%
    assert north.known == reports.Ratio(2, 3)
    # E1 (2 h) and E7 (240 h) → median 121 h; Q2 answered by rita → 288 h
    assert north.time_to_publish == timedelta(hours=121)
    assert north.time_to_answer == timedelta(hours=288)
    # E1 created; E1 improved by rita; flags by tess and rita; sam validated, not them
    assert (north.created, north.improved, north.flagged, north.validated) == (1, 1, 2, 0)


def test_team_comparison_gives_each_team_its_figures(history):
    teams = list(Team.objects.order_by("name"))
    comparison = reports.team_comparison(**period(), teams=teams)
    (north, north_figures), (south, south_figures) = comparison.rows
    assert (north.name, south.name) == ("North", "South")
    assert north_figures == measures(north).figures
    # South is omar: created E2, edited E3 → 1 of 1 → 100%; 1 search, reused → 100%;
    # reuses: E3 (no case), E1 C-2 → 1 of 2 → 50%; 2 reuses, 1 new → 66.7%; E2 took 24 h;
    # he answered Q1 in 4 h; improved E3; no flags, no validations
    assert south_figures == reports.Figures(
        participation=reports.Ratio(1, 1),
        reuse_rate=reports.Ratio(1, 1),
        link_rate=reports.Ratio(1, 2),
        known=reports.Ratio(2, 3),
        time_to_publish=timedelta(hours=24),
        time_to_answer=timedelta(hours=4),
        created=1,
        improved=1,
        flagged=0,
        validated=0,
    )


def test_a_person_in_two_teams_counts_in_both(history):
    Team.objects.get(name="South").members.add(history["rita"])
    teams = list(Team.objects.order_by("name"))
    rows = dict(reports.team_comparison(**period(), teams=teams).rows)
    north, south = rows.values()
    # rita's entry E1 now counts for North and for South (omar's E2 + rita's E1)
    assert (north.created, south.created) == (1, 2)
    assert south.participation == reports.Ratio(2, 2)


# --- weekly series ---


def test_weekly_series_land_in_the_right_weeks(history):
    weekly = measures().weekly
    # week 1: rita's 2 searches, 1 reused → 50%; week 2: omar 1 (reused) + tess 2 → 33.3%
    assert weekly.reuse_rate == [(WEEK_1, 50), (WEEK_2, 33.3)]
    # week 1: rita created E1 → 1 of 3 reps; week 2: rita edited E1, omar E2/E3 → 2 of 3
    assert weekly.participation == [(WEEK_1, 33.3), (WEEK_2, 66.7)]
    # week 1: C-1 of 1 reuse → 100%; week 2: C-2 of 3 reuses → 33.3%
    assert weekly.link_rate == [(WEEK_1, 100), (WEEK_2, 33.3)]
    # week 1: 1 reuse, 2 new (E1, E5) → 33.3%; week 2: 3 reuses, 1 new (E2) → 75%
    assert weekly.known == [(WEEK_1, 33.3), (WEEK_2, 75)]
    # published week 1: E1 (2 h); week 2: E7 (240 h) and E2 (24 h) → median 132 h
    assert weekly.time_to_publish == [(WEEK_1, 2), (WEEK_2, 132)]
    assert weekly.time_to_answer == [(WEEK_1, 4), (WEEK_2, 288)]
    assert weekly.created == [(WEEK_1, 2), (WEEK_2, 1)]
    assert weekly.improved == [(WEEK_1, 0), (WEEK_2, 2)]
    assert weekly.flagged == [(WEEK_1, 1), (WEEK_2, 1)]
    assert weekly.validated == [(WEEK_1, 1), (WEEK_2, 0)]


def test_weekly_buckets_follow_local_mondays(settings, rep, entry):
    settings.TIME_ZONE = "America/New_York"  # clocks went forward on Sunday 9 March 2025
    for moment in [
        "02-24 00:00",  # the first instant of the period
        "03-02 23:59",
        "03-03 00:00",
        "03-10 00:30",  # the first Monday after the change
        "03-16 23:59",
        "03-23 23:59",
        "03-24 00:00",  # the first instant after it
    ]:
        Flag.objects.create(
            entry=entry, reason="wrong", raised_by=rep, created_at=at(moment), state="resolved"
        )
    result = reports.kcs_measures(since=at("02-24 00:00"), until=at("03-24 00:00"))
    assert result.weekly.flagged == [
        (date(2025, 2, 24), 2),
        (date(2025, 3, 3), 1),
        (date(2025, 3, 10), 2),
        (date(2025, 3, 17), 1),
    ]
    assert result.figures.flagged == 6


def test_weekly_rate_without_anything_to_divide_is_none(people):
    SearchEvent.objects.create(
        user=people["rita"], query="x", result_count=0, created_at=at("03-11 10:00")
    )
    # no search in week 1: no rate at all (not 0%); week 2: 0 of 1 → 0%
    assert measures().weekly.reuse_rate == [(WEEK_1, None), (WEEK_2, 0)]


# --- the page ---


def test_page_shows_each_figure_with_its_definition(history, supervisor_client):
    response = supervisor_client.get(URL, PERIOD)
    assert response.status_code == 200
    text = page_text(response)
    assert "for the whole floor from 3 Mar 2025 to 16 Mar 2025" in text
    assert "Participation rate 66.7% 2 of 3 active reps created or improved an entry" in text
    assert "Reuse rate 40% 2 of 5 searches were followed by a reuse" in text
    assert "Link rate 50% 2 of 4 reuses carry a case reference" in text
    assert "Known vs new 57.1% 4 reuses of known entries, 3 new entries" in text
    assert "Time to publish (median) 24 h" in text
    assert "Time to answer a question (median) 6.1 days" in text  # 146 h
    assert "Entries created 3" in text
    assert "Entries improved 2" in text
    assert "Flags raised 2" in text
    assert "Entries validated 1" in text
    assert text.count("How is this counted?") == 10
    assert "does not count" in text  # the participation rule: state changes
    assert response.content.decode().count('class="chart"') == 10
    assert 'href="/review/"' in response.content.decode()


def test_page_compares_teams_side_by_side(history, supervisor_client):
    text = page_text(supervisor_client.get(URL, PERIOD))
    assert (
        "Whole floor (shown above) 66.7% 40% 50% 57.1% 24 h 6.1 days 3 2 2 1 "
        "North 50% 25% 50% 66.7% 5 days 12 days 1 1 2 0 "
        "South 100% 100% 50% 66.7% 24 h 4 h 1 1 0 0"
    ) in text


def test_page_for_a_team_shows_its_figures(history, supervisor_client):
    north = Team.objects.get(name="North")
    response = supervisor_client.get(URL, {**PERIOD, "team": north.pk})
    text = page_text(response)
    assert "for team North from 3 Mar 2025 to 16 Mar 2025" in text
    assert "Participation rate 50% 1 of 2 active reps" in text
    assert "Reuse rate 25% 1 of 4 searches" in text
    assert f'<option value="{north.pk}" selected>North</option>' in response.content.decode()


def test_empty_period_shows_dashes_not_errors(people, supervisor_client):
    response = supervisor_client.get(URL, PERIOD)
    assert response.status_code == 200
    text = page_text(response)
    assert "Participation rate 0% 0 of 3 active reps" in text
    assert "Reuse rate — No searches in this period" in text
    assert "Link rate — No reuses in this period" in text
    assert "Known vs new — No reuses and no new entries in this period" in text
    assert "Time to publish (median) — No entry was first published" in text
    assert "Time to answer a question (median) — No open question was answered" in text
    assert "Entries created 0" in text


def test_floor_without_reps_or_teams_says_so(supervisor_client):
    text = page_text(supervisor_client.get(URL, PERIOD))
    assert "Participation rate — No active reps" in text
    assert "No teams yet." in text


def test_default_period_is_the_last_eight_weeks(supervisor_client):
    today = timezone.localdate()
    monday = today - timedelta(days=today.weekday())
    response = supervisor_client.get(URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert f'value="{(monday - timedelta(weeks=7)).isoformat()}"' in body
    assert f'value="{today.isoformat()}"' in body
    assert body.count('<rect class="bar"') == 10 * 8


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "2025-13-01"}, "Enter dates as YYYY-MM-DD"),
        ({"until": "yesterday"}, "Enter dates as YYYY-MM-DD"),
        ({"since": "2025-03-16", "until": "2025-03-03"}, "The start date is after the end date."),
        ({"since": "2020-01-01", "until": "2025-03-03"}, "Pick a period of at most two years."),
        ({"since": "1899-01-01", "until": "1899-02-01"}, "Pick a date between 2000 and 2100."),
        ({"until": "9999-12-31"}, "Pick a date between 2000 and 2100."),
        ({"team": "999"}, "That team does not exist (any more)"),
        ({"team": "<b>north</b>"}, "That team does not exist (any more)"),
    ],
)
def test_bad_period_or_team_is_refused_with_a_message(supervisor_client, params, message):
    response = supervisor_client.get(URL, params)
    assert response.status_code == 400
    assert message in page_text(response)
    assert "How is this counted?" not in page_text(response)


def test_too_many_teams_are_not_compared(people, supervisor_client):
    Team.objects.bulk_create(Team(name=f"Team {n:02}") for n in range(19))  # 21 in all
    text = page_text(supervisor_client.get(URL, PERIOD))
    assert "There are 21 teams, more than 20 to compare side by side." in text


def test_reps_are_refused(rep_client):
    assert rep_client.get(URL).status_code == 403


def test_anonymous_people_are_sent_to_log_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_page_is_get_only(supervisor_client):
    assert supervisor_client.post(URL).status_code == 405


def more_history(people, copies: int) -> None:
    """``copies`` more of every kind of row, inside the period, spread over both weeks."""
    rita, omar = people["rita"], people["omar"]
    for n in range(copies):
        day = f"03-{4 + n % 10:02} 10:00"
        entry = make_entry_row(rita, day, published=day)
        save_revision(entry, 2, omar, day, "More")
        SearchEvent.objects.create(user=omar, query="q", result_count=1, created_at=at(day))
        Reuse.objects.create(entry=entry, user=omar, case_ref=f"X-{n}", created_at=at(day))
        Flag.objects.create(entry=entry, reason="wrong", raised_by=rita, created_at=at(day))
        Question.objects.create(
            text="q", state="answered", created_at=at(day), answered_at=at(day), answered_by=omar
        )
    Team.objects.bulk_create(Team(name=f"Extra {n}") for n in range(copies))


@pytest.mark.parametrize("copies", [3, 12])
def test_page_queries_are_bounded(
    history, supervisor_client, django_assert_max_num_queries, copies
):
    more_history(history, copies)
    # 4 for the session, user and permissions; 1 for the teams; 9 for the figures and 6
    # for their weekly series; 9 for the team comparison; 1 for the header's inbox count
    with django_assert_max_num_queries(30):
        response = supervisor_client.get(URL, PERIOD)
    assert response.status_code == 200


# --- the admin, where teams are managed ---


@pytest.mark.parametrize(
    "model",
    [
        "entry",
        "revision",
        "team",
        "question",
        "flag",
        "searchevent",
        "notification",
        "reuse",
        "thanks",
        "synonymgroup",
    ],
)
def test_admin_lists_open(history, admin_client, model):
    assert admin_client.get(f"/admin/kb/{model}/").status_code == 200


def test_admin_manages_team_members(history, admin_client):
    north = Team.objects.get(name="North")
    assert admin_client.get(f"/admin/kb/team/{north.pk}/change/").status_code == 200
    response = admin_client.post(
        "/admin/kb/team/add/", {"name": "East", "members": [history["omar"].pk]}
    )
    assert response.status_code == 302
    assert list(Team.objects.get(name="East").members.all()) == [history["omar"]]


def test_admin_shows_entries_and_revisions_without_changing_them(history, admin_client):
    entry = Entry.objects.order_by("pk").first()
    revision = entry.revisions.get(number=1)
    assert admin_client.get(f"/admin/kb/entry/{entry.pk}/change/").status_code == 200
    assert admin_client.get("/admin/kb/entry/add/").status_code == 403
    assert admin_client.get(f"/admin/kb/revision/{revision.pk}/change/").status_code == 200
    change = f"/admin/kb/revision/{revision.pk}/change/"
    assert admin_client.post(change, {"summary": "Rewritten"}).status_code == 403
    revision.refresh_from_db()
    assert revision.summary == "Created"


def test_page_figures_are_counted_once_per_few_minutes(
    history, supervisor_client, django_assert_max_num_queries
):
    """The second look within the cache time reads no figure from the database: it
    shows the same counts, and when they were counted, until they are recounted."""
    first = page_text(supervisor_client.get(URL, PERIOD))
    for day in ("03-05 10:00", "03-06 10:00", "03-12 10:00"):
        make_entry_row(history["rita"], day, published=day)

    # 4 for the session, user and permissions; 1 for the teams; 1 for the inbox count
    with django_assert_max_num_queries(6):
        again = page_text(supervisor_client.get(URL, PERIOD))

    assert "Entries created 3" in again
    assert "the figures are recounted every 5 minutes" in again
    assert again == first
    cache.clear()  # what the cache's expiry does after MEASURES_CACHE_SECONDS
    assert "Entries created 6" in page_text(supervisor_client.get(URL, PERIOD))
