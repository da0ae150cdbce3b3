"""Editing with history: every save a revision, conflicts caught, any revision restorable."""

from __future__ import annotations

import re
from html import unescape
from types import SimpleNamespace

import pytest
from django.test import Client

from kb.models import Entry, Revision
from tests.helpers import page_text

pytestmark = pytest.mark.django_db

OLD_LINE = "2. Run the line test in Compass."
NEW_LINE = "2. Run the line test in Compass, then book an engineer."


def edit_data(entry: Entry, **changes) -> dict:
    """The edit form as a browser would submit it, unchanged unless told otherwise."""
    return {
        "question": entry.question,
        "answer": entry.answer,
        "tags": ", ".join(entry.tag_names()),
        "environment": entry.environment,
        "cause": entry.cause,
        "version": entry.version,
        "summary": "",
        **changes,
    }


def form_version(response) -> str:
    """The base version the rendered edit form would submit."""
    return re.search(
        r'<input type="hidden" name="version" value="(\d+)"', response.content.decode()
    )[1]


def visible_text(fragment: str) -> str:
    """What a reader sees of an HTML fragment."""
    return page_text(SimpleNamespace(content=fragment.encode()))


def input_value(response, name: str) -> str:
    html = response.content.decode()
    return unescape(re.search(rf'<input type="text" name="{name}" value="([^"]*)"', html)[1])


def textarea(response, name: str) -> str:
    """What a textarea in the rendered form holds, as the browser shows it."""
    html = response.content.decode()
    raw = re.search(rf'<textarea name="{name}"[^>]*>(.*?)</textarea>', html, flags=re.S)[1]
    return visible_text(raw)


@pytest.fixture
def edited(rep_client, entry):
    """The entry after one edit by rita: revision 2."""
    answer = entry.answer.replace(OLD_LINE, NEW_LINE)
    response = rep_client.post(
        f"/entries/{entry.pk}/edit/", edit_data(entry, answer=answer, summary="Engineer step")
    )
    assert response.status_code == 302
    entry.refresh_from_db()
    return entry


# -- edit ---------------------------------------------------------------------------


def test_edit_form_shows_current_content_and_version(rep_client, entry):
    response = rep_client.get(f"/entries/{entry.pk}/edit/")

    assert response.status_code == 200
    assert form_version(response) == "1"
    assert 'value="broadband, faults"' in response.content.decode()
    assert OLD_LINE in textarea(response, "answer")


def test_edit_with_current_version_creates_revision_2(rep_client, rep, entry):
    answer = entry.answer.replace(OLD_LINE, NEW_LINE)

    response = rep_client.post(
        f"/entries/{entry.pk}/edit/", edit_data(entry, answer=answer, summary="Engineer step")
    )

    assert response.status_code == 302
    assert response.url == f"/entries/{entry.pk}/"
    entry.refresh_from_db()
    assert entry.answer == answer
    assert entry.version == 2
    revision = entry.revisions.get(number=2)
    assert revision.summary == "Engineer step"
    assert revision.answer == answer
    assert revision.editor == rep


def test_edit_is_confirmed_with_revision_number(rep_client, entry):
    response = rep_client.post(
        f"/entries/{entry.pk}/edit/",
        edit_data(entry, question="Broadband drops at night"),
        follow=True,
    )

    text = page_text(response)
    assert "Saved as revision 2." in text
    assert "Broadband drops at night" in text


def test_edit_by_another_rep_is_credited_to_them(client, other_rep, entry):
    client.force_login(other_rep)

    client.post(f"/entries/{entry.pk}/edit/", edit_data(entry, cause="Evening congestion"))

    revision = entry.revisions.get(number=2)
    assert revision.editor == other_rep
    assert revision.cause == "Evening congestion"


def test_edit_changes_tags(rep_client, entry):
    rep_client.post(f"/entries/{entry.pk}/edit/", edit_data(entry, tags="Faults, Wifi"))

    entry.refresh_from_db()
    assert entry.tag_names() == ["faults", "wifi"]
    assert entry.revisions.get(number=2).tags == ["faults", "wifi"]


