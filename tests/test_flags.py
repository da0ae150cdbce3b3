"""Flag it or fix it: flags raised with a reason, shown as a banner, closed by an edit
(linking its revision) or dismissed by a supervisor; and watching an entry."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError

from kb import actions
from kb.models import Flag, Notification, Watch
from tests.helpers import page_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def flag(others_entry, rep):
    flag, _ = actions.flag_entry(
        entry=others_entry, user=rep, reason="outdated", comment="PAC is now a text to 65075."
    )
    return flag


def flag_url(entry) -> str:
    return f"/entries/{entry.pk}/flag/"


def edit_data(entry, **changes) -> dict:
    entry.refresh_from_db()
    return {
        "question": entry.question,
        "answer": entry.answer,
        "tags": ", ".join(entry.tag_names()),
        "version": entry.version,
        "summary": "",
        **changes,
    }


# -- raising a flag ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "label"), [("wrong", "Wrong"), ("outdated", "Outdated"), ("unclear", "Unclear")]
)
def test_flag_with_each_reason_is_saved_and_shown(rep_client, rep, others_entry, reason, label):
    response = rep_client.post(flag_url(others_entry), {"reason": reason, "comment": " Step  2? "})

    assert response.status_code == 302
    flag = Flag.objects.get()
    assert (flag.entry, flag.raised_by, flag.reason) == (others_entry, rep, reason)
    assert (flag.state, flag.comment) == ("open", "Step 2?")
    text = page_text(rep_client.get(others_entry.get_absolute_url()))
    assert "Flagged: this entry may need fixing" in text
    assert f"{label} · raised by rita" in text
    assert "Step 2?" in text


def test_flag_duplicate_links_the_other_entry(rep_client, others_entry, make_entry):
    original = make_entry(question="How do I move my number?", answer="PAC code.")

    response = rep_client.post(
        flag_url(others_entry), {"reason": "duplicate", "duplicate_of": f"#{original.pk}"}
    )

    assert response.status_code == 302
    assert Flag.objects.get().duplicate_of == original
    html = rep_client.get(others_entry.get_absolute_url()).content.decode()
    assert f'href="/entries/{original.pk}/">#{original.pk} How do I move my number?' in html


def test_flag_duplicate_accepts_a_pasted_link(rep_client, others_entry, make_entry):
    original = make_entry(question="How do I move my number?")

    rep_client.post(
        flag_url(others_entry),
        {"reason": "duplicate", "duplicate_of": f"http://floor/entries/{original.pk}/"},
    )

    assert Flag.objects.get().duplicate_of == original


@pytest.mark.parametrize("number", ["", "self", "999999", "draft", "abc", "-3"])
def test_flag_duplicate_without_a_valid_other_entry_is_refused(
    rep_client, others_entry, make_entry, other_rep, number
):
    draft = make_entry(question="omar's secret draft", author=other_rep, state="draft")
    value = {"self": str(others_entry.pk), "draft": str(draft.pk)}.get(number, number)

    response = rep_client.post(
        flag_url(others_entry), {"reason": "duplicate", "duplicate_of": value, "comment": "same"}
    )

    assert response.status_code == 400
    text = page_text(response)
    assert "Nothing was flagged yet" in text
    assert re.search(r"number|There is no entry", text)
    assert 'name="comment"' in response.content.decode() and ">same</textarea>" in (
        response.content.decode()
    )
    assert not Flag.objects.exists()
    assert not Notification.objects.exists()


def test_flag_duplicate_refusal_names_the_problem(rep_client, others_entry):
    response = rep_client.post(
        flag_url(others_entry), {"reason": "duplicate", "duplicate_of": str(others_entry.pk)}
    )

    assert "That is this entry's own number" in page_text(response)


@pytest.mark.parametrize("reason", ["", "spam", "<script>"])
def test_flag_without_a_known_reason_is_refused(rep_client, others_entry, reason):
    response = rep_client.post(flag_url(others_entry), {"reason": reason})

    assert response.status_code == 400
    assert "Pick a reason" in page_text(response)
    assert not Flag.objects.exists()


def test_flag_with_too_long_comment_is_refused(rep_client, others_entry):
    response = rep_client.post(flag_url(others_entry), {"reason": "wrong", "comment": "x" * 1001})

    assert response.status_code == 400
    assert "1,000 characters" in page_text(response)
    assert not Flag.objects.exists()


def test_flag_comment_is_escaped(rep_client, others_entry):
    rep_client.post(flag_url(others_entry), {"reason": "wrong", "comment": "<b>bold</b>"})

    html = rep_client.get(others_entry.get_absolute_url()).content.decode()
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<b>bold</b>" not in html


def test_flag_same_reason_twice_is_one_flag(rep_client, others_entry):
    rep_client.post(flag_url(others_entry), {"reason": "wrong"})
    response = rep_client.post(flag_url(others_entry), {"reason": "wrong"}, follow=True)

    assert Flag.objects.count() == 1
    assert "You already flagged this entry for that reason" in page_text(response)
    assert Notification.objects.filter(kind="entry_flagged").count() == 1


def test_flag_another_reason_is_another_flag(rep_client, others_entry):
    rep_client.post(flag_url(others_entry), {"reason": "wrong"})
    rep_client.post(flag_url(others_entry), {"reason": "unclear"})

    assert sorted(Flag.objects.values_list("reason", flat=True)) == ["unclear", "wrong"]


def test_flag_action_returns_the_open_flag_the_second_time(others_entry, rep):
    first, created = actions.flag_entry(entry=others_entry, user=rep, reason="unclear")
    again, created_again = actions.flag_entry(entry=others_entry, user=rep, reason="unclear")

    assert (created, created_again) == (True, False)
    assert again == first


def test_flag_action_refusals_name_the_field(others_entry, rep):
    with pytest.raises(ValidationError) as refused:
        actions.flag_entry(entry=others_entry, user=rep, reason="duplicate", comment="y" * 1001)

    assert set(refused.value.message_dict) == {"duplicate_of", "comment"}


def test_flag_by_get_is_not_allowed_and_others_drafts_are_404(rep_client, make_entry, other_rep):
    draft = make_entry(question="Secret", author=other_rep, state="draft")

    assert rep_client.get(flag_url(draft)).status_code == 405
    assert rep_client.post(flag_url(draft), {"reason": "wrong"}).status_code == 404
    assert not Flag.objects.exists()


def test_entry_without_flags_has_no_banner_but_offers_the_flag_form(rep_client, others_entry):
    response = rep_client.get(others_entry.get_absolute_url())

    assert "Flagged: this entry may need fixing" not in page_text(response)
    assert f'action="/entries/{others_entry.pk}/flag/"' in response.content.decode()


# -- fixing it with an edit ----------------------------------------------------------


def test_fix_it_link_opens_the_edit_form_with_the_flag_ticked(rep_client, others_entry, flag):
    page = rep_client.get(others_entry.get_absolute_url()).content.decode()
    assert f'href="/entries/{others_entry.pk}/edit/?fixes={flag.pk}"' in page

    response = rep_client.get(f"/entries/{others_entry.pk}/edit/", {"fixes": flag.pk})

    html = response.content.decode()
    assert re.search(rf'<input type="checkbox" name="resolves" value="{flag.pk}"[^>]*checked', html)
    assert "Outdated: “PAC is now a text to 65075.” (raised by rita)" in page_text(response)


def test_edit_form_leaves_flags_unticked_without_fixes(rep_client, others_entry, flag):
    html = rep_client.get(f"/entries/{others_entry.pk}/edit/").content.decode()

    assert re.search(rf'name="resolves" value="{flag.pk}"', html)
    assert not re.search(rf'name="resolves" value="{flag.pk}"[^>]*checked', html)


def test_edit_that_fixes_the_flag_resolves_it_and_removes_the_banner(
    client, supervisor, others_entry, flag
):
    client.force_login(supervisor)
    data = edit_data(others_entry, answer="Text PAC to 65075.", resolves=[flag.pk])

    response = client.post(f"/entries/{others_entry.pk}/edit/", data, follow=True)

    flag.refresh_from_db()
    assert flag.state == "resolved"
    assert flag.resolution_revision.number == 2
    assert (flag.resolved_by, flag.resolved_at is not None) == (supervisor, True)
    text = page_text(response)
    assert "Closed 1 flag as fixed by revision 2" in text
    assert "Flagged: this entry may need fixing" not in text
    assert "fixed in revision 2 by sam" in text
    assert f'href="/entries/{others_entry.pk}/history/2/"' in response.content.decode()


def test_edit_without_ticking_leaves_the_flag_open(rep_client, others_entry, flag):
    rep_client.post(
        f"/entries/{others_entry.pk}/edit/", edit_data(others_entry, answer="Something else.")
    )

    flag.refresh_from_db()
    assert flag.state == "open"


def test_edit_that_changes_nothing_keeps_the_flag_open_and_says_so(rep_client, others_entry, flag):
    response = rep_client.post(
        f"/entries/{others_entry.pk}/edit/",
        edit_data(others_entry, resolves=[flag.pk]),
        follow=True,
    )

    flag.refresh_from_db()
    assert flag.state == "open"
    assert "The flags you ticked stay open" in page_text(response)
    assert "Flagged: this entry may need fixing" in page_text(response)


def test_edit_cannot_resolve_another_entrys_flag(rep_client, rep, make_entry, others_entry, flag):
    mine = make_entry(question="Roaming charges abroad", answer="Check the roaming bundle.")

    response = rep_client.post(
        f"/entries/{mine.pk}/edit/", edit_data(mine, answer="Bundle first.", resolves=[flag.pk])
    )

    assert response.status_code == 302
    flag.refresh_from_db()
    assert flag.state == "open"


def test_edit_with_malformed_resolves_still_saves(rep_client, others_entry, flag):
    response = rep_client.post(
        f"/entries/{others_entry.pk}/edit/",
        edit_data(others_entry, answer="New steps.", resolves=["x", "999999"]),
    )

    assert response.status_code == 302
    others_entry.refresh_from_db()
    assert others_entry.version == 2
    flag.refresh_from_db()
    assert flag.state == "open"


def test_edit_conflict_keeps_the_ticked_flags(rep_client, other_rep, others_entry, flag):
    stale = edit_data(others_entry, answer="My version.", resolves=[flag.pk])
    actions.edit_entry(
        entry=others_entry,
        editor=other_rep,
        base_version=1,
        content=actions.EntryContent(question=others_entry.question, answer="Their version."),
    )

    response = rep_client.post(f"/entries/{others_entry.pk}/edit/", stale)

    assert response.status_code == 409
    html = response.content.decode()
    assert re.search(rf'name="resolves" value="{flag.pk}"[^>]*checked', html)
    flag.refresh_from_db()
    assert flag.state == "open"


def test_edit_action_resolves_only_open_flags_of_the_entry(others_entry, flag, other_rep):
    saved = actions.edit_entry(
        entry=others_entry,
        editor=other_rep,
        base_version=1,
        content=actions.EntryContent(question=others_entry.question, answer="Text 65075."),
        resolves=[flag.pk],
    )

    flag.refresh_from_db()
    assert (flag.state, flag.resolution_revision.number) == ("resolved", saved.version)


# -- dismissing ----------------------------------------------------------------------


def dismiss_url(flag) -> str:
    return f"/flags/{flag.pk}/dismiss/"


def test_supervisor_sees_a_dismiss_form_and_reps_do_not(
    client, rep_client, supervisor, others_entry, flag
):
    assert dismiss_url(flag) not in rep_client.get(others_entry.get_absolute_url()).content.decode()

    client.force_login(supervisor)

    assert dismiss_url(flag) in client.get(others_entry.get_absolute_url()).content.decode()


def test_supervisor_dismisses_a_flag_with_a_reason(
    supervisor_client, supervisor, others_entry, flag
):
    response = supervisor_client.post(
        dismiss_url(flag), {"reason": "  Still correct for  business lines. "}, follow=True
    )

    flag.refresh_from_db()
    assert flag.state == "dismissed"
    assert flag.dismiss_reason == "Still correct for business lines."
    assert (flag.resolved_by, flag.resolved_at is not None) == (supervisor, True)
    text = page_text(response)
    assert "Flag dismissed" in text
    assert "Flagged: this entry may need fixing" not in text


def test_dismiss_without_a_reason_is_refused(supervisor_client, flag):
    response = supervisor_client.post(dismiss_url(flag), {"reason": "   "})

    assert response.status_code == 400
    assert "Say why the flag is dismissed" in page_text(response)
    flag.refresh_from_db()
    assert flag.state == "open"


def test_dismiss_with_too_long_reason_is_refused(supervisor_client, flag):
    response = supervisor_client.post(dismiss_url(flag), {"reason": "z" * 201})

    assert response.status_code == 400
    flag.refresh_from_db()
    assert (flag.state, flag.dismiss_reason) == ("open", "")


def test_rep_cannot_dismiss_a_flag(rep_client, flag):
    response = rep_client.post(dismiss_url(flag), {"reason": "Looks fine to me"})

    assert response.status_code == 403
    flag.refresh_from_db()
    assert (flag.state, flag.dismiss_reason, flag.resolved_by) == ("open", "", None)
    assert not Notification.objects.filter(kind="flag_closed").exists()


def test_dismissing_a_closed_flag_is_refused(supervisor_client, supervisor, flag):
    actions.dismiss_flag(flag=flag, actor=supervisor, reason="Fine")

    response = supervisor_client.post(dismiss_url(flag), {"reason": "Again"}, follow=True)

    assert "This flag is already closed (dismissed)." in page_text(response)
    flag.refresh_from_db()
    assert flag.dismiss_reason == "Fine"
    with pytest.raises(ValidationError):
        actions.dismiss_flag(flag=flag, actor=supervisor, reason="Once more")


def test_dismiss_unknown_flag_is_404(supervisor_client):
    assert supervisor_client.post("/flags/999999/dismiss/", {"reason": "x"}).status_code == 404


# -- watching ------------------------------------------------------------------------


def watch_url(entry) -> str:
    return f"/entries/{entry.pk}/watch/"


def test_watch_toggles_without_a_value(rep_client, rep, others_entry):
    response = rep_client.post(watch_url(others_entry), follow=True)

    assert Watch.objects.filter(user=rep, entry=others_entry).exists()
    assert "Watching: you will be told in your inbox" in page_text(response)

    rep_client.post(watch_url(others_entry))

    assert not Watch.objects.exists()


def test_watch_with_an_explicit_value_is_idempotent(rep_client, rep, others_entry):
    rep_client.post(watch_url(others_entry), {"watch": "1"})
    rep_client.post(watch_url(others_entry), {"watch": "1"})

    assert Watch.objects.filter(user=rep).count() == 1

    rep_client.post(watch_url(others_entry), {"watch": "0"})
    rep_client.post(watch_url(others_entry), {"watch": "0"})

    assert not Watch.objects.exists()


def test_watch_by_htmx_returns_the_button(rep_client, others_entry):
    response = rep_client.post(watch_url(others_entry), {"watch": "1"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert "<html" not in response.content.decode()
    assert "Stop watching" in page_text(response)


def test_watch_with_a_bad_value_is_refused(rep_client, others_entry):
    assert rep_client.post(watch_url(others_entry), {"watch": "yes"}).status_code == 400
    assert not Watch.objects.exists()


def test_entry_page_shows_watch_state(rep_client, rep, others_entry):
    assert "Watch" in page_text(rep_client.get(others_entry.get_absolute_url()))
    actions.watch_entry(entry=others_entry, user=rep)

    assert "✓ Watching" in page_text(rep_client.get(others_entry.get_absolute_url()))


def test_owner_is_not_offered_to_watch(client, other_rep, others_entry):
    client.force_login(other_rep)

    text = page_text(client.get(others_entry.get_absolute_url()))

    assert "You own this entry" in text
    assert (
        f'action="{watch_url(others_entry)}"'
        not in client.get(others_entry.get_absolute_url()).content.decode()
    )


def test_watch_others_draft_is_404(rep_client, make_entry, other_rep):
    draft = make_entry(question="Secret", author=other_rep, state="draft")

    assert rep_client.post(watch_url(draft)).status_code == 404
    assert not Watch.objects.exists()
