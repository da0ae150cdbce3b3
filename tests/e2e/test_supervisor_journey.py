"""A supervisor's daily review in a real browser: the gaps, then validating an entry."""

from __future__ import annotations

from playwright.sync_api import expect

from kb import actions
from tests.e2e.a11y import assert_accessible
from tests.e2e.steps import log_in, result_links, type_search


def test_supervisor_reviews_the_gaps_and_validates_an_entry(
    new_page, screenshot, rep, other_rep, supervisor, entry
):
    actions.log_search(user=rep, text="fax line warranty", result_count=0)
    actions.log_search(user=other_rep, text="warranty fax line", result_count=0)
    page = new_page()
    log_in(page, "sam")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Review").click()
    expect(page.get_by_role("heading", name="Gap review", level=1)).to_be_visible()
    no_results = page.locator(
        "section", has=page.get_by_role("heading", name="Searches with no result")
    )
    expect(no_results.get_by_role("row")).to_have_count(2)  # the header and one group
    group = no_results.get_by_role("row").nth(1)
    expect(group.get_by_role("cell").first).to_have_text("warranty fax line")
    expect(group.get_by_role("cell").nth(1)).to_have_text("2")
    screenshot(page, "review-gaps")
    assert_accessible(page)

    no_results.get_by_role("link", name="Searches with no result").click()
    expect(page.get_by_role("heading", name="Searches with no result", level=1)).to_be_visible()
    row = page.get_by_role("row").filter(has_text="fax line")
    expect(row.get_by_role("cell").nth(1)).to_have_text("2")
    expect(row.get_by_role("cell").nth(2)).to_contain_text("omar, rita")
    expect(row.get_by_role("link", name="Write this up")).to_be_visible()
    expect(page.get_by_role("link", name="Export CSV")).to_be_visible()
    screenshot(page, "review-searches-with-no-result")
    assert_accessible(page)

    type_search(page, "broadband")
    expect(page.get_by_role("searchbox", name="Search answers")).to_have_value("broadband")
    page.get_by_role("searchbox", name="Search answers").press("Enter")
    result_links(page).filter(has_text=entry.question).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(entry.question)
    expect(page.locator(".entry .state")).to_have_text("Published")
    page.get_by_role("button", name="Validate", exact=True).click()

    expect(page.get_by_text("Entry is now validated.")).to_be_visible()
    expect(page.locator(".entry .state")).to_have_text("Validated")
    expect(page.locator(".facts div", has_text="Validated")).to_contain_text("by sam")
    expect(page.get_by_role("button", name="Reviewed: validate again")).to_be_visible()
    screenshot(page, "entry-validated")
    assert_accessible(page)
    entry.refresh_from_db()
    assert (entry.state, entry.validated_by) == ("validated", supervisor)