def test_edited_entry_is_found_by_its_new_words(
    rep_client, entry, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        rep_client.post(f"/entries/{entry.pk}/edit/", edit_data(entry, answer="Book an engineer."))

    response = rep_client.get("/search/", {"q": "engineer"})

    assert entry.question in page_text(response)


def test_edit_unchanged_creates_no_revision(rep_client, entry):
    response = rep_client.post(f"/entries/{entry.pk}/edit/", edit_data(entry), follow=True)

    assert response.status_code == 200
    assert "Nothing changed, so nothing was saved." in page_text(response)
    entry.refresh_from_db()
    assert entry.version == 1
    assert entry.revisions.count() == 1


def test_edit_unchanged_with_reordered_tags_creates_no_revision(rep_client, entry):
    rep_client.post(f"/entries/{entry.pk}/edit/", edit_data(entry, tags="Faults,broadband"))

    assert entry.revisions.count() == 1


def test_edit_with_blank_question_is_refused(rep_client, entry):
    response = rep_client.post(f"/entries/{entry.pk}/edit/", edit_data(entry, question=""))

    assert response.status_code == 400
    assert "This field is required." in page_text(response)
    entry.refresh_from_db()
    assert entry.question == "Customer's broadband keeps dropping every evening"
    assert entry.revisions.count() == 1


def test_edit_without_version_is_refused(rep_client, entry):
    data = edit_data(entry, answer="Changed")
    del data["version"]

    response = rep_client.post(f"/entries/{entry.pk}/edit/", data)

    assert response.status_code == 400
    entry.refresh_from_db()
    assert entry.answer != "Changed"
    assert entry.revisions.count() == 1


def test_edit_someone_elses_draft_is_404(client, other_rep, make_entry):
    draft = make_entry(state="draft")
    client.force_login(other_rep)

    response = client.post(f"/entries/{draft.pk}/edit/", edit_data(draft, answer="Mine now"))

    assert response.status_code == 404
    draft.refresh_from_db()
    assert draft.answer != "Mine now"


# -- edit conflict ------------------------------------------------------------------


RITA_ANSWER = "Rita: check the router lights, then run the line test."
OMAR_ANSWER = "Omar: swap the filter before anything else."


@pytest.fixture
def conflict(rep_client, other_rep, entry):
    """Rita and Omar both open the edit form at version 1; Omar saves first; Rita saves."""
    omar = Client()
    omar.force_login(other_rep)
    rita_version = form_version(rep_client.get(f"/entries/{entry.pk}/edit/"))
    omar_version = form_version(omar.get(f"/entries/{entry.pk}/edit/"))
    assert rita_version == omar_version == "1"
    saved = omar.post(
        f"/entries/{entry.pk}/edit/", edit_data(entry, answer=OMAR_ANSWER, version=omar_version)
    )
    assert saved.status_code == 302
    return rep_client.post(
        f"/entries/{entry.pk}/edit/",
        edit_data(entry, answer=RITA_ANSWER, summary="Rita's fix", version=rita_version),
    )


def test_edit_conflict_is_409(conflict):
    assert conflict.status_code == 409
    text = page_text(conflict)
    assert "Someone saved this entry while you were editing" in text
    assert "omar saved revision 2" in text


def test_edit_conflict_shows_the_other_persons_change(conflict):
    html = conflict.content.decode()
    theirs = html.split("<h2>Their change</h2>", 1)[1].split("<h2>", 1)[0]

    assert re.search(rf'<tr class="insert">.*?<pre>{re.escape(OMAR_ANSWER)}</pre>', theirs)
    assert re.search(r'<tr class="delete">.*?<pre>2\. Run the line test in Compass\.</pre>', theirs)


def test_edit_conflict_keeps_your_text_in_the_form(conflict):
    assert textarea(conflict, "answer") == RITA_ANSWER
    assert input_value(conflict, "summary") == "Rita's fix"


def test_edit_conflict_form_is_based_on_the_latest_version(conflict):
    assert form_version(conflict) == "2"


def test_edit_conflict_does_not_overwrite(conflict, entry):
    entry.refresh_from_db()
    assert entry.answer == OMAR_ANSWER
    assert entry.version == 2
    assert entry.revisions.count() == 2
    assert not Revision.objects.filter(answer=RITA_ANSWER).exists()


def test_edit_conflict_resubmitted_with_new_version_saves(conflict, rep_client, rep, entry):
    response = rep_client.post(
        f"/entries/{entry.pk}/edit/",
        edit_data(entry, answer=RITA_ANSWER, summary="Rita's fix", version=form_version(conflict)),
    )

    assert response.status_code == 302
    entry.refresh_from_db()
    assert entry.answer == RITA_ANSWER
    assert entry.version == 3
    revision = entry.revisions.get(number=3)
    assert revision.editor == rep
    assert revision.summary == "Rita's fix"
    assert entry.revisions.get(number=2).answer == OMAR_ANSWER


# -- history, revisions and compare -------------------------------------------------


def test_history_lists_every_revision(rep_client, edited):
    response = rep_client.get(f"/entries/{edited.pk}/history/")

    assert response.status_code == 200
    rows = re.findall(r"<tr>\s*<td><input.*?</tr>", response.content.decode(), flags=re.S)
    assert len(rows) == 2
    newest, oldest = (visible_text(row) for row in rows)
    assert newest.startswith("2 (current)")
    assert newest.endswith("rita Engineer step")
    assert oldest.startswith("1 ")
    assert oldest.endswith("rita Created")


def test_history_of_someone_elses_draft_is_404(client, other_rep, make_entry):
    draft = make_entry(state="draft")
    client.force_login(other_rep)

    assert client.get(f"/entries/{draft.pk}/history/").status_code == 404


def test_compare_shows_inserted_and_deleted_lines(rep_client, edited):
    response = rep_client.get(f"/entries/{edited.pk}/history/compare/", {"a": 1, "b": 2})

    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(rf'<tr class="delete">[^\n]*<pre>{re.escape(OLD_LINE)}</pre>', html)
    assert re.search(rf'<tr class="insert">[^\n]*<pre>{re.escape(NEW_LINE)}</pre>', html)
    assert "Revision 1 → 2" in page_text(response)


def test_compare_in_either_order_shows_old_to_new(rep_client, edited):
    response = rep_client.get(f"/entries/{edited.pk}/history/compare/", {"a": 2, "b": 1})

    assert "Revision 1 → 2" in page_text(response)
    assert re.search(
        rf'<tr class="insert">[^\n]*<pre>{re.escape(NEW_LINE)}</pre>', response.content.decode()
    )


def test_compare_a_revision_with_itself_shows_no_differences(rep_client, edited):
    response = rep_client.get(f"/entries/{edited.pk}/history/compare/", {"a": 2, "b": 2})

    assert response.status_code == 200
    assert "No differences." in page_text(response)


@pytest.mark.parametrize(
    "params",
    [{}, {"a": "1"}, {"a": "abc", "b": "2"}, {"a": "0", "b": "1"}, {"a": "-1", "b": "2"}],
)
def test_compare_with_bad_params_returns_to_history(rep_client, edited, params):
    response = rep_client.get(f"/entries/{edited.pk}/history/compare/", params, follow=True)

    assert response.redirect_chain == [(f"/entries/{edited.pk}/history/", 302)]
    assert "Pick two revisions to compare." in page_text(response)


def test_compare_with_missing_revision_is_404(rep_client, edited):
    response = rep_client.get(f"/entries/{edited.pk}/history/compare/", {"a": 1, "b": 99})

    assert response.status_code == 404


def test_revision_page_shows_that_revision(rep_client, edited):
    response = rep_client.get(f"/entries/{edited.pk}/history/1/")

    assert response.status_code == 200
    text = page_text(response)
    assert "Revision 1 of 2" in text
    assert "“Created”" in text
    assert "Run the line test in Compass." in text
    assert "book an engineer" not in text
    assert "Restore this revision" in text


def test_current_revision_page_offers_no_restore(rep_client, edited):
    response = rep_client.get(f"/entries/{edited.pk}/history/2/")

    assert response.status_code == 200
    assert "Restore this revision" not in page_text(response)


def test_missing_revision_page_is_404(rep_client, entry):
    assert rep_client.get(f"/entries/{entry.pk}/history/9/").status_code == 404


# -- restore ------------------------------------------------------------------------


def test_restore_creates_a_new_revision_with_the_old_content(rep_client, rep, edited):
    response = rep_client.post(f"/entries/{edited.pk}/history/1/restore/", {"version": 2})

    assert response.status_code == 302
    assert response.url == f"/entries/{edited.pk}/"
    first, restored = (edited.revisions.get(number=n) for n in (1, 3))
    fields = ("question", "answer", "environment", "cause", "tags", "state")
    assert [getattr(restored, f) for f in fields] == [getattr(first, f) for f in fields]
    assert "Restored revision 1" in restored.summary
    assert restored.restored_from == first
    assert restored.editor == rep


def test_restore_updates_the_entry(rep_client, edited):
    rep_client.post(f"/entries/{edited.pk}/history/1/restore/", {"version": 2})

    edited.refresh_from_db()
    assert edited.version == 3
    assert OLD_LINE in edited.answer
    assert NEW_LINE not in edited.answer


def test_restore_is_confirmed_and_listed_in_history(rep_client, edited):
    confirmed = rep_client.post(
        f"/entries/{edited.pk}/history/1/restore/", {"version": 2}, follow=True
    )
    history = rep_client.get(f"/entries/{edited.pk}/history/")

    assert "Restored revision 1 as revision 3." in page_text(confirmed)
    assert "Restored revision 1" in page_text(history)


def test_restore_with_stale_version_writes_nothing(rep_client, edited):
    response = rep_client.post(
        f"/entries/{edited.pk}/history/1/restore/", {"version": 1}, follow=True
    )

    assert response.redirect_chain == [(f"/entries/{edited.pk}/history/", 302)]
    assert "Someone saved this entry while you were looking" in page_text(response)
    edited.refresh_from_db()
    assert edited.version == 2
    assert NEW_LINE in edited.answer
    assert edited.revisions.count() == 2


def test_restore_without_version_is_refused(rep_client, edited):
    response = rep_client.post(f"/entries/{edited.pk}/history/1/restore/", {})

    assert response.status_code == 400
    assert edited.revisions.count() == 2


def test_restore_by_get_is_not_allowed(rep_client, edited):
    response = rep_client.get(f"/entries/{edited.pk}/history/1/restore/", {"version": 2})

    assert response.status_code == 405
    assert edited.revisions.count() == 2


def test_restore_of_missing_revision_is_404(rep_client, edited):
    response = rep_client.post(f"/entries/{edited.pk}/history/9/restore/", {"version": 2})

    assert response.status_code == 404
    assert edited.revisions.count() == 2


def test_restore_of_identical_content_says_nothing_changed(rep_client, edited):
    response = rep_client.post(
        f"/entries/{edited.pk}/history/2/restore/", {"version": 2}, follow=True
    )

    assert "Revision 2 is the same as the current one; nothing changed." in page_text(response)
    assert edited.revisions.count() == 2
