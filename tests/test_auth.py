"""Everything is behind login; logging in, out and changing a password work."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import SESSION_KEY

from kb.models import Entry
from tests.conftest import PASSWORD
from tests.helpers import page_text

pytestmark = pytest.mark.django_db


NEW_PASSWORD = "staple-lantern-orchid-42"


def login_next(response) -> str:
    """The ``next`` a login redirect carries, asserting it is a redirect to the login page."""
    assert response.status_code == 302
    url = urlsplit(response.url)
    assert url.path == "/accounts/login/"
    return parse_qs(url.query)["next"][0]


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/search/?q=x",
        "/entries/new/",
        "/entries/{id}/",
        "/entries/{id}/edit/",
        "/entries/{id}/history/",
        "/entries/{id}/history/1/",
    ],
)
def test_anonymous_page_redirects_to_login_with_next(client, entry, path):
    path = path.format(id=entry.pk)

    response = client.get(path)

    assert login_next(response) == path


def test_anonymous_capture_post_redirects_and_writes_nothing(client, db):
    response = client.post("/entries/new/", {"question": "Sneaky?", "answer": "No login."})

    assert login_next(response) == "/entries/new/"
    assert not Entry.objects.exists()


def test_anonymous_state_change_writes_nothing(client, entry):
    response = client.post(f"/entries/{entry.pk}/state/", {"state": "archived", "version": 1})

    assert login_next(response) == f"/entries/{entry.pk}/state/"
    entry.refresh_from_db()
    assert entry.state == "published"
    assert entry.version == 1


def test_login_page_renders(client, db):
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    text = page_text(response)
    assert "Log in to Floorbook" in text
    assert 'name="username"' in response.content.decode()
    assert 'name="password"' in response.content.decode()


def test_login_with_correct_password_opens_home(client, rep):
    response = client.post("/accounts/login/", {"username": "rita", "password": PASSWORD})

    assert response.status_code == 302
    assert response.url == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "rita" in page_text(home)


def test_login_returns_to_next_page(client, rep):
    response = client.post(
        "/accounts/login/",
        {"username": "rita", "password": PASSWORD, "next": "/search/?q=router"},
    )

    assert response.status_code == 302
    assert response.url == "/search/?q=router"


def test_login_with_wrong_password_is_refused(client, rep):
    response = client.post("/accounts/login/", {"username": "rita", "password": "wrong-one"})

    assert response.status_code == 200
    assert "That username and password did not match" in page_text(response)
    assert SESSION_KEY not in client.session
    assert client.get("/").status_code == 302


def test_logout_by_get_is_not_allowed(rep_client):
    response = rep_client.get("/accounts/logout/")

    assert response.status_code == 405
    assert rep_client.get("/").status_code == 200


def test_logout_by_post_ends_the_session(rep_client):
    response = rep_client.post("/accounts/logout/")

    assert response.status_code == 302
    assert urlsplit(response.url).path == "/accounts/login/"
    assert login_next(rep_client.get("/")) == "/"


def test_pages_offer_logout_as_a_post_form(rep_client):
    response = rep_client.get("/")

    assert '<form method="post" action="/accounts/logout/">' in response.content.decode()


def test_password_change_page_renders(rep_client):
    response = rep_client.get("/accounts/password_change/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Change password" in page_text(response)
    for name in ("old_password", "new_password1", "new_password2"):
        assert f'name="{name}"' in html


def test_password_change_with_old_password_sets_new_one(rep_client, rep):
    response = rep_client.post(
        "/accounts/password_change/",
        {"old_password": PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert response.url == "/accounts/password_change/done/"
    rep.refresh_from_db()
    assert rep.check_password(NEW_PASSWORD)


def test_password_change_with_wrong_old_password_keeps_old_one(rep_client, rep):
    response = rep_client.post(
        "/accounts/password_change/",
        {"old_password": "not-it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert response.status_code == 200
    assert "old password was entered incorrectly" in page_text(response)
    rep.refresh_from_db()
    assert rep.check_password(PASSWORD)


def test_api_anonymous_gets_401_json(client, entry):
    response = client.get("/api/v1/search", {"q": "broadband"})

    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]
