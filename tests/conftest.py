from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from hypothesis import settings as hypothesis_settings

from kb import actions, search
from kb.actions import EntryContent
from kb.search import health

PASSWORD = "correct-horse-battery"

# Property-based tests (hypothesis) are repeatable, in CI as on a laptop: the same
# examples every run, no example database, no time limit per example on a busy machine.
hypothesis_settings.register_profile(
    "floorbook", derandomize=True, database=None, deadline=None, max_examples=40
)
hypothesis_settings.load_profile("floorbook")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Users are created per test; the production hasher would dominate the run time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def pytest_report_header(config) -> str:
    from django.conf import settings
    from django.db import connection

    return f"database: {connection.vendor}, search backend: {settings.KB_SEARCH_BACKEND}"


@pytest.fixture(autouse=True)
def empty_cache():
    """Nothing cached by one test (a person's last search, synonyms) leaks into another."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def repairs_inline(monkeypatch):
    """Index repairs and backlog catch-ups run in the request's thread, in the test's
    transaction (a background thread would not see its rows); tests of the background
    thread itself turn this back on."""
    monkeypatch.setattr(health, "BACKGROUND", False)


@pytest.fixture(autouse=True)
def search_index(settings, tmp_path):
    """Every test gets its own empty search index: a Whoosh index in ``tmp_path``, or,
    with ``KB_SEARCH_BACKEND=postgres`` (``make test-postgres``), the search tables of
    the test database, emptied by the test's rollback."""
    search.reset_backend()
    settings.KB_INDEX_DIR = tmp_path / "index"
    yield settings.KB_INDEX_DIR
    search.reset_backend()


@pytest.fixture
def whoosh_index(settings, search_index):
    """For tests of the Whoosh index itself (its files, locks and schema): they run with
    the Whoosh backend whichever backend the suite runs with."""
    search.reset_backend()
    settings.KB_SEARCH_BACKEND = "whoosh"
    yield search_index
    search.reset_backend()


@pytest.fixture
def transactional_index() -> bool:
    """Whether this run's backend indexes inside the write's transaction (PostgreSQL)
    rather than after the commit (Whoosh)."""
    return search.get_backend().transactional


def make_user(username: str, group: str = "Reps", **extra) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD, **extra)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def rep(db) -> User:
    return make_user("rita")


@pytest.fixture
def other_rep(db) -> User:
    return make_user("omar")


@pytest.fixture
def supervisor(db) -> User:
    return make_user("sam", group="Supervisors")


@pytest.fixture
def rep_client(client, rep):
    client.force_login(rep)
    return client


@pytest.fixture
def supervisor_client(client, supervisor):
    client.force_login(supervisor)
    return client


@pytest.fixture
def make_entry(django_capture_on_commit_callbacks, rep, supervisor):
    """Create an entry through the real actions and index it, as a committed save would.

    ``validated`` and ``archived`` entries are published by ``rep`` and then moved to
    that state by ``supervisor``.
    """

    def make(
        question: str = "How do I reset the router?",
        answer: str = "Hold the reset button for 10 seconds.",
        tags: tuple[str, ...] = (),
        author: User | None = None,
        state: str = "published",
        **content,
    ):
        with django_capture_on_commit_callbacks(execute=True):
            entry = actions.capture_entry(
                author=author or rep,
                content=EntryContent(question=question, answer=answer, tags=list(tags), **content),
                state="draft" if state == "draft" else "published",
            )
            if state in ("validated", "archived"):
                entry = actions.change_state(
                    entry=entry, actor=supervisor, state=state, base_version=entry.version
                )
        return entry

    return make


@pytest.fixture
def others_entry(make_entry, other_rep):
    """omar's entry, which rita (``rep``) reads, flags, thanks or edits."""
    return make_entry(
        question="Porting a number to another network",
        answer="Give the customer their PAC code.",
        author=other_rep,
    )


@pytest.fixture
def entry(make_entry):
    return make_entry(
        question="Customer's broadband keeps dropping every evening",
        answer="1. Check the **router lights**.\n2. Run the line test in Compass.",
        tags=("broadband", "faults"),
    )
