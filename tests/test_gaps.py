"""The supervisor's gap review: where the floor searched and came up empty, open
questions, flagged and stale entries, thin tags; filters, CSV export, assigning."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from kb import actions, reports
from kb.csv_export import guard
from kb.models import Entry, Flag, Notification, Question, Reuse, SearchEvent
from kb.reports import GapFilter
from kb.search import normalise_query
from tests.conftest import make_user
from tests.helpers import REVIEW_LISTS, page_text

pytestmark = pytest.mark.django_db

LISTS = REVIEW_LISTS
PAGES = ["/review/", *LISTS]


def days_ago(days: float) -> datetime:
    return timezone.now() - timedelta(days=days)


def search_event(user, query: str, *, results: int = 0, at: datetime | None = None, **extra):
    return SearchEvent.objects.create(
        user=user,
        query=query,
        normalized=normalise_query(query),
        result_count=results,
        created_at=at or timezone.now(),
        **extra,
    )


def rows_of(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


# --- Permission boundary ---


@pytest.mark.parametrize("url", [*PAGES, "/review/no-results/?format=csv"])
def test_review_pages_refuse_reps(rep_client, url):
    assert rep_client.get(url).status_code == 403


@pytest.mark.parametrize("url", PAGES)
def test_review_pages_send_anonymous_people_to_log_in(client, url):
    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("url", PAGES)
def test_review_pages_open_for_supervisors(supervisor_client, url):
    assert supervisor_client.get(url).status_code == 200


def test_assign_refuses_a_rep_and_writes_nothing(rep_client, rep, other_rep):
    search_event(other_rep, "roaming charges abroad")

    response = rep_client.post(
        "/review/gaps/assign/",
        {"normalized": "abroad charg roam", "text": "roaming charges abroad", "assignee": rep.pk},
    )

    assert response.status_code == 403
    assert not Question.objects.exists()
    assert not Notification.objects.exists()


def test_assign_sends_anonymous_people_to_log_in_and_writes_nothing(client, rep):
    response = client.post(
        "/review/gaps/assign/",
        {"normalized": "abroad charg roam", "text": "roaming charges abroad", "assignee": rep.pk},
    )

    assert response.status_code == 302
    assert not Question.objects.exists()


def test_assign_refuses_get(supervisor_client):
    assert supervisor_client.get("/review/gaps/assign/").status_code == 405


def test_header_links_to_review_for_supervisors_only(supervisor_client, rep, client):
    assert 'href="/review/"' in supervisor_client.get("/").content.decode()
    client.force_login(rep)
    assert 'href="/review/"' not in client.get("/").content.decode()


def test_review_home_links_to_every_list_measures_and_synonyms(supervisor_client):
    html = supervisor_client.get("/review/").content.decode()

    for url in [*LISTS, "/review/measures/", "/review/synonyms/"]:
        assert f'href="{url}' in html


# --- (a) Searches with no result ---


def test_no_result_searches_group_phrasings_into_one_row(rep, other_rep):
    search_event(rep, "reset router", at=days_ago(3))
    search_event(other_rep, "router reset", at=days_ago(2))
    search_event(rep, "how do I reset my router", at=days_ago(1))

    [row] = reports.no_result_searches(GapFilter(), 50).rows

    assert (row.normalized, row.count, row.people) == ("reset router", 3, 2)
    assert sorted(row.usernames) == ["omar", "rita"]
    assert row.query == "how do I reset my router"
    assert abs(row.first_seen - days_ago(3)) < timedelta(minutes=1)
    assert abs(row.last_seen - days_ago(1)) < timedelta(minutes=1)


def test_no_result_page_shows_the_grouped_row(supervisor_client, rep, other_rep):
    search_event(rep, "reset router")
    search_event(other_rep, "router reset")
    search_event(rep, "how do I reset my router")

    text = page_text(supervisor_client.get("/review/no-results/"))

    assert "how do I reset my router 3 2: " in text
    assert "1 row" in text
    assert "Write this up" in text


def test_no_result_searches_leave_out_found_and_empty_searches(rep):
    search_event(rep, "reset router", results=2)
    search_event(rep, "how do I")  # only common words: nothing to group by
    search_event(rep, "satellite dish")

    rows = reports.no_result_searches(GapFilter(), 50).rows

    assert [row.normalized for row in rows] == ["dish satellit"]


def test_no_result_searches_most_frequent_first(rep, other_rep):
    search_event(rep, "satellite dish")
    for user in (rep, other_rep):
        search_event(user, "roaming charges")

    rows = reports.no_result_searches(GapFilter(), 50).rows

    assert [(row.normalized, row.count) for row in rows] == [
        ("charg roam", 2),
        ("dish satellit", 1),
    ]


def test_no_result_row_names_the_open_question_asking_it(supervisor_client, rep):
    search_event(rep, "roaming charges")
    question, _ = actions.ask_question(user=rep, text="Roaming charges?")

    [row] = reports.no_result_searches(GapFilter(), 50).rows
    text = page_text(supervisor_client.get("/review/no-results/"))

    assert row.question == question
    assert f"Open question #{question.pk}" in text


def test_no_result_people_list_is_capped(rep):
    for n in range(8):
        search_event(make_user(f"agent{n}"), "roaming charges")

    [row] = reports.no_result_searches(GapFilter(), 50).rows

    assert (row.people, len(row.usernames)) == (8, reports.PEOPLE_SHOWN)


# --- (b) Searches with results but no reuse ---


def test_searches_without_reuse_leave_out_reused_searches(rep, other_rep, entry):
    search_event(rep, "broadband drops", results=1, reused=True, opened_entry=entry)
    search_event(rep, "billing date", results=1, opened_entry=entry)
    search_event(other_rep, "date billing", results=3)
    search_event(rep, "roaming", results=0)

    rows = reports.searches_without_reuse(GapFilter(), 50).rows

    assert [(r.normalized, r.count, r.opened, r.searches) for r in rows] == [("bill date", 2, 1, 2)]


def test_searches_without_reuse_count_only_the_unreused_of_a_group(rep, entry):
    search_event(rep, "broadband drops", results=1, reused=True)
    search_event(rep, "broadband drops", results=1)

    [row] = reports.searches_without_reuse(GapFilter(), 50).rows

    assert (row.count, row.searches) == (1, 2)


def test_reuse_from_a_search_takes_it_off_the_no_reuse_list(rep, rep_client, entry):
    rep_client.get("/search/", {"q": "broadband"})
    assert len(reports.searches_without_reuse(GapFilter(), 50).rows) == 1

    event = SearchEvent.objects.get()
    rep_client.post(f"/entries/{entry.pk}/reuse/", {"s": event.pk})

    assert reports.searches_without_reuse(GapFilter(), 50).rows == []


# --- (c) Open questions by age ---


def test_open_questions_oldest_first_with_age_and_assignee(rep, other_rep, supervisor, entry):
    new, _ = actions.ask_question(user=rep, text="Can I pause my contract?")
    old, _ = actions.ask_question(user=rep, text="Is there a roaming cap?")
    Question.objects.filter(pk=old.pk).update(created_at=days_ago(10))
    actions.assign_question(question=old, actor=supervisor, assignee=other_rep)
    done, _ = actions.ask_question(user=rep, text="Where is the billing date shown?")
    actions.close_question(question=done, user=rep, entry=entry)

    rows = reports.open_questions_by_age(GapFilter(), 50).rows

    assert [(r.question.pk, r.age_days) for r in rows] == [(old.pk, 10), (new.pk, 0)]
    assert rows[0].question.assigned_to == other_rep


# --- (d) Flagged entries ---


def flag(entry, user, reason="wrong", *, at=None, **extra):
    return Flag.objects.create(
        entry=entry, reason=reason, raised_by=user, created_at=at or timezone.now(), **extra
    )


def test_flagged_entries_count_open_flags_and_reasons(rep, other_rep, supervisor, make_entry):
    flagged = make_entry(question="Roaming prices", answer="See the tariff.")
    clean = make_entry(question="Billing date", answer="The 1st.")
    flag(flagged, rep, "wrong", at=days_ago(5))
    flag(flagged, other_rep, "outdated", at=days_ago(2))
    flag(clean, rep, "unclear", state="dismissed", resolved_at=timezone.now())

    [row] = reports.flagged_entries(GapFilter(), 50).rows

    assert (row.entry, row.open_flags) == (flagged, 2)
    assert sorted(row.reasons) == [("Outdated", 1), ("Wrong", 1)]
    assert abs(row.oldest_flag_at - days_ago(5)) < timedelta(minutes=1)
    assert row.entry.owner == rep


def test_flagged_entries_leave_out_archived_entries(rep, make_entry):
    archived = make_entry(question="Old tariff", answer="Gone.", state="archived")
    flag(archived, rep)

    assert reports.flagged_entries(GapFilter(), 50).rows == []


# --- (e) Stale entries ---


def set_dates(entry, **dates) -> None:
    Entry.objects.filter(pk=entry.pk).update(**dates)


def test_validated_entry_with_future_review_and_recent_reuse_is_not_stale(rep, make_entry):
    entry = make_entry(state="validated")
    set_dates(entry, published_at=days_ago(200))
    actions.record_reuse(entry=entry, user=rep)

    assert reports.stale_entries(GapFilter(), 50).rows == []


def test_entry_past_its_review_date_is_stale(rep, make_entry):
    entry = make_entry(state="validated")
    actions.record_reuse(entry=entry, user=rep)
    set_dates(entry, review_due_at=days_ago(3))

    [row] = reports.stale_entries(GapFilter(), 50).rows

    assert row.entry == entry
    assert row.overdue
    assert row.reasons[0].startswith("Review overdue since")
    assert len(row.reasons) == 1


def test_entry_never_reused_in_90_days_is_stale(make_entry):
    entry = make_entry()
    set_dates(entry, published_at=days_ago(91))

    [row] = reports.stale_entries(GapFilter(), 50).rows

    assert (row.entry, row.overdue, row.last_reuse) == (entry, False, None)
    assert row.reasons[0].startswith("Never reused (published")


def test_entry_last_reused_over_90_days_ago_is_stale(rep, make_entry):
    entry = make_entry()
    set_dates(entry, published_at=days_ago(300))
    Reuse.objects.create(entry=entry, user=rep, created_at=days_ago(120))

    [row] = reports.stale_entries(GapFilter(), 50).rows

    assert row.reasons[0].startswith("No reuse since")


def test_new_entry_never_reused_is_not_stale_yet(make_entry):
    make_entry()

    assert reports.stale_entries(GapFilter(), 50).rows == []


def test_drafts_and_archived_entries_are_never_stale(make_entry):
    for state in ("draft", "archived"):
        entry = make_entry(state=state)
        set_dates(entry, created_at=days_ago(400), review_due_at=days_ago(10))

    assert reports.stale_entries(GapFilter(), 50).rows == []


def test_validate_button_on_a_stale_entry_takes_it_off_the_list(supervisor_client, make_entry):
    entry = make_entry(state="validated")
    set_dates(entry, review_due_at=days_ago(3), published_at=days_ago(30))
    html = supervisor_client.get("/review/stale/").content.decode()
    assert f'action="/entries/{entry.pk}/state/"' in html
    entry.refresh_from_db()

    response = supervisor_client.post(
        f"/entries/{entry.pk}/state/", {"state": "validated", "version": entry.version}
    )

    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.review_due_at > timezone.now() + timedelta(days=170)
    assert reports.stale_entries(GapFilter(), 50).rows == []


# --- (f) Thin tags ---


def test_thin_tags_count_searches_by_tag_filter_or_word(rep, make_entry):
    make_entry(question="Roaming in France", answer="It is free.", tags=("roaming",))
    for n in range(4):
        make_entry(question=f"Billing question {n}", answer="Yes.", tags=("billing",))
    search_event(rep, "roaming charges")
    search_event(rep, "abroad tag:roaming")
    search_event(rep, "is roaming free", results=1)
    for _ in range(5):
        search_event(rep, "billing date")

    rows = reports.thin_tags(GapFilter(), 50).rows

    assert [(r.tag, r.searches, r.entries) for r in rows] == [("roaming", 3, 1)]
    assert rows[0].ratio == 3.0


def test_thin_tags_need_more_than_one_search(rep, make_entry):
    make_entry(question="Roaming in France", answer="It is free.", tags=("roaming",))
    search_event(rep, "roaming charges")

    assert reports.thin_tags(GapFilter(), 50).rows == []


def test_thin_tags_count_only_usable_entries(rep, make_entry):
    make_entry(question="Old roaming", answer="Gone.", tags=("roaming",), state="archived")
    search_event(rep, "roaming charges")
    search_event(rep, "roaming prices")

    [row] = reports.thin_tags(GapFilter(), 50).rows

    assert (row.tag, row.searches, row.entries) == ("roaming", 2, 0)


# --- Filters ---


def test_date_filter_keeps_whole_days(supervisor_client, rep):
    search_event(rep, "roaming charges", at=days_ago(10))
    search_event(rep, "satellite dish", at=days_ago(3))
    search_event(rep, "pause contract", at=timezone.now())
    since = timezone.localdate() - timedelta(days=3)
    until = timezone.localdate() - timedelta(days=1)

    response = supervisor_client.get("/review/no-results/", {"since": since, "until": until})

    text = page_text(response)
    assert "satellite dish" in text
    assert "roaming charges" not in text
    assert "pause contract" not in text


def test_tag_filter_keeps_searches_about_the_tag(supervisor_client, rep):
    search_event(rep, "reset router")
    search_event(rep, "tag:router lights")
    search_event(rep, "billing date")

    response = supervisor_client.get("/review/no-results/", {"tag": "Router"})

    text = page_text(response)
    assert "reset router" in text
    assert "tag:router lights" in text
    assert "billing date" not in text


def test_tag_filter_does_not_match_part_of_a_word(rep):
    search_event(rep, "routers reset")
    search_event(rep, "router-less setup")  # stems "router", "less", "setup"
    search_event(rep, "routerboard")

    rows = reports.no_result_searches(GapFilter(tag="router"), 50).rows

    assert sorted(r.normalized for r in rows) == ["less router setup", "reset router"]


def test_tag_filter_on_entries_flags_and_questions(rep, make_entry):
    tagged = make_entry(question="Roaming prices", answer="See the tariff.", tags=("roaming",))
    other = make_entry(question="Billing date", answer="The 1st.", tags=("billing",))
    flag(tagged, rep)
    flag(other, rep)
    set_dates(tagged, review_due_at=days_ago(1))
    set_dates(other, review_due_at=days_ago(1))
    actions.ask_question(user=rep, text="Roaming in Spain?")
    actions.ask_question(user=rep, text="Billing in Spain?")
    roaming = GapFilter(tag="roaming")

    assert [r.entry for r in reports.flagged_entries(roaming, 50).rows] == [tagged]
    assert [r.entry for r in reports.stale_entries(roaming, 50).rows] == [tagged]
    [question] = reports.open_questions_by_age(roaming, 50).rows
    assert question.question.text == "Roaming in Spain?"


def test_date_filter_on_flags_questions_and_stale_entries(rep, make_entry):
    entry = make_entry(question="Roaming prices", answer="See the tariff.")
    flag(entry, rep, at=days_ago(20))
    question, _ = actions.ask_question(user=rep, text="Roaming in Spain?")
    Question.objects.filter(pk=question.pk).update(created_at=days_ago(20))
    set_dates(entry, published_at=days_ago(20), review_due_at=days_ago(1))
    last_week = GapFilter(since=days_ago(7))
    month = GapFilter(since=days_ago(30), until=days_ago(7))

    assert reports.flagged_entries(last_week, 50).rows == []
    assert reports.open_questions_by_age(last_week, 50).rows == []
    assert reports.stale_entries(last_week, 50).rows == []
    assert len(reports.flagged_entries(month, 50).rows) == 1
    assert len(reports.open_questions_by_age(month, 50).rows) == 1
    assert len(reports.stale_entries(month, 50).rows) == 1


@pytest.mark.parametrize(
    "params",
    [
        {"since": "yesterday"},
        {"until": "2024-02-30"},
        {"since": "2024-05-02", "until": "2024-05-01"},
        {"since": "0001-01-01"},
        {"until": "9999-12-31"},
        {"page": "abc"},
        {"page": "0"},
        {"page": "9" * 30},
        {"tag": "x" * 300},
    ],
)
@pytest.mark.parametrize("url", ["/review/", "/review/no-results/", "/review/stale/"])
def test_bad_filter_gets_a_message_and_400(supervisor_client, rep, url, params):
    search_event(rep, "roaming charges")

    response = supervisor_client.get(url, params)

    assert response.status_code == 400
    text = page_text(response)
    assert "Nothing is listed until the filter is corrected." in text
    assert "roaming charges" not in text


def test_bad_filter_refuses_the_csv_too(supervisor_client):
    response = supervisor_client.get("/review/flags/", {"since": "nope", "format": "csv"})

    assert response.status_code == 400


def test_hostile_tag_filter_is_shown_escaped(supervisor_client):
    response = supervisor_client.get("/review/no-results/", {"tag": "<script>x</script>"})

    assert response.status_code == 200
    assert "<script>x" not in response.content.decode()


def test_pages_of_fifty(supervisor_client, rep):
    for n in range(55):
        search_event(rep, f"mystery{n:02d} code")

    first = page_text(supervisor_client.get("/review/no-results/"))
    second = page_text(supervisor_client.get("/review/no-results/", {"page": 2}))
    beyond = supervisor_client.get("/review/no-results/", {"page": 5})

    assert "55 rows, page 1 of 2" in first
    assert "page 2 of 2" in second
    assert beyond.status_code == 200
    assert "There is no page 5." in page_text(beyond)


# --- CSV export ---


def test_csv_export_has_header_rows_and_is_an_attachment(supervisor_client, rep, other_rep):
    search_event(rep, "reset router")
    search_event(other_rep, "router reset")

    response = supervisor_client.get("/review/no-results/", {"format": "csv"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="floorbook-no-results')
    header, row = rows_of(response)
    assert header[:4] == ["search", "normalised", "searches", "people"]
    assert row[:4] == ["router reset", "reset router", "2", "2"]


def test_csv_export_keeps_the_filters(supervisor_client, rep):
    search_event(rep, "reset router")
    search_event(rep, "billing date")

    response = supervisor_client.get("/review/no-results/", {"format": "csv", "tag": "billing"})

    assert [row[0] for row in rows_of(response)[1:]] == ["billing date"]


def test_csv_export_guards_cells_against_formulas(supervisor_client, rep):
    search_event(rep, '=HYPERLINK("http://evil.example","router")')

    response = supervisor_client.get("/review/no-results/", {"format": "csv"})

    [_, row] = rows_of(response)
    assert row[0] == """'=HYPERLINK("http://evil.example","router")"""


