"""Failed-login throttling, session cookie flags, the Content-Security-Policy, and pages
that carry no inline script for it to block."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY

from tests.conftest import PASSWORD, make_user
from tests.helpers import page_text
from tests.html_checks import executable_markup

pytestmark = pytest.mark.django_db

LIMIT = 5


def fail_logins(client, username: str, times: int) -> None:
    for _ in range(times):
        response = client.post("/accounts/login/", {"username": username, "password": "wrong"})
        assert response.status_code in (200, 429)


def test_wrong_passwords_below_the_limit_still_allow_login(client, rep):
    fail_logins(client, "rita", LIMIT - 1)

    response = client.post("/accounts/login/", {"username": "rita", "password": PASSWORD})

    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(rep.pk)


def test_too_many_wrong_passwords_lock_the_username_with_a_clear_message(client, rep):
    fail_logins(client, "rita", LIMIT)

    response = client.post("/accounts/login/", {"username": "rita", "password": PASSWORD})

    assert response.status_code == 429
    text = page_text(response)
    assert "Too many failed logins" in text
    assert "paused for 15 minutes" in text
    assert "Ask your supervisor or an admin" in text
    assert SESSION_KEY not in client.session


def test_the_lock_is_kept_in_the_database_for_every_app_server(client, rep):
    """Counted in the database, not in one process's memory: another worker or app
    server (a new client here) sees the same lock."""
    fail_logins(client, "rita", LIMIT)

    assert AccessAttempt.objects.get(username="rita").failures_since_start == LIMIT
    other_server = client.__class__()
    response = other_server.post("/accounts/login/", {"username": "rita", "password": PASSWORD})
    assert response.status_code == 429


def test_a_locked_username_does_not_lock_anyone_else(client, rep, other_rep):
    """The floor shares one address: a lock is per username, not per address."""
    fail_logins(client, "rita", LIMIT)

    response = client.post("/accounts/login/", {"username": "omar", "password": PASSWORD})

    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(other_rep.pk)


def test_a_successful_login_resets_the_count(client, rep):
    fail_logins(client, "rita", LIMIT - 1)
    client.post("/accounts/login/", {"username": "rita", "password": PASSWORD})
    client.post("/accounts/logout/")

    fail_logins(client, "rita", LIMIT - 1)
    response = client.post("/accounts/login/", {"username": "rita", "password": PASSWORD})

    assert response.status_code == 302


def test_the_lock_is_lifted_by_resetting_the_username(client, rep):
    from django.core.management import call_command

    fail_logins(client, "rita", LIMIT)
    call_command("axes_reset_username", "rita", verbosity=0)

    response = client.post("/accounts/login/", {"username": "rita", "password": PASSWORD})

    assert response.status_code == 302


def test_session_cookie_is_httponly_and_samesite_lax(client, rep):
    response = client.post("/accounts/login/", {"username": "rita", "password": PASSWORD})

    cookie = response.cookies["sessionid"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


def test_development_cookies_are_not_secure_so_http_login_works(client, rep):
    """``make run`` serves http://127.0.0.1:8000 with DEBUG=1: a Secure cookie would
    never come back and nobody could log in."""
    login_page = client.get("/accounts/login/")
    response = client.post("/accounts/login/", {"username": "rita", "password": PASSWORD})

    assert not login_page.cookies["csrftoken"]["secure"]
    assert not response.cookies["sessionid"]["secure"]
    assert client.get("/").status_code == 200


# --- Content-Security-Policy ---


def csp_directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.parametrize(
    "path", ["/", "/accounts/login/", "/api/v1/search?q=router", "/no-such-page/"]
)
def test_every_response_carries_the_content_security_policy(client, rep, path):
    client.force_login(rep)

    directives = csp_directives(client.get(path))

    assert directives["script-src"] == ["'self'"]
    assert directives["default-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in directives["style-src"]


def test_security_headers_on_pages(rep_client):
    response = rep_client.get("/")

    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_executable_markup_finds_inline_code():
    found = executable_markup('<p onclick="x()">a</p><script>x()</script><b style="c:red">')
    assert found == ["<p onclick>", "<script src=None>", "inline script 'x()'", "<b style>"]
    assert executable_markup('<div hx-on:click="x()"></div>') == ["<div hx-on:click>"]
    assert executable_markup("<style>p{}</style>") == ["<style>"]
    assert executable_markup('<script src="/static/js/a.js" defer></script>') == []


@pytest.fixture
def busy_site(make_entry, rep, other_rep, supervisor):
    """An entry with a flag, a thanks, an edit and a question, so pages show their parts."""
    from kb import actions
    from kb.actions import EntryContent

    entry = make_entry(question="Router lights blink orange", tags=("broadband",))
    actions.flag_entry(entry=entry, user=other_rep, reason="unclear", comment="Which model?")
    actions.thank_entry(entry=entry, user=other_rep, note="Saved my call")
    actions.edit_entry(
        entry=entry,
        editor=other_rep,
        content=EntryContent(question="Router lights blink orange", answer="Restart it twice."),
        base_version=entry.version,
    )
    actions.ask_question(user=rep, text="Why does the router blink orange?")
    return entry


PAGES = [
    "/",
    "/search/?q=router",
    "/search/?q=nothingmatchesthis",
    "/entries/new/",
    "/entries/{id}/",
    "/entries/{id}/edit/",
    "/entries/{id}/history/",
    "/entries/{id}/history/1/",
    "/entries/{id}/history/compare/?a=1&b=2",
    "/questions/",
    "/inbox/",
    "/people/",
    "/people/rita/",
    "/my/entries/",
    "/entries/orphaned/",
    "/review/",
    "/review/no-results/",
    "/review/flags/",
    "/review/measures/",
    "/review/synonyms/",
    "/accounts/password_change/",
]


@pytest.mark.parametrize("path", PAGES)
def test_pages_carry_no_inline_script_or_style(client, supervisor, busy_site, path):
    client.force_login(supervisor)

    response = client.get(path.format(id=busy_site.pk))

    assert response.status_code == 200
    assert executable_markup(response.content.decode()) == []


def test_login_page_carries_no_inline_script_or_style(client, db):
    response = client.get("/accounts/login/")

    assert executable_markup(response.content.decode()) == []


def test_htmx_does_not_inject_its_indicator_style(rep_client):
    """htmx adds a <style> element (blocked by the CSP) unless told not to."""
    html = rep_client.get("/").content.decode()

    assert '"includeIndicatorStyles": false' in html


def test_lockout_page_carries_no_inline_script(client, db):
    make_user("lena")
    fail_logins(client, "lena", LIMIT)

    response = client.post("/accounts/login/", {"username": "lena", "password": PASSWORD})

    assert response.status_code == 429
    assert executable_markup(response.content.decode()) == []


def test_logging_in_from_code_is_not_throttled(client, rep):
    """``Client.login`` (tests, other tools) has no request for axes to count."""
    assert client.login(username="rita", password=PASSWORD)
    assert client.get("/").status_code == 200
    assert not client.login(username="rita", password="wrong")
