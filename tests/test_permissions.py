"""Every view is gated, driven from the URLconf: a view added later without a gate, or a
URL name missing from the tables below, fails here.

Anonymous people are sent to the login page (the JSON API answers 401); reps get 403 on
supervisor pages and actions, hand-crafted POSTs included, and nothing is written; other
people's drafts are 404 wherever an entry can be reached.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.urls import URLPattern, reverse

from kb import actions
from kb.models import Entry, Flag, Question
from kb.urls import urlpatterns
from tests.helpers import page_text

pytestmark = pytest.mark.django_db

API = {"api_search", "api_entry", "api_reuse"}

SUPERVISOR_ONLY = {
    "synonyms",
    "measures",
    "review",
    "gap_assign",
    "review_no_results",
    "review_no_reuse",
    "review_questions",
    "review_flags",
    "review_stale",
    "review_tags",
    "flag_dismiss",
    "question_assign",
}

# Pages and actions every logged-in person may use (some check more inside: the state
# change for validate/archive, closing a question for its asker; tested below).
EVERYONE = {
    "home",
    "search",
    "entry_create",
    "similar",
    "orphaned",
    "adopt",
    "people",
    "person",
    "my_entries",
    "entry",
    "entry_edit",
    "entry_state",
    "reuse",
    "thanks",
    "flag",
    "watch",
    "inbox",
    "inbox_read",
    "notification",
    "history",
    "compare",
    "revision",
    "revision_restore",
    "preview",
    "questions",
    "ask",
    "question",
    "question_answer",
    "question_close",
}

PATTERNS: list[URLPattern] = list(urlpatterns)
NAMES = [pattern.name for pattern in PATTERNS]
BY_NAME = {pattern.name: pattern for pattern in PATTERNS}

# Hand-crafted POST bodies that a supervisor's request would act on (checked below), so
# that a rep's refusal proves the gate, not a form error.
SUPERVISOR_POSTS = {
    "synonyms": lambda world: {"synonyms": "wifi, wireless"},
    "gap_assign": lambda world: {
        "normalized": "router lights",
        "text": "router lights",
        "assignee": world["rep"].pk,
    },
    "flag_dismiss": lambda world: {"reason": "Checked with billing: it is right."},
    "question_assign": lambda world: {"assignee": world["rep"].pk},
}


@pytest.fixture
def world(rep, other_rep, supervisor, entry, others_entry):
    """One of everything a URL can point at: rita's (``rep``) entry flagged by omar, so
    rita has a notification; omar's open question."""
    flag, _ = actions.flag_entry(entry=entry, user=other_rep, reason="wrong", comment="Out of date")
    question, _ = actions.ask_question(user=other_rep, text="How do I port a landline number?")
    notification = rep.notifications.get()
    return {
        "rep": rep,
        "other_rep": other_rep,
        "supervisor": supervisor,
        "entry": entry,
        "others_entry": others_entry,
        "flag": flag,
        "question": question,
        "notification": notification,
    }


def route(pattern: URLPattern) -> str:
    return str(pattern.pattern)


def sample_url(pattern: URLPattern, world: dict, entry: Entry | None = None) -> str:
    """The pattern's URL with arguments pointing at ``world``'s objects."""
    converters = set(pattern.pattern.converters)
    kwargs: dict[str, object] = {}
    if "pk" in converters:
        prefix = route(pattern).split("<", 1)[0]
        if prefix in ("entries/", "api/v1/entries/"):
            kwargs["pk"] = (entry or world["entry"]).pk
        elif prefix == "questions/":
            kwargs["pk"] = world["question"].pk
        elif prefix == "inbox/":
            kwargs["pk"] = world["notification"].pk
        else:
            raise AssertionError(f"No sample pk for {route(pattern)!r}: add one to sample_url")
    if "flag_id" in converters:
        kwargs["flag_id"] = world["flag"].pk
    if "number" in converters:
        kwargs["number"] = 1
    if "username" in converters:
        kwargs["username"] = world["other_rep"].get_username()
    unknown = converters - set(kwargs)
    assert not unknown, f"No sample for {unknown} in {route(pattern)!r}: add one to sample_url"
    return reverse(f"kb:{pattern.name}", kwargs=kwargs)


