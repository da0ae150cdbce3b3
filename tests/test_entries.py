"""Capturing, reading and moving entries through their states, as reps and supervisors."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateformat import format as date_format

from kb.models import Entry, Revision
from tests.helpers import page_text

pytestmark = pytest.mark.django_db


VALID = {
    "question": "Customer was charged twice for one order",
    "answer": "Open **Billing** and refund the duplicate charge.",
    "tags": "Billing, REFUNDS ,billing",
}


def field_errors(response) -> dict[str, list[str]]:
    """Error messages shown under each form field, keyed by the field's input name."""
    html = response.content.decode()
    errors: dict[str, list[str]] = {}
    for field in re.findall(r'<div class="field has-error">.*?</div>', html, flags=re.S):
        name = re.search(r'name="(\w+)"', field).group(1)
        errors[name] = re.findall(r'<p class="field-error" role="alert">(.*?)</p>', field)
    return errors


@pytest.fixture
def capture(rep_client, django_capture_on_commit_callbacks):
    """POST the capture form as a committed request would, indexing included."""

    def post(data: dict, client=rep_client):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post("/entries/new/", data)

    return post


# -- capture ------------------------------------------------------------------------


def test_capture_form_renders_empty(rep_client):
    response = rep_client.get("/entries/new/")

    assert response.status_code == 200
    assert "Write an entry" in page_text(response)
    assert 'name="save_draft"' in response.content.decode()


def test_capture_form_prefills_question_from_search(rep_client):
    response = rep_client.get("/entries/new/", {"question": "Why is my bill higher this month?"})

    assert response.status_code == 200
    assert 'value="Why is my bill higher this month?"' in response.content.decode()


def test_capture_form_escapes_prefilled_question(rep_client):
    response = rep_client.get("/entries/new/", {"question": '"><script>alert(1)</script>'})

    html = response.content.decode()
    assert "<script>alert(1)" not in html
    assert 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"' in html


def test_capture_publishes_entry_and_redirects_to_it(capture):
    response = capture(VALID)

    entry = Entry.objects.get()
    assert response.status_code == 302
    assert response.url == f"/entries/{entry.pk}/"
    assert entry.question == VALID["question"]
    assert entry.answer == VALID["answer"]
    assert entry.state == "published"
    assert entry.version == 1


def test_capture_records_first_revision(capture, rep):
    capture(VALID)

    revision = Revision.objects.get()
    assert revision.number == 1
    assert revision.summary == "Created"
    assert revision.editor == rep
    assert revision.answer == VALID["answer"]


def test_capture_normalises_tags(capture):
    capture(VALID)

    assert Entry.objects.get().tag_names() == ["billing", "refunds"]
    assert Revision.objects.get().tags == ["billing", "refunds"]


def test_capture_sets_author_and_owner(capture, rep):
    capture(VALID)

    entry = Entry.objects.get()
    assert entry.author == rep
    assert entry.owner == rep