@pytest.mark.parametrize("url", LISTS)
def test_every_list_exports_csv(supervisor_client, url):
    response = supervisor_client.get(url, {"format": "csv"})

    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert len(rows_of(response)) == 1  # the header, and nothing to list


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+44 20 7946", "'+44 20 7946"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tindent", "'\tindent"),
        ("\rreturn", "'\rreturn"),
        ("reset router", "reset router"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
        (-5, -5),
        (3, 3),
    ],
)
def test_csv_guard(value, cell):
    assert guard(value) == cell


# --- Assigning a gap ---


def assign(client, **data):
    payload = {"normalized": "abroad charg roam", "text": "roaming charges abroad", **data}
    return client.post("/review/gaps/assign/", payload)


def test_assign_gap_creates_an_open_question_and_tells_the_rep(
    supervisor_client, supervisor, rep, other_rep
):
    search_event(other_rep, "roaming charges abroad")

    response = assign(supervisor_client, assignee=rep.pk, next="/review/no-results/?tag=roaming")

    assert response.status_code == 302
    assert response["Location"] == "/review/no-results/?tag=roaming"
    question = Question.objects.get()
    assert (question.text, question.normalized, question.state) == (
        "roaming charges abroad",
        "abroad charg roam",
        "open",
    )
    assert (question.assigned_to, question.assigned_by) == (rep, supervisor)
    notification = Notification.objects.get(recipient=rep)
    assert notification.kind == "question_assigned"
    assert notification.question == question