def db_state() -> dict[str, list[dict]]:
    """Every row of Floorbook's tables, users, groups and tags: compared before and after
    a refused request to show that nothing was written."""
    models = [*apps.get_app_config("kb").get_models(), *apps.get_app_config("taggit").get_models()]
    models += [apps.get_model("auth", "User"), apps.get_model("auth", "Group")]
    return {model._meta.label: list(model.objects.order_by("pk").values()) for model in models}


def assert_sent_to_login(response, path: str) -> None:
    assert response.status_code == 302, f"{path}: {response.status_code}"
    url = urlsplit(response.url)
    assert url.path == "/accounts/login/", f"{path} redirected to {response.url}"


def test_every_url_name_is_in_exactly_one_table():
    tables = [API, SUPERVISOR_ONLY, EVERYONE]
    for name in NAMES:
        assert name, "every kb URL needs a name, to be listed in a permissions table"
        found = [table for table in tables if name in table]
        assert len(found) == 1, f"URL name {name!r} must be in exactly one permissions table"
    assert set().union(*tables) == set(NAMES), "the tables list names that no URL has"


@pytest.mark.parametrize("name", [name for name in NAMES if name not in API])
@pytest.mark.parametrize("method", ["get", "post"])
def test_anonymous_is_sent_to_login(client, world, name, method):
    url = sample_url(BY_NAME[name], world)
    before = db_state()

    response = getattr(client, method)(url, SUPERVISOR_POSTS.get(name, lambda w: {})(world))

    assert_sent_to_login(response, url)
    assert db_state() == before


@pytest.mark.parametrize("name", sorted(API))
def test_anonymous_api_gets_401(client, world, name):
    url = sample_url(BY_NAME[name], world)
    before = db_state()

    responses = [client.get(url, {"q": "router"}), client.post(url, {"case": "ABC123"})]

    # Each endpoint answers 401 to the method it takes, 405 to the other.
    assert sorted(response.status_code for response in responses) == [401, 405]
    refused = next(response for response in responses if response.status_code == 401)
    assert "error" in refused.json()
    assert db_state() == before


@pytest.mark.parametrize("name", sorted(SUPERVISOR_ONLY))
@pytest.mark.parametrize("method", ["get", "post"])
def test_rep_gets_403_on_supervisor_pages_and_actions(client, world, name, method):
    client.force_login(world["rep"])
    url = sample_url(BY_NAME[name], world)
    before = db_state()

    response = getattr(client, method)(url, SUPERVISOR_POSTS.get(name, lambda w: {})(world))

    assert response.status_code == 403, f"{method.upper()} {url}: {response.status_code}"
    assert "Not allowed" in page_text(response)
    assert db_state() == before


@pytest.mark.parametrize("name", sorted(SUPERVISOR_ONLY - set(SUPERVISOR_POSTS)))
def test_supervisor_opens_supervisor_pages(client, world, name):
    client.force_login(world["supervisor"])

    response = client.get(sample_url(BY_NAME[name], world))

    assert response.status_code == 200


@pytest.mark.parametrize("name", sorted(SUPERVISOR_POSTS))
def test_supervisor_post_that_a_rep_is_refused_does_act(client, world, name):
    """The hand-crafted bodies above are ones the action accepts: a rep's 403 is the gate."""
    client.force_login(world["supervisor"])
    before = db_state()

    response = client.post(sample_url(BY_NAME[name], world), SUPERVISOR_POSTS[name](world))

    assert response.status_code == 302
    assert db_state() != before


@pytest.mark.parametrize("name", sorted(EVERYONE))
def test_rep_is_not_refused_on_pages_for_everyone(client, world, name):
    client.force_login(world["rep"])

    response = client.get(sample_url(BY_NAME[name], world))

    # 405: a POST-only action; 302: e.g. a notification opens its entry.
    assert response.status_code in (200, 302, 405), response.status_code


@pytest.mark.parametrize("state", ["validated", "archived"])
@pytest.mark.parametrize("whose", ["entry", "others_entry"])
def test_rep_cannot_validate_or_archive_by_hand_crafted_post(client, world, state, whose):
    client.force_login(world["rep"])
    entry = world[whose]
    before = db_state()

    response = client.post(
        reverse("kb:entry_state", args=[entry.pk]), {"state": state, "version": entry.version}
    )

    assert response.status_code == 403
    assert db_state() == before
    entry.refresh_from_db()
    assert entry.state == "published"