def test_capture_confirms_on_the_entry_page(rep_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = rep_client.post("/entries/new/", VALID, follow=True)

    assert response.status_code == 200
    text = page_text(response)
    assert "Saved and searchable" in text
    assert VALID["question"] in text


def test_captured_entry_is_found_by_search_right_away(capture, rep_client):
    capture(VALID)

    response = rep_client.get("/search/", {"q": "charged twice"})

    assert response.status_code == 200
    assert "1 answer for charged twice" in page_text(response)
    assert (
        f'href="/entries/{Entry.objects.get().pk}/?q=charged%20twice&amp;s='
        in response.content.decode()
    )


def test_captured_entry_is_found_by_another_rep(capture, client, other_rep):
    capture(VALID)
    client.force_login(other_rep)

    response = client.get("/search/", {"q": "duplicate refund"})

    assert VALID["question"] in page_text(response)


def test_capture_save_draft_creates_a_draft(capture):
    response = capture({**VALID, "save_draft": "1"})

    entry = Entry.objects.get()
    assert response.status_code == 302
    assert entry.state == "draft"
    assert Revision.objects.get().state == "draft"


def test_draft_page_is_shown_to_its_author(capture, rep_client):
    capture({**VALID, "save_draft": "1"})

    response = rep_client.get(f"/entries/{Entry.objects.get().pk}/")

    assert response.status_code == 200
    text = page_text(response)
    assert "Draft" in text
    assert "Publish" in text


def test_draft_page_is_404_for_another_rep(capture, client, other_rep):
    capture({**VALID, "save_draft": "1"})
    client.force_login(other_rep)

    response = client.get(f"/entries/{Entry.objects.get().pk}/")

    assert response.status_code == 404
    assert VALID["question"] not in page_text(response)


def test_draft_is_not_found_by_another_reps_search(capture, client, other_rep):
    capture({**VALID, "save_draft": "1"})
    client.force_login(other_rep)

    response = client.get("/search/", {"q": "charged twice"})

    assert VALID["question"] not in page_text(response)


def test_capture_without_question_or_answer_is_refused(capture):
    response = capture({"question": "", "answer": "", "tags": "billing"})

    assert response.status_code == 400
    assert field_errors(response) == {
        "question": ["This field is required."],
        "answer": ["This field is required."],
    }
    assert "Nothing was saved yet" in page_text(response)
    assert not Entry.objects.exists()
    assert not Revision.objects.exists()


def test_capture_with_blank_answer_is_refused(capture):
    response = capture({**VALID, "answer": "   \r\n  "})

    assert response.status_code == 400
    assert field_errors(response) == {"answer": ["Write the answer, even a short one."]}
    assert not Entry.objects.exists()


def test_capture_question_over_300_characters_is_refused(capture):
    response = capture({**VALID, "question": "q" * 301})

    assert response.status_code == 400
    [message] = field_errors(response)["question"]
    assert "300 characters" in message
    assert "301" in message
    assert not Entry.objects.exists()


def test_capture_question_of_300_characters_is_accepted(capture):
    response = capture({**VALID, "question": "q" * 300})

    assert response.status_code == 302
    assert Entry.objects.get().question == "q" * 300


def test_capture_refused_keeps_what_was_typed(capture):
    response = capture({**VALID, "question": "q" * 301})

    assert "Open **Billing** and refund the duplicate charge." in response.content.decode()


def test_capture_answer_over_50000_characters_is_refused(capture):
    response = capture({**VALID, "answer": "a" * 50_001})

    assert response.status_code == 400
    [message] = field_errors(response)["answer"]
    assert "50,000" in message
    assert not Entry.objects.exists()


def test_capture_more_than_12_tags_is_refused(capture):
    response = capture({**VALID, "tags": ", ".join(f"tag{n}" for n in range(13))})

    assert response.status_code == 400
    assert field_errors(response) == {"tags": ["Use at most 12 tags."]}
    assert not Entry.objects.exists()


def test_capture_12_tags_is_accepted(capture):
    capture({**VALID, "tags": ", ".join(f"tag{n}" for n in range(12))})

    assert len(Entry.objects.get().tag_names()) == 12


def test_capture_over_long_tag_is_refused(capture):
    response = capture({**VALID, "tags": "x" * 51})

    assert response.status_code == 400
    assert "50 characters" in field_errors(response)["tags"][0]
    assert not Entry.objects.exists()


def test_capture_saves_environment_and_cause(capture):
    capture({**VALID, "environment": "Fibre 500 plan, Hub 4", "cause": "Payment retried"})

    entry = Entry.objects.get()
    assert entry.environment == "Fibre 500 plan, Hub 4"
    assert entry.cause == "Payment retried"


def test_entry_page_shows_environment_and_cause(capture, rep_client):
    capture({**VALID, "environment": "Fibre 500 plan, Hub 4", "cause": "Payment retried"})

    text = page_text(rep_client.get(f"/entries/{Entry.objects.get().pk}/"))

    assert "Environment Fibre 500 plan, Hub 4" in text
    assert "Cause Payment retried" in text


def test_capture_by_get_writes_nothing(rep_client):
    rep_client.get("/entries/new/", VALID)

    assert not Entry.objects.exists()


# -- preview ------------------------------------------------------------------------


def test_preview_returns_rendered_markdown(rep_client):
    response = rep_client.post("/preview/", {"answer": "**Restart** the `hub`."})

    assert response.status_code == 200
    html = response.content.decode()
    assert "<strong>Restart</strong> the <code>hub</code>." in html
    assert "<html" not in html


def test_preview_sanitises_html(rep_client):
    response = rep_client.post(
        "/preview/", {"answer": "Hi <script>alert(1)</script> <img src=x onerror=alert(1)>"}
    )

    html = response.content.decode().lower()
    assert "<script" not in html
    assert "onerror" not in html


def test_preview_of_nothing_says_so(rep_client):
    response = rep_client.post("/preview/", {"answer": ""})

    assert "Nothing to preview yet." in page_text(response)


def test_preview_too_long_is_refused(rep_client):
    response = rep_client.post("/preview/", {"answer": "a" * 50_001})

    assert response.status_code == 400


def test_preview_by_get_is_not_allowed(rep_client):
    assert rep_client.get("/preview/").status_code == 405


# -- read ---------------------------------------------------------------------------


def test_entry_page_renders_fenced_code(rep_client, make_entry):
    entry = make_entry(answer="Run this:\n\n```\nping 8.8.8.8\n```\n")

    html = rep_client.get(f"/entries/{entry.pk}/").content.decode()

    assert "<pre><code>ping 8.8.8.8\n</code></pre>" in html


def test_entry_page_renders_tables(rep_client, make_entry):
    entry = make_entry(answer="| Light | Means |\n|---|---|\n| Red | Line down |\n")

    html = rep_client.get(f"/entries/{entry.pk}/").content.decode()

    assert "<table>" in html
    assert "<th>Light</th>" in html
    assert "<td>Line down</td>" in html


def test_entry_page_renders_lists_and_bold(rep_client, entry):
    html = rep_client.get(f"/entries/{entry.pk}/").content.decode()

    assert "<ol>" in html
    assert "<strong>router lights</strong>" in html


def test_entry_page_shows_question_and_answer(rep_client, entry):
    text = page_text(rep_client.get(f"/entries/{entry.pk}/"))

    assert entry.question in text
    assert "Run the line test in Compass." in text


def test_entry_page_shows_author_owner_and_state(rep_client, entry):
    text = page_text(rep_client.get(f"/entries/{entry.pk}/"))

    assert "Author rita" in text
    assert "Owner rita" in text
    assert "Published" in text


def test_entry_page_shows_tags(rep_client, entry):
    html = rep_client.get(f"/entries/{entry.pk}/").content.decode()

    assert '<a class="tag" href="/search/?q=tag:broadband">broadband</a>' in html
    assert '<a class="tag" href="/search/?q=tag:faults">faults</a>' in html


def test_entry_page_shows_created_and_updated(rep_client, entry):
    text = page_text(rep_client.get(f"/entries/{entry.pk}/"))

    created = date_format(timezone.localtime(entry.created_at), "j M Y, H:i")
    updated = date_format(timezone.localtime(entry.updated_at), "j M Y, H:i")
    assert f"Created {created}" in text
    assert f"Updated {updated} by rita" in text


def test_missing_entry_page_is_404(rep_client, db):
    assert rep_client.get("/entries/999999/").status_code == 404


# -- states -------------------------------------------------------------------------


def post_state(client, entry, state, version=None):
    return client.post(
        f"/entries/{entry.pk}/state/",
        {"state": state, "version": entry.version if version is None else version},
    )


def test_supervisor_validates_entry(supervisor_client, supervisor, entry):
    response = post_state(supervisor_client, entry, "validated")

    assert response.status_code == 302
    assert response.url == f"/entries/{entry.pk}/"
    entry.refresh_from_db()
    assert entry.state == "validated"
    assert entry.version == 2
    revision = entry.revisions.get(number=2)
    assert revision.state == "validated"
    assert revision.editor == supervisor
    assert revision.summary == "Published → Validated"


def test_validation_shows_who_when_and_the_next_review_date(supervisor_client, supervisor, entry):
    post_state(supervisor_client, entry, "validated")
    entry.refresh_from_db()

    text = page_text(supervisor_client.get(f"/entries/{entry.pk}/"))

    assert (entry.validated_by, entry.review_interval_days) == (supervisor, 180)
    assert (entry.review_due_at - entry.validated_at).days == 180
    assert f"Validated {entry.validated_at:%-d %b %Y} by sam" in text
    assert f"Next review {entry.review_due_at:%-d %b %Y}" in text
    assert "Reviewed: validate again" in text


def test_validating_again_restarts_an_overdue_review(supervisor_client, make_entry):
    entry = make_entry(state="validated")
    overdue = timezone.now() - timedelta(days=3)
    Entry.objects.filter(pk=entry.pk).update(review_due_at=overdue)
    assert "(overdue)" in page_text(supervisor_client.get(f"/entries/{entry.pk}/"))

    post_state(supervisor_client, entry, "validated")

    entry.refresh_from_db()
    assert entry.state == "validated"
    assert entry.review_due_at > timezone.now() + timedelta(days=179)
    assert "(overdue)" not in page_text(supervisor_client.get(f"/entries/{entry.pk}/"))


def test_supervisor_archives_entry(supervisor_client, entry):
    response = post_state(supervisor_client, entry, "archived")

    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.state == "archived"
    assert entry.revisions.get(number=2).summary == "Published → Archived"


def test_supervisor_state_change_is_confirmed(supervisor_client, entry):
    response = supervisor_client.post(
        f"/entries/{entry.pk}/state/", {"state": "validated", "version": 1}, follow=True
    )

    assert "Entry is now validated." in page_text(response)


@pytest.mark.parametrize("state", ["validated", "archived"])
def test_rep_cannot_change_state(rep_client, entry, state):
    response = post_state(rep_client, entry, state)

    assert response.status_code == 403
    assert "Only supervisors" in page_text(response)
    entry.refresh_from_db()
    assert entry.state == "published"
    assert entry.version == 1
    assert entry.revisions.count() == 1


def test_rep_cannot_unarchive(rep_client, make_entry):
    archived = make_entry(state="archived")

    response = post_state(rep_client, archived, "published")

    assert response.status_code == 403
    archived.refresh_from_db()
    assert archived.state == "archived"


def test_entry_page_offers_validate_and_archive_to_supervisors(supervisor_client, entry):
    html = supervisor_client.get(f"/entries/{entry.pk}/").content.decode()

    assert 'name="state" value="validated"' in html
    assert 'name="state" value="archived"' in html


def test_entry_page_hides_validate_and_archive_from_reps(rep_client, entry):
    html = rep_client.get(f"/entries/{entry.pk}/").content.decode()

    assert 'name="state" value="validated"' not in html
    assert 'name="state" value="archived"' not in html


def test_author_publishes_own_draft(rep_client, rep, make_entry):
    draft = make_entry(state="draft")

    response = post_state(rep_client, draft, "published")

    assert response.status_code == 302
    draft.refresh_from_db()
    assert draft.state == "published"
    assert draft.revisions.get(number=2).summary == "Draft → Published"


def test_published_draft_becomes_searchable(
    rep_client, client, other_rep, make_entry, django_capture_on_commit_callbacks
):
    draft = make_entry(question="Voicemail PIN reset steps", state="draft")
    with django_capture_on_commit_callbacks(execute=True):
        post_state(rep_client, draft, "published")
    client.force_login(other_rep)

    response = client.get("/search/", {"q": "voicemail"})

    assert "Voicemail PIN reset steps" in page_text(response)


def test_other_rep_cannot_publish_someone_elses_draft(client, other_rep, make_entry):
    draft = make_entry(state="draft")
    client.force_login(other_rep)

    response = post_state(client, draft, "published")

    assert response.status_code == 404
    draft.refresh_from_db()
    assert draft.state == "draft"


def test_state_change_with_stale_version_writes_nothing(supervisor_client, entry):
    response = post_state(supervisor_client, entry, "archived", version=7)

    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.state == "published"
    assert entry.revisions.count() == 1


@pytest.mark.parametrize(
    "data",
    [{"state": "deleted", "version": 1}, {"state": "archived"}, {"state": "", "version": "x"}],
)
def test_state_change_with_bad_input_is_refused(supervisor_client, entry, data):
    response = supervisor_client.post(f"/entries/{entry.pk}/state/", data)

    assert response.status_code == 400
    entry.refresh_from_db()
    assert entry.state == "published"
    assert entry.revisions.count() == 1


def test_state_change_by_get_is_not_allowed(supervisor_client, entry):
    response = supervisor_client.get(f"/entries/{entry.pk}/state/", {"state": "archived"})

    assert response.status_code == 405
    entry.refresh_from_db()
    assert entry.state == "published"


def test_archived_entry_leaves_default_search(
    supervisor_client, client, rep, entry, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post_state(supervisor_client, entry, "archived")
    client.force_login(rep)

    response = client.get("/search/", {"q": "broadband dropping"})

    assert entry.question not in page_text(response)


def test_archived_entry_is_found_with_archived(
    supervisor_client, client, rep, entry, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        post_state(supervisor_client, entry, "archived")
    client.force_login(rep)

    response = client.get("/search/", {"q": "broadband dropping", "archived": "1"})

    assert entry.question in page_text(response)
    assert "Archived" in page_text(response)
