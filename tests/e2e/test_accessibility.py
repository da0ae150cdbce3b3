"""Keyboard-only use and visible focus, in a real browser.

(Labels, landmarks and axe's WCAG rules are checked on each key page by the journeys,
through ``a11y.assert_accessible``.)
"""

from __future__ import annotations

from dataclasses import replace

from playwright.sync_api import expect

from kb import actions
from kb.models import Reuse
from tests.e2e.a11y import assert_accessible, focus_is_visible, tab_through
from tests.e2e.steps import log_in, result_links, search_box


def test_search_works_from_the_keyboard_alone(new_page, screenshot, rep, entry, make_entry):
    make_entry(question="Broadband router lights all red", answer="Book an engineer.")
    page = new_page()
    page.goto("/")
    keyboard = page.keyboard
    expect(page.get_by_label("Username")).to_be_focused()  # the login form's autofocus
    keyboard.type("rita")
    keyboard.press("Tab")
    keyboard.type("correct-horse-battery")
    keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Recently updated")).to_be_visible()

    keyboard.press("/")
    expect(search_box(page)).to_be_focused()
    keyboard.type("broadband", delay=40)
    expect(result_links(page)).to_have_count(2)
    keyboard.press("ArrowDown")
    expect(result_links(page).nth(0)).to_be_focused()
    keyboard.press("ArrowDown")
    expect(result_links(page).nth(1)).to_be_focused()
    keyboard.press("ArrowUp")
    expect(result_links(page).nth(0)).to_be_focused()
    screenshot(page, "keyboard-search-result-focused")
    opened = result_links(page).nth(0).inner_text()
    keyboard.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text(opened)
    keyboard.press("u")  # "used on this call", the entry page's shortcut
    expect(page.get_by_role("button", name="✓ Used on this call")).to_be_visible()
    assert Reuse.objects.filter(entry__question=opened, user=rep).count() == 1

    keyboard.press("/")
    expect(search_box(page)).to_be_focused()


def test_escape_clears_the_search_box(new_page, rep, entry):
    page = new_page()
    log_in(page, "rita")
    page.keyboard.press("/")
    page.keyboard.type("broadband", delay=40)
    expect(result_links(page)).to_have_count(1)
    page.keyboard.press("Escape")
    expect(search_box(page)).to_have_value("")
    expect(page.get_by_role("heading", name="Recently updated")).to_be_visible()


def test_every_keyboard_stop_shows_where_the_focus_is(new_page, screenshot, rep, supervisor, entry):
    page = new_page()
    log_in(page, "sam")
    pages = {
        "search results": "/search/?q=broadband",
        "entry": entry.get_absolute_url(),
        "entry form": f"/entries/{entry.pk}/edit/",
        "gap review": "/review/",
    }
    for name, path in pages.items():
        page.goto(path)
        stops = tab_through(page, stops=40)
        assert len(stops) >= 8, f"{name}: only {len(stops)} keyboard stops"
        unseen = [stop for stop in stops if not focus_is_visible(stop)]
        assert unseen == [], f"{name}: focus not visible on {unseen}"

    page.goto("/search/?q=broadband")
    page.evaluate("document.activeElement?.blur()")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Tab")  # the brand link, on the dark header
    screenshot(page, "focus-on-the-header")


def test_the_other_pages_pass_the_accessibility_checks(
    new_page, screenshot, rep, other_rep, supervisor, entry
):
    """The journeys check the pages they pass through; these are the rest of the site."""
    edited = actions.edit_entry(
        entry=entry,
        editor=other_rep,
        base_version=entry.version,
        content=replace(actions.EntryContent.of(entry), answer="Check the router lights first."),
    )
    actions.flag_entry(entry=edited, user=other_rep, reason="unclear", comment="Which lights?")
    question, _ = actions.ask_question(user=rep, text="Can a customer pause their contract?")
    page = new_page()
    log_in(page, "sam")
    pages = {
        "questions": "/questions/",
        "question": question.get_absolute_url(),
        "ask": "/questions/ask/?q=pause+contract",
        "history": f"/entries/{entry.pk}/history/",
        "compare": f"/entries/{entry.pk}/history/compare/?a=1&b=2",
        "inbox": "/inbox/",
        "people": "/people/",
        "profile": "/people/rita/",
        "my-entries": "/my/entries/",
        "measures": "/review/measures/",
        "synonyms": "/review/synonyms/",
        "review-flags": "/review/flags/",
    }
    for name, path in pages.items():
        response = page.goto(path)
        assert response.status == 200, path
        screenshot(page, f"page-{name}")
        assert_accessible(page)