def test_rep_cannot_close_someone_elses_question(client, world):
    client.force_login(world["rep"])
    before = db_state()

    response = client.post(
        reverse("kb:question_close", args=[world["question"].pk]),
        {"entry_number": str(world["entry"].pk)},
    )

    assert response.status_code == 403
    assert db_state() == before


def test_rep_is_not_staff_in_the_admin(client, world):
    client.force_login(world["rep"])

    response = client.get("/admin/")

    assert response.status_code == 302
    assert urlsplit(response.url).path == "/admin/login/"


# --- Someone else's draft: 404 wherever an entry can be reached ---

ENTRY_ROUTES = [
    pattern.name
    for pattern in PATTERNS
    if route(pattern).startswith(("entries/<int:pk>", "api/v1/entries/<int:pk>"))
]


@pytest.fixture
def secret_draft(make_entry, other_rep):
    return make_entry(
        question="Quarantined porting fees for zebra accounts",
        answer="Not ready: zebra fees are still being agreed.",
        tags=("zebra",),
        author=other_rep,
        state="draft",
    )


def test_entry_routes_are_found_from_the_urlconf():
    assert {"entry", "entry_edit", "history", "revision", "api_entry", "reuse"} <= set(ENTRY_ROUTES)


@pytest.mark.parametrize("name", ENTRY_ROUTES)
def test_someone_elses_draft_is_404_on_every_entry_url(client, world, secret_draft, name):
    client.force_login(world["rep"])
    url = sample_url(BY_NAME[name], world, entry=secret_draft)
    body = {
        "question": "Taken over",
        "answer": "Overwritten",
        "version": secret_draft.version,
        "state": "published",
        "reason": "wrong",
        "case": "ABC123",
        "note": "thanks",
    }
    before = db_state()

    statuses = {client.get(url).status_code, client.post(url, body).status_code}

    assert 404 in statuses, f"{url}: {statuses}"
    assert statuses <= {404, 405}, f"{url}: {statuses}"
    assert db_state() == before


def test_own_draft_is_reachable(client, world, make_entry):
    draft = make_entry(question="My own zebra draft", author=world["rep"], state="draft")
    client.force_login(world["rep"])

    assert client.get(reverse("kb:entry", args=[draft.pk])).status_code == 200
    assert client.get(reverse("kb:api_entry", args=[draft.pk])).status_code == 200


@pytest.mark.parametrize(
    "path,headers",
    [
        ("/search/?q=zebra+porting+fees", {}),
        ("/search/?q=zebra+porting+fees", {"HTTP_HX_REQUEST": "true"}),
        ("/search/?q=tag:zebra", {}),
        ("/api/v1/search?q=zebra+porting+fees", {}),
        ("/entries/similar/?question=Quarantined+porting+fees+for+zebra+accounts", {}),
        ("/", {}),
        ("/people/omar/", {}),
        ("/entries/orphaned/", {}),
    ],
)
def test_someone_elses_draft_is_not_listed(client, world, secret_draft, path, headers):
    client.force_login(world["rep"])

    response = client.get(path, **headers)

    assert response.status_code == 200
    body = response.content.decode().lower()
    assert "quarantined" not in body
    assert "being agreed" not in body
    assert f"/entries/{secret_draft.pk}/" not in body


def test_search_finds_the_draft_for_its_author(client, world, secret_draft):
    client.force_login(world["other_rep"])

    response = client.get("/search/", {"q": "zebra porting fees"})

    assert "Quarantined porting fees for zebra accounts" in page_text(response)


def test_question_cannot_be_closed_with_someone_elses_draft(client, world, secret_draft):
    question, _ = actions.ask_question(user=world["rep"], text="What are the zebra fees?")
    client.force_login(world["rep"])

    response = client.post(
        reverse("kb:question_close", args=[question.pk]), {"entry_number": str(secret_draft.pk)}
    )

    assert response.status_code == 400
    question.refresh_from_db()
    assert question.state == Question.State.OPEN
    assert question.answer_entry is None


def test_flag_cannot_name_someone_elses_draft_as_the_duplicate(client, world, secret_draft):
    client.force_login(world["rep"])

    response = client.post(
        reverse("kb:flag", args=[world["others_entry"].pk]),
        {"reason": "duplicate", "duplicate_of": str(secret_draft.pk)},
    )

    assert response.status_code == 400
    assert not Flag.objects.filter(duplicate_of=secret_draft).exists()
