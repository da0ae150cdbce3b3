"""What a person does in the browser, step by step, through the UI only."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

from tests.conftest import PASSWORD


def log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    """Open the site, get sent to the login form, and log in by typing."""
    page.goto("/")
    expect(page.get_by_role("heading", name="Log in to Floorbook")).to_be_visible()
    page.get_by_label("Username").press_sequentially(username)
    page.get_by_label("Password").press_sequentially(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".user-menu summary")).to_have_text(username)


def search_box(page: Page) -> Locator:
    return page.get_by_role("searchbox", name="Search answers")


def result_links(page: Page) -> Locator:
    return page.locator("#results .result h2 a")


def type_search(page: Page, text: str) -> None:
    """Type into the search box key by key, as a rep does while the customer talks."""
    box = search_box(page)
    box.click()
    box.press_sequentially(text, delay=40)
