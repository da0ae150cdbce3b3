"""Ask the floor: open questions asked from a failed search, answered, closed, assigned."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from kb import actions, search
from kb.actions import EntryContent
from kb.models import Entry, Notification, Question, SearchEvent
from tests.conftest import make_user
from tests.helpers import page_text

pytestmark = pytest.mark.django_db

ANSWER = {"question": "How do I reset my router?", "answer": "Hold reset for 10 seconds."}


def ask(user, text: str = "How do I reset my router?", **extra) -> Question:
    question, _ = actions.ask_question(user=user, text=text, **extra)
    return question


def searched(user, text: str, result_count: int = 0) -> SearchEvent:
    return SearchEvent.objects.create(
        user=user,
        query=text,
        normalized=search.normalise_query(text),
        result_count=result_count,
        created_at=timezone.now(),
    )


def notified(kind: str) -> list[str]:
    rows = Notification.objects.filter(kind=kind).order_by("recipient__username")
    return [n.recipient.username for n in rows]


# --- asking ---------------------------------------------------------------------------


def test_no_result_search_offers_ask_the_floor_with_the_query(rep_client):
    response = rep_client.get("/search/", {"q": "fax machine jammed"})

    html = response.content.decode()
    assert "Nothing found for" in page_text(response)
    assert 'href="/questions/ask/?q=fax%20machine%20jammed">Ask the floor</a>' in html
    form = rep_client.get("/questions/ask/", {"q": "fax machine jammed"})
    assert form.status_code == 200
    assert 'value="fax machine jammed"' in form.content.decode()


def test_search_with_results_offers_ask_the_floor_in_the_hint(rep_client, entry):
    response = rep_client.get("/search/", {"q": "broadband"})

    assert "or ask the floor" in page_text(response)
    assert 'href="/questions/ask/?q=broadband"' in response.content.decode()


def test_no_result_search_links_the_open_question_already_asked(rep_client, other_rep):
    question = ask(other_rep, "How do I reset my router?")

    response = rep_client.get("/search/", {"q": "router reset"})

    text = page_text(response)
    assert "Already asked by omar on" in text
    assert "you'll be told when it's answered" in text
    assert f'href="/questions/{question.pk}/"' in response.content.decode()
    assert "/questions/ask/" not in response.content.decode()


def test_ask_creates_an_open_question_and_shows_it(rep_client, rep):
    response = rep_client.post(
        "/questions/ask/",
        {"question": "  Can a  customer pause their plan? ", "details": "Asked twice today."},
        follow=True,
    )

    question = Question.objects.get()
    assert (question.text, question.details, question.asked_by) == (
        "Can a customer pause their plan?",
        "Asked twice today.",
        rep,
    )
    assert question.state == Question.State.OPEN
    assert response.redirect_chain[-1][0] == f"/questions/{question.pk}/"
    text = page_text(response)
    assert "Asked. You'll be told here when someone answers it." in text
    assert "Can a customer pause their plan?" in text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "a few words at least"),
        ("ab", "a few words at least"),
        ("   \n\t  ", "a few words at least"),
        ("\x00\x00\x00", "a few words at least"),
        ("x" * 301, "Keep the question to 300 characters (it has 301)"),
    ],
)
def test_ask_refuses_bad_question_and_writes_nothing(rep_client, text, message):
    response = rep_client.post("/questions/ask/", {"question": text})

    assert response.status_code == 400
    assert message in page_text(response)
    assert not Question.objects.exists()


def test_ask_refuses_too_long_details_and_keeps_the_text(rep_client):
    response = rep_client.post(
        "/questions/ask/", {"question": "Why is my bill higher?", "details": "d" * 2001}
    )

    assert response.status_code == 400
    assert "Keep the details to 2,000 characters" in page_text(response)
    assert 'value="Why is my bill higher?"' in response.content.decode()
    assert not Question.objects.exists()


def test_duplicate_ask_returns_the_existing_question(rep_client, other_rep):
    existing = ask(other_rep, "How do I reset my router?")

    response = rep_client.post("/questions/ask/", {"question": "reset router"}, follow=True)

    assert Question.objects.count() == 1
    assert response.redirect_chain[-1][0] == f"/questions/{existing.pk}/"
    assert "Already asked by omar on" in page_text(response)
    assert "we'll tell you too when it's answered" in page_text(response)


def test_ask_by_get_only_prefills_and_writes_nothing(rep_client):
    rep_client.get("/questions/ask/", {"q": "how to port a number"})

    assert not Question.objects.exists()


# --- the list -------------------------------------------------------------------------


@pytest.fixture
def three_questions(rep, other_rep):
    now = timezone.now()
    for days, text in [(5, "Oldest question here"), (2, "Middle question here"), (0, "Newest one")]:
        question = ask(rep if days else other_rep, text)
        Question.objects.filter(pk=question.pk).update(created_at=now - timedelta(days=days))


def listed(response) -> list[str]:
    text = page_text(response).split("Recently answered", 2)[1]  # after the tabs
    names = ["Oldest question here", "Middle question here", "Newest one"]
    return sorted((n for n in names if n in text), key=text.index)


def test_question_list_is_newest_first_by_default(rep_client, three_questions):
    response = rep_client.get("/questions/")

    assert response.status_code == 200
    assert listed(response) == ["Newest one", "Middle question here", "Oldest question here"]
    assert "asked 5 days ago by rita" in page_text(response)


def test_question_list_oldest_first_on_request(rep_client, three_questions):
    response = rep_client.get("/questions/", {"order": "oldest"})

    assert listed(response) == ["Oldest question here", "Middle question here", "Newest one"]


def test_question_list_counts_people_who_searched_without_result(rep_client, rep, other_rep):
    ask(rep, "How do I reset my router?")
    searched(other_rep, "router reset")
    searched(other_rep, "reset the router")  # same person again: counted once
    searched(rep, "reset router", result_count=3)  # found something: not counted

    text = page_text(rep_client.get("/questions/"))

    assert "1 person searched for it and found nothing" in text


def test_searches_for_part_of_a_question_count_for_it(rep_client, rep, other_rep, supervisor):
    ask(rep, "Customer's Xbox says NAT type strict, what do they change on the router?")
    searched(other_rep, "xbox nat")  # two of its words: counts
    searched(supervisor, "why is my xbox nat")
    searched(rep, "xbox")  # one word is too little to say it asked this
    searched(rep, "xbox controller")  # a word the question does not have

    text = page_text(rep_client.get("/questions/"))

    assert "2 people searched for it and found nothing" in text


def test_answer_tells_people_whose_search_was_part_of_the_question(rep, other_rep, supervisor):
    question = ask(rep, "Customer's Xbox says NAT type strict, what do they change?")
    searched(other_rep, "xbox nat")

    actions.answer_question(question=question, user=supervisor, content=EntryContent(**ANSWER))

    assert notified(Notification.Kind.SEARCH_ANSWERED) == ["omar"]


def test_no_result_search_points_to_the_open_question_containing_it(rep_client, other_rep):
    question = ask(other_rep, "Customer's Xbox says NAT type strict, what do they change?")

    response = rep_client.get("/search/", {"q": "xbox nat"})

    assert f'href="/questions/{question.pk}/"' in response.content.decode()


def test_question_list_empty_state_is_helpful(rep_client):
    text = page_text(rep_client.get("/questions/"))

    assert "No open questions." in text
    assert "No question has been answered yet." in text


def test_question_list_query_count_is_bounded(
    rep_client, rep, other_rep, supervisor, django_assert_max_num_queries
):
    def add(count: int) -> None:
        for n in range(count):
            question = ask(rep if n % 2 else other_rep, f"Question number {n} about widget{n}")
            searched(other_rep, f"widget{n}")
            actions.assign_question(question=question, actor=supervisor, assignee=rep)
        for n in range(count):
            answered = ask(rep, f"Answered thing {n} gizmo{n}")
            actions.answer_question(
                question=answered,
                user=other_rep,
                content=EntryContent(question=f"Gizmo {n}?", answer="Yes."),
            )

    add(3)
    with django_assert_max_num_queries(12):
        rep_client.get("/questions/")
    add(10)
    with django_assert_max_num_queries(12):
        response = rep_client.get("/questions/")
    assert "assigned to rita" in page_text(response)


# --- answering ------------------------------------------------------------------------


def test_answer_form_is_prefilled_with_the_question(rep_client, other_rep):
    question = ask(other_rep, "Can I change the billing date?")

    response = rep_client.get(f"/questions/{question.pk}/answer/")

    assert response.status_code == 200
    html = response.content.decode()
    assert 'value="Can I change the billing date?"' in html
    text = page_text(response)
    assert "Answering “Can I change the billing date?”" in text
    assert "asked by omar on" in text
    assert f'action="/questions/{question.pk}/answer/"' in html
    assert 'hx-get="/entries/similar/"' in html  # duplicate hints still work


def test_answer_creates_an_entry_linked_to_the_question(rep_client, rep, other_rep):
    question = ask(other_rep, "How do I reset my router?")

    response = rep_client.post(f"/questions/{question.pk}/answer/", ANSWER, follow=True)

    entry = Entry.objects.get()
    question.refresh_from_db()
    assert (question.state, question.answer_entry, question.answered_by) == ("answered", entry, rep)
    assert question.answered_at is not None
    assert entry.state == Entry.State.PUBLISHED and entry.author == rep
    assert response.redirect_chain[-1][0] == f"/entries/{entry.pk}/"
    assert "Answers a question asked by omar on" in page_text(response)


def test_answer_notifies_asker_and_no_result_searchers_once(rep_client, rep, other_rep):
    question = ask(other_rep, "How do I reset my router?")
    searched(other_rep, "reset router")  # the asker: told once, as the asker
    carol, dave, erin = make_user("carol"), make_user("dave"), make_user("erin")
    searched(carol, "router reset")
    searched(carol, "how do i reset my router")  # twice: still told once
    searched(dave, "reset router", result_count=4)  # found something: not told
    gone = make_user("gone", is_active=False)
    searched(gone, "router reset")  # left the floor: not told
    searched(rep, "reset router")  # the answerer: not told
    searched(erin, "reset password")  # another question: not told

    rep_client.post(f"/questions/{question.pk}/answer/", ANSWER)

    assert notified(Notification.Kind.QUESTION_ANSWERED) == ["omar"]
    assert notified(Notification.Kind.SEARCH_ANSWERED) == ["carol"]
    told = Notification.objects.get(recipient=carol)
    assert (
        told.text
        == "The answer to “How do I reset my router?”, which you were looking for, now exists."
    )
    assert told.target_url() == told.entry.get_absolute_url()


def test_duplicate_asker_is_told_when_answered(client, rep, other_rep, supervisor):
    question = ask(other_rep, "How do I reset my router?")
    client.force_login(rep)
    client.post("/questions/ask/", {"question": "reset my router"})

    assert list(question.followers.values_list("username", flat=True)) == ["rita"]
    assert not SearchEvent.objects.exists()  # asking is not logged as a search

    actions.answer_question(question=question, user=supervisor, content=EntryContent(**ANSWER))

    assert notified(Notification.Kind.SEARCH_ANSWERED) == ["rita"]


def test_answering_an_answered_question_keeps_the_text_and_says_so(
    rep_client, other_rep, supervisor
):
    question = ask(other_rep, "How do I reset my router?")
    first = actions.answer_question(
        question=question, user=supervisor, content=EntryContent(**ANSWER)
    )
    mine = {"question": "How do I reset my router?", "answer": "My own careful steps."}

    response = rep_client.post(f"/questions/{question.pk}/answer/", mine)

    assert response.status_code == 409
    assert "Someone answered this question first." in page_text(response)
    html = response.content.decode()
    assert "My own careful steps." in html
    assert f'href="/entries/{first.pk}/"' in html
    assert 'action="/entries/new/"' in html  # theirs can still be published on its own
    assert Entry.objects.count() == 1
    assert Notification.objects.filter(kind=Notification.Kind.QUESTION_ANSWERED).count() == 1


def test_answer_page_of_an_answered_question_sends_to_the_question(rep_client, other_rep, rep):
    question = ask(other_rep, "How do I reset my router?")
    entry = actions.answer_question(question=question, user=rep, content=EntryContent(**ANSWER))

    response = rep_client.get(f"/questions/{question.pk}/answer/", follow=True)

    assert response.redirect_chain[-1][0] == f"/questions/{question.pk}/"
    assert "This question already has an answer." in page_text(response)
    assert f'href="/entries/{entry.pk}/"' in response.content.decode()


def test_invalid_answer_is_refused_and_question_stays_open(rep_client, other_rep):
    question = ask(other_rep, "How do I reset my router?")

    response = rep_client.post(
        f"/questions/{question.pk}/answer/", {"question": ANSWER["question"], "answer": " "}
    )

    assert response.status_code == 400
    assert "Write the answer, even a short one." in page_text(response)
    question.refresh_from_db()
    assert question.state == Question.State.OPEN
    assert not Entry.objects.exists()


def test_answer_as_draft_is_refused_by_the_action(rep, other_rep):
    question = ask(other_rep, "How do I reset my router?")

    with pytest.raises(ValidationError):
        actions.answer_question(
            question=question, user=rep, content=EntryContent(**ANSWER), state="draft"
        )
    assert not Entry.objects.exists()


# --- closing ("found it") -------------------------------------------------------------


def test_asker_sees_found_it_with_search_suggestions(rep_client, rep, entry):
    question = ask(rep, "broadband keeps dropping")

    response = rep_client.get(f"/questions/{question.pk}/")

    text = page_text(response)
    assert "Found it yourself?" in text
    assert f'name="entry" value="{entry.pk}"' in response.content.decode()


def test_asker_closes_with_the_entry_found(rep_client, rep, entry):
    question = ask(rep, "broadband keeps dropping")

    response = rep_client.post(
        f"/questions/{question.pk}/close/", {"entry_number": f"#{entry.pk}"}, follow=True
    )

    question.refresh_from_db()
    assert (question.state, question.answer_entry) == (Question.State.CLOSED, entry)
    assert question.answered_at is not None
    assert f"Closed: you found the answer in #{entry.pk}." in page_text(response)


def test_asker_closes_by_picking_a_suggestion(rep_client, rep, entry):
    question = ask(rep, "broadband keeps dropping")

    rep_client.post(f"/questions/{question.pk}/close/", {"entry": str(entry.pk)})

    question.refresh_from_db()
    assert question.answer_entry == entry


def test_other_rep_cannot_close_and_nothing_changes(client, rep, other_rep, entry):
    question = ask(rep, "broadband keeps dropping")
    client.force_login(other_rep)

    response = client.post(f"/questions/{question.pk}/close/", {"entry_number": str(entry.pk)})

    assert response.status_code == 403
    question.refresh_from_db()
    assert (question.state, question.answer_entry) == (Question.State.OPEN, None)
    assert "Found it yourself?" not in page_text(client.get(f"/questions/{question.pk}/"))


@pytest.mark.parametrize("value", ["", "abc", "999999", "12 34", "9" * 30])
def test_close_with_a_bad_entry_number_is_refused(rep_client, rep, value):
    question = ask(rep, "broadband keeps dropping")

    response = rep_client.post(f"/questions/{question.pk}/close/", {"entry_number": value})

    assert response.status_code == 400
    assert "Give the number of an entry you can open." in page_text(response)
    question.refresh_from_db()
    assert question.state == Question.State.OPEN


def test_close_with_someone_elses_draft_is_refused(rep_client, rep, other_rep, make_entry):
    draft = make_entry(question="Secret draft", author=other_rep, state="draft")
    question = ask(rep, "broadband keeps dropping")

    response = rep_client.post(f"/questions/{question.pk}/close/", {"entry_number": draft.pk})

    assert response.status_code == 400
    question.refresh_from_db()
    assert question.state == Question.State.OPEN


# --- assigning ------------------------------------------------------------------------


def test_supervisor_assigns_and_the_rep_is_told(supervisor_client, rep, other_rep):
    question = ask(other_rep, "How do I reset my router?")

    response = supervisor_client.post(
        f"/questions/{question.pk}/assign/", {"assignee": rep.pk}, follow=True
    )

    question.refresh_from_db()
    assert question.assigned_to == rep and question.assigned_by.username == "sam"
    assert "Assigned to rita; they have been told." in page_text(response)
    note = Notification.objects.get(kind=Notification.Kind.QUESTION_ASSIGNED)
    assert note.recipient == rep
    assert note.text == "sam asked you to answer “How do I reset my router?”."
    assert note.target_url() == f"/questions/{question.pk}/"


def test_supervisor_sees_the_assign_select_of_active_reps(supervisor_client, rep, other_rep):
    make_user("gone", is_active=False)
    question = ask(other_rep, "How do I reset my router?")

    html = supervisor_client.get(f"/questions/{question.pk}/").content.decode()

    assert f'<option value="{rep.pk}">rita</option>' in html
    assert ">gone<" not in html


def test_rep_cannot_assign_and_nothing_changes(client, rep, other_rep):
    question = ask(other_rep, "How do I reset my router?")
    client.force_login(rep)

    response = client.post(f"/questions/{question.pk}/assign/", {"assignee": rep.pk})

    assert response.status_code == 403
    question.refresh_from_db()
    assert question.assigned_to is None
    assert not Notification.objects.exists()
    assert "Assign to" not in page_text(client.get(f"/questions/{question.pk}/"))


@pytest.mark.parametrize("value", ["", "nope", "999999"])
def test_assign_to_nobody_is_refused(supervisor_client, other_rep, value):
    question = ask(other_rep, "How do I reset my router?")

    response = supervisor_client.post(f"/questions/{question.pk}/assign/", {"assignee": value})

    assert response.status_code == 400
    assert "Pick someone who is still on the floor." in page_text(response)
    assert not Notification.objects.exists()


def test_assign_to_someone_who_left_is_refused(supervisor_client, other_rep):
    gone = make_user("gone", is_active=False)
    question = ask(other_rep, "How do I reset my router?")

    response = supervisor_client.post(f"/questions/{question.pk}/assign/", {"assignee": gone.pk})

    assert response.status_code == 400
    question.refresh_from_db()
    assert question.assigned_to is None


# --- pages around it ------------------------------------------------------------------


def test_header_links_to_questions(rep_client):
    assert 'href="/questions/">Questions</a>' in rep_client.get("/").content.decode()


def test_unknown_question_is_404(rep_client):
    assert rep_client.get("/questions/999999/").status_code == 404


def test_recently_answered_links_to_the_entry(rep_client, rep, other_rep):
    question = ask(other_rep, "How do I reset my router?")
    entry = actions.answer_question(question=question, user=rep, content=EntryContent(**ANSWER))

    response = rep_client.get("/questions/")

    assert f'href="/entries/{entry.pk}/">How do I reset my router?</a>' in (
        response.content.decode()
    )
    assert "answered by rita for omar" in page_text(response)
