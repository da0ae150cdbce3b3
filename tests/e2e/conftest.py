"""Browser tests: Playwright for Python driving Debian's Chromium against the live server.

Chromium is the system one at ``/usr/bin/chromium`` (``apt-get install chromium``);
Playwright's own browser downloads are never used. Without it the tests are skipped,
except in CI (``CI=true``), where a missing browser fails the run.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.conf import settings
from django.db import connections

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SKIP_REASON = (
    f"browser tests skipped: no Chromium at {CHROMIUM} (apt-get install chromium to run them)"
)
ARTIFACTS = settings.BASE_DIR / "test-artifacts" / "e2e"
# Generous, because the machine may be slow and busy; assertions wait only as long as needed.
TIMEOUT_MS = 15_000


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(autouse=True)
def roles(transactional_db) -> None:
    """The Reps and Supervisors groups, made by the migration that makes them.

    The live server must see what a test wrote, so browser tests commit
    (``transactional_db``), and the flush after every such test empties all tables,
    data migrations' rows included (rows the next test would otherwise miss).
    """
    migration = importlib.import_module("kb.migrations.0002_groups")
    migration.create_groups(django_apps, schema_editor=None)


def pytest_terminal_summary(terminalreporter) -> None:
    """Say plainly whether the browser tests ran: a skip is easy to miss in a long run."""
    if not CHROMIUM.exists() and not in_ci():
        terminalreporter.write_line(SKIP_REASON, yellow=True)


@pytest.fixture(scope="package")
def browser() -> Iterator:
    """One headless Chromium for all browser tests.

    Playwright's sync API keeps an asyncio loop running in this thread while it is
    started, which changes two things for Django in this thread:

    - the ORM refuses to run (SynchronousOnlyOperation). The tests' own ORM calls
      (fixtures, checks) run between browser steps, never concurrently with them, so
      Django's check is switched off, for exactly as long as Playwright runs;
    - ``django.db.connections`` becomes context-local instead of thread-local, so the
      tests would get new connection objects, not the ones the test case set up and,
      on SQLite, not the in-memory connection the live server shares. The thread's
      own connections are put back in their place.
    """
    if not CHROMIUM.exists():
        if in_ci():
            pytest.fail(f"CI needs Chromium for the browser tests: {CHROMIUM} is missing")
        pytest.skip(SKIP_REASON)
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    thread_connections = {alias: connections[alias] for alias in connections}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            for alias, connection in thread_connections.items():
                connections[alias] = connection
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
            )
            yield chromium
            chromium.close()


@pytest.fixture
def new_page(browser, live_server) -> Iterator[Callable]:
    """``new_page()`` opens a page in a fresh browser context (its own cookies: one
    person), on the live server. After the test, any JavaScript error or console error
    a page logged fails it."""
    contexts, errors = [], []

    def open_page():
        context = browser.new_context(
            base_url=live_server.url,
            viewport={"width": 1280, "height": 800},
            locale="en-GB",  # the site's language, for Accept-Language and the page's Intl
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
        page.on("console", lambda message: note_console_error(page, message))
        return page

    def note_console_error(page, message) -> None:
        # A page's own 403, 404 or 409 is what the test is looking at, not a fault.
        if message.type == "error" and message.location.get("url") != page.url:
            errors.append(f"{page.url}: {message.text}")

    yield open_page
    for context in contexts:
        context.close()
    assert errors == [], "the browser reported errors"


@pytest.fixture
def screenshot() -> Callable:
    """``screenshot(page, "search-results")`` saves the full page as
    ``test-artifacts/e2e/search-results.png``, for a person to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def save(page, name: str) -> Path:
        assert re.fullmatch(r"[a-z0-9-]+", name), name
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return save
