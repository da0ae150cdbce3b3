"""A rep's day in a real browser: search as you type, reuse, write up a gap, edit
conflicts, and the supervisor pages they cannot open."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from kb.models import Entry, Reuse
from tests.e2e.a11y import assert_accessible
from tests.e2e.steps import log_in, result_links, search_box, type_search


def test_rep_finds_an_answer_as_they_type_and_marks_it_used(
    new_page, screenshot, rep, entry, make_entry
):
    make_entry(question="How do I port a number in?", answer="Ask for the PAC code.")
    page = new_page()
    page.goto("/")
    screenshot(page, "login")
    assert_accessible(page, logged_in=False)
    log_in(page, "rita")

    # Results come and change while the rep types: no Enter, no page load.
    page.evaluate("window.stillTheSamePage = true")
    type_search(page, "broadb")  # the word being typed is completed
    expect(page.locator(".result-count")).to_contain_text("1 answer for broadb")
    expect(result_links(page)).to_have_text([entry.question])
    search_box(page).press_sequentially("and drop", delay=40)
    expect(page.locator(".result-count")).to_contain_text("1 answer for broadband drop")
    expect(result_links(page)).to_have_text([entry.question])
    expect(page.locator("#results mark")).to_have_text(["broadband", "dropping"])
    assert page.evaluate("window.stillTheSamePage") is True
    expect(page).to_have_url(re.compile(r"/search/\?q=broadband(%20|\+)drop$"))
    screenshot(page, "search-as-you-type")
    assert_accessible(page)

    result_links(page).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(entry.question)
    expect(page.locator(".usage")).to_have_text("not used on a call yet")
    page.get_by_label("Case or call reference (optional)").press_sequentially("CASE-4711")
    page.get_by_role("button", name="Used on this call").click()
    expect(page.get_by_role("button", name="✓ Used on this call (CASE-4711)")).to_be_disabled()
    expect(page.locator(".usage")).to_contain_text("used 1 time, last just now")
    screenshot(page, "entry-used-on-this-call")
    assert_accessible(page)

    page.reload()
    expect(page.locator(".usage")).to_contain_text("used 1 time")
    reuse = Reuse.objects.get()
    assert (reuse.entry, reuse.user, reuse.case_ref) == (entry, rep, "CASE-4711")
    assert reuse.query == "broadband drop"


def test_rep_writes_up_a_search_that_found_nothing_and_the_next_search_finds_it(
    new_page, screenshot, rep, entry
):
    page = new_page()
    log_in(page, "rita")
    question = "Paper bills sent by post"
    type_search(page, question)
    expect(page.get_by_text(f"Nothing found for “{question}”.")).to_be_visible()
    screenshot(page, "search-found-nothing")

    page.get_by_role("link", name="Write this up").click()
    expect(page.get_by_role("heading", name="Write an entry")).to_be_visible()
    expect(page.get_by_role("textbox", name="Question", exact=True)).to_have_value(question)
    assert_accessible(page)
    page.get_by_role("textbox", name="Answer", exact=True).press_sequentially(
        "Tick **paper bills** in Compass; a £1.50 monthly charge applies."
    )
    page.get_by_role("combobox", name="Tags").press_sequentially("billing")
    screenshot(page, "write-this-up")
    page.get_by_role("button", name="Publish", exact=True).click()

    expect(page.get_by_text("Saved and searchable. Thanks for writing it up.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text(question)
    expect(page.locator(".answer strong")).to_have_text("paper bills")
    screenshot(page, "entry-written-up")
    written = Entry.objects.get(question=question)
    assert (written.author, written.state, written.tag_names()) == (rep, "published", ["billing"])

    page.goto("/")
    type_search(page, "paper bill")
    expect(result_links(page)).to_have_text([question])


def test_second_of_two_reps_saving_the_same_entry_sees_both_versions_and_loses_nothing(
    new_page, screenshot, rep, other_rep, entry
):
    rita, omar = new_page(), new_page()
    log_in(rita, "rita")
    log_in(omar, "omar")
    for page in (rita, omar):
        page.goto(f"/entries/{entry.pk}/edit/")
        expect(page.get_by_role("heading", name="Edit entry")).to_be_visible()

    ritas_line = "3. Rita: book an engineer if the line test fails."
    omars_line = "3. Omar: check for a local outage on the status page first."
    answer = rita.get_by_role("textbox", name="Answer", exact=True)
    answer.press("ControlOrMeta+End")
    answer.press("Enter")
    answer.press_sequentially(ritas_line)
    rita.get_by_role("button", name="Save changes").click()
    expect(rita.get_by_text("Saved as revision 2.")).to_be_visible()

    answer = omar.get_by_role("textbox", name="Answer", exact=True)
    answer.press("ControlOrMeta+End")
    answer.press("Enter")
    answer.press_sequentially(omars_line)
    omar.get_by_role("textbox", name="Summary").press_sequentially("outage check")
    omar.get_by_role("button", name="Save changes").click()

    expect(
        omar.get_by_role("heading", name="Someone saved this entry while you were editing")
    ).to_be_visible()
    expect(omar.get_by_role("alert")).to_contain_text("rita saved revision 2")
    their_change = omar.locator("h2:text('Their change') + *")
    expect(their_change).to_contain_text(ritas_line)
    yours = omar.locator("h2:text('What you changed, compared with the latest') + *")
    expect(yours).to_contain_text(omars_line)
    expect(omar.get_by_role("textbox", name="Answer", exact=True)).to_have_value(
        re.compile(re.escape(omars_line))
    )
    expect(omar.get_by_role("textbox", name="Summary")).to_have_value("outage check")
    screenshot(omar, "edit-conflict")
    assert_accessible(omar)
    entry.refresh_from_db()
    assert (entry.version, omars_line in entry.answer) == (2, False)

    omar.get_by_role("button", name="Save my version over revision 2").click()
    expect(omar.get_by_text("Saved as revision 3.")).to_be_visible()
    expect(omar.locator(".answer")).to_contain_text(omars_line.removeprefix("3. "))
    answers = list(entry.revisions.order_by("number").values_list("answer", flat=True))
    assert len(answers) == 3
    assert ritas_line in answers[1] and omars_line in answers[2]


SUPERVISOR_PAGES = [
    "/review/",
    "/review/no-results/",
    "/review/flags/",
    "/review/measures/",
    "/review/synonyms/",
]


def test_rep_cannot_reach_supervisor_pages(new_page, screenshot, rep, entry):
    page = new_page()
    log_in(page, "rita")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Questions")).to_be_visible()
    expect(nav.get_by_role("link", name="Review")).to_have_count(0)
    page.locator(".user-menu summary").click()
    expect(nav.get_by_role("link", name="My entries")).to_be_visible()
    expect(nav.get_by_role("link", name="Search synonyms")).to_have_count(0)

    for path in SUPERVISOR_PAGES:
        response = page.goto(path)
        assert response.status == 403, path
        expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    screenshot(page, "rep-not-allowed")
    assert_accessible(page)

    page.goto(entry.get_absolute_url())
    expect(page.get_by_role("heading", level=1)).to_have_text(entry.question)
    expect(page.get_by_role("button", name="Validate")).to_have_count(0)
    expect(page.get_by_role("button", name="Archive")).to_have_count(0)