def test_assign_gap_reuses_the_open_question_asking_the_same(supervisor_client, rep, other_rep):
    asked, _ = actions.ask_question(user=other_rep, text="Roaming charges abroad?")

    assign(supervisor_client, text="abroad roaming charges", assignee=rep.pk)

    assert Question.objects.get() == asked
    asked.refresh_from_db()
    assert asked.assigned_to == rep
    assert SearchEvent.objects.count() == 0  # assigning is not a search


def test_assign_gap_shows_the_question_on_the_row(supervisor_client, rep, other_rep):
    search_event(other_rep, "roaming charges abroad")
    assign(supervisor_client, assignee=rep.pk)

    text = page_text(supervisor_client.get("/review/no-results/"))

    assert "assigned to rita" in text


@pytest.mark.parametrize("assignee", ["", "abc", "999999", "-1"])
def test_assign_gap_to_nobody_is_refused_and_writes_nothing(supervisor_client, assignee):
    response = assign(supervisor_client, assignee=assignee)

    assert response.status_code == 400
    assert "Nothing was assigned" in page_text(response)
    assert not Question.objects.exists()


def test_assign_gap_to_someone_who_left_is_refused(supervisor_client, rep):
    rep.is_active = False
    rep.save()

    response = assign(supervisor_client, assignee=rep.pk)

    assert response.status_code == 400
    assert not Question.objects.exists()
    assert not Notification.objects.exists()


def test_assign_gap_with_too_short_a_question_is_refused(supervisor_client, rep):
    response = assign(supervisor_client, normalized="wi", text="wi", assignee=rep.pk)

    assert response.status_code == 400
    assert not Question.objects.exists()


def test_assign_gap_ignores_an_outside_next_address(supervisor_client, rep):
    response = assign(supervisor_client, assignee=rep.pk, next="https://evil.example/")

    assert response["Location"] == "/review/no-results/"


def test_assign_gap_action_refuses_a_rep(rep, other_rep):
    with pytest.raises(PermissionDenied):
        actions.assign_gap(normalized="roam", text="roaming", actor=rep, assignee=other_rep)

    assert not Question.objects.exists()


def test_no_result_rows_offer_reps_to_assign(supervisor_client, rep, other_rep, supervisor):
    search_event(rep, "roaming charges")

    html = supervisor_client.get("/review/no-results/").content.decode()

    assert f'<option value="{rep.pk}">rita</option>' in html
    assert f'<option value="{other_rep.pk}">omar</option>' in html
    assert f'<option value="{supervisor.pk}">' not in html


# --- Bounded queries ---


@pytest.fixture
def gaps(rep, other_rep, make_entry):
    """``gaps(n)``: n rows in every list."""

    def make(n: int) -> None:
        for i in range(n):
            word = f"mystery{i:02d}"
            entry = make_entry(question=f"{word} entry", answer="Yes.", tags=(word,))
            set_dates(entry, review_due_at=days_ago(1))
            flag(entry, rep)
            flag(entry, other_rep, "unclear")
            for user in (rep, other_rep):
                search_event(user, f"{word} error")
                search_event(user, f"{word} entry", results=1)
            actions.ask_question(user=rep, text=f"What is {word}?")

    return make


@pytest.mark.parametrize("n", [3, 30])
@pytest.mark.parametrize("url", [*PAGES, "/review/no-results/?format=csv"])
def test_review_pages_run_a_bounded_number_of_queries(
    supervisor_client, gaps, django_assert_max_num_queries, url, n
):
    gaps(n)

    with django_assert_max_num_queries(28 if url == "/review/" else 13):
        response = supervisor_client.get(url)

    assert response.status_code == 200
