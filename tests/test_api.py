"""The JSON search API an integrator's CTI or CRM screen-pop calls."""

from __future__ import annotations

import pytest
from django.test import Client

from kb.models import Reuse, SearchEvent

pytestmark = pytest.mark.django_db

API = "/api/v1/search"


@pytest.fixture
def refund_entry(make_entry):
    return make_entry(
        question="How do I refund a double charge?",
        answer="Open **Billing** and press Refund on the duplicate.",
        tags=("billing", "payments"),
    )


def assert_error(response, status: int = 400) -> str:
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert isinstance(body["error"], str)
    assert body["error"]
    return body["error"]


def test_api_search_has_the_documented_shape(rep_client, refund_entry):
    response = rep_client.get(API, {"q": "refunds"})

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"query", "search_id", "total", "took_ms", "incomplete", "results"}
    assert body["query"] == "refunds"
    assert body["incomplete"] is False
    assert body["total"] == 1
    assert isinstance(body["took_ms"], float)
    assert body["took_ms"] >= 0
    [result] = body["results"]
    assert set(result) == {"id", "question", "url", "snippet", "tags", "state", "score"}


def test_api_search_result_fields(rep_client, refund_entry):
    [result] = rep_client.get(API, {"q": "refunds"}).json()["results"]

    assert result["id"] == refund_entry.pk
    assert result["question"] == "How do I refund a double charge?"
    assert result["url"] == f"http://testserver/entries/{refund_entry.pk}/"
    assert result["snippet"] == "Open Billing and press <mark>Refund</mark> on the duplicate."
    assert result["tags"] == ["billing", "payments"]
    assert result["state"] == "published"
    assert isinstance(result["score"], float)
    assert result["score"] > 0


def test_api_search_ranks_by_score(rep_client, make_entry):
    in_answer = make_entry(question="Slow evenings", answer="Restart the modem.")
    in_question = make_entry(question="Modem lights meaning", answer="Red means down.")
    make_entry(question="Unrelated", answer="Nothing to see.")

    results = rep_client.get(API, {"q": "modem"}).json()["results"]

    assert [r["id"] for r in results] == [in_question.pk, in_answer.pk]
    assert results[0]["score"] >= results[1]["score"]


def test_api_search_with_no_match_is_empty(rep_client, refund_entry):
    body = rep_client.get(API, {"q": "xyzzy"}).json()

    assert body["total"] == 0
    assert body["results"] == []


def test_api_limit_is_honoured(rep_client, make_entry):
    for n in range(5):
        make_entry(question=f"Router fault {n}")

    body = rep_client.get(API, {"q": "router", "limit": 2}).json()

    assert body["total"] == 5
    assert len(body["results"]) == 2


def test_api_page_continues_after_limit(rep_client, make_entry):
    entries = [make_entry(question=f"Router fault {n}") for n in range(5)]

    pages = [
        rep_client.get(API, {"q": "router", "limit": 2, "page": page}).json()["results"]
        for page in (1, 2, 3)
    ]

    ids = [r["id"] for page in pages for r in page]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert sorted(ids) == sorted(e.pk for e in entries)


def test_api_default_limit_is_20(rep_client, make_entry):
    for n in range(22):
        make_entry(question=f"Router fault {n}")

    body = rep_client.get(API, {"q": "router"}).json()

    assert body["total"] == 22
    assert len(body["results"]) == 20


def test_api_tag_filter(rep_client, make_entry):
    billing = make_entry(question="Charge twice", answer="Refund one.", tags=("billing",))
    make_entry(question="Charge the headset", answer="Plug it in.", tags=("devices",))

    body = rep_client.get(API, {"q": "charge", "tag": "billing"}).json()

    assert [r["id"] for r in body["results"]] == [billing.pk]
    assert body["total"] == 1


def test_api_several_tags_must_all_match(rep_client, make_entry):
    both = make_entry(question="Charge twice", tags=("billing", "refunds"))
    make_entry(question="Charge once", tags=("billing",))

    body = rep_client.get(API, {"q": "charge", "tag": ["billing", "refunds"]}).json()

    assert [r["id"] for r in body["results"]] == [both.pk]


def test_api_tag_filter_ignores_case(rep_client, make_entry):
    billing = make_entry(question="Charge twice", tags=("billing",))

    body = rep_client.get(API, {"q": "charge", "tag": "BILLING"}).json()

    assert [r["id"] for r in body["results"]] == [billing.pk]


def test_api_hides_archived_unless_asked(rep_client, make_entry):
    archived = make_entry(question="Dial-up setup", state="archived")

    hidden = rep_client.get(API, {"q": "dial-up"}).json()
    shown = rep_client.get(API, {"q": "dial-up", "archived": "1"}).json()

    assert hidden["results"] == []
    assert [r["id"] for r in shown["results"]] == [archived.pk]
    assert shown["results"][0]["state"] == "archived"


def test_api_hides_other_peoples_drafts(rep_client, make_entry, other_rep):
    make_entry(question="Voicemail PIN reset", author=other_rep, state="draft")

    body = rep_client.get(API, {"q": "voicemail"}).json()

    assert body["results"] == []


def test_api_shows_own_drafts(rep_client, make_entry):
    draft = make_entry(question="Voicemail PIN reset", state="draft")

    body = rep_client.get(API, {"q": "voicemail"}).json()

    assert [(r["id"], r["state"]) for r in body["results"]] == [(draft.pk, "draft")]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "q"),
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({"q": "x" * 501}, "q"),
        ({"q": "router", "limit": "0"}, "limit"),
        ({"q": "router", "limit": "-1"}, "limit"),
        ({"q": "router", "limit": "101"}, "limit"),
        ({"q": "router", "limit": "abc"}, "limit"),
        ({"q": "router", "page": "0"}, "page"),
        ({"q": "router", "page": "abc"}, "page"),
        ({"q": "router", "tag": [f"t{n}" for n in range(13)]}, "tag"),
        ({"q": "router", "tag": "x" * 51}, "tag"),
    ],
)
def test_api_bad_input_is_400_json(rep_client, entry, params, field):
    message = assert_error(rep_client.get(API, params))

    assert message.startswith(f"{field}:")


def test_api_query_over_500_characters_says_the_limit(rep_client, entry):
    message = assert_error(rep_client.get(API, {"q": "router " * 300}))

    assert "limited to 500 characters" in message


def test_api_limit_of_100_is_accepted(rep_client, entry):
    response = rep_client.get(API, {"q": "broadband", "limit": "100"})

    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_api_12_tags_are_accepted(rep_client, entry):
    response = rep_client.get(API, {"q": "broadband", "tag": [f"t{n}" for n in range(12)]})

    assert response.status_code == 200
    assert response.json()["results"] == []


HOSTILE_QUERIES = [
    "AND OR (",
    '"unterminated',
    "*",
    "payment?",
    "a:b",
    "tag:",
    "NOT",
    "router))) OR ((",
    "🙂📞 router",
    "راوتر لا يعمل",
    "\u202eretuor\u202c",
    "router\x00reset",
    "\x00",
    "<script>alert(1)</script>",
    ('AND(*"tag:?:}{' * 200)[:2000],
]


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_api_hostile_query_is_answered_as_json(rep_client, entry, query):
    response = rep_client.get(API, {"q": query})

    assert response.status_code in (200, 400)
    assert response["Content-Type"] == "application/json"
    body = response.json()
    if response.status_code == 200:
        assert isinstance(body["results"], list)
        assert isinstance(body["total"], int)
    else:
        assert body["error"]


def test_api_query_is_echoed_as_text_not_markup(rep_client, entry):
    body = rep_client.get(API, {"q": "<b>broadband</b>"}).json()

    assert body["query"] == "<b>broadband</b>"
    assert "<b>" not in body["results"][0]["snippet"]


@pytest.mark.parametrize("method", ["post", "put", "delete", "patch"])
def test_api_refuses_other_methods(rep_client, entry, method):
    response = getattr(rep_client, method)(API)

    assert response.status_code == 405


def test_api_unexpected_error_answers_json(rep, client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("index exploded")

    monkeypatch.setattr("kb.api.search.search", broken)
    client.raise_request_exception = False
    client.force_login(rep)

    response = client.get(API, {"q": "router"})

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert "went wrong" in response.json()["error"]


def test_api_unknown_endpoint_answers_json(rep_client):
    response = rep_client.get("/api/v1/nothing-here")

    assert response.status_code == 404
    assert response.json() == {"error": "No such API endpoint."}


# --- entries and reuse, for integrators ----------------------------------------------


def test_api_entry_gives_the_answer_and_its_usage(rep_client, refund_entry):
    response = rep_client.get(f"/api/v1/entries/{refund_entry.pk}")

    assert response.status_code == 200
    body = response.json()
    assert body["question"] == "How do I refund a double charge?"
    assert body["answer_html"] == (
        "<p>Open <strong>Billing</strong> and press Refund on the duplicate.</p>"
    )
    assert body["tags"] == ["billing", "payments"]
    assert body["reuse"] == {"count": 0, "last_used_at": None}


def test_api_entry_hides_others_drafts_and_unknown_ids(client, other_rep, make_entry):
    draft = make_entry(state="draft")
    client.force_login(other_rep)

    assert_error(client.get(f"/api/v1/entries/{draft.pk}"), 404)
    assert_error(client.get("/api/v1/entries/999999"), 404)


def test_api_entry_needs_a_session(client, refund_entry):
    assert_error(client.get(f"/api/v1/entries/{refund_entry.pk}"), 401)


def test_api_records_a_reuse_linked_to_the_search_once_per_case(rep_client, rep, refund_entry):
    search_id = rep_client.get(API, {"q": "refund"}).json()["search_id"]
    url = f"/api/v1/entries/{refund_entry.pk}/reuse"

    first = rep_client.post(url, {"case": "CRM-881", "search_id": search_id})
    again = rep_client.post(url, {"case": "CRM-881"})

    assert (first.status_code, first.json()["counted"]) == (201, True)
    assert (again.status_code, again.json()["counted"]) == (200, False)
    assert again.json()["entry"]["reuse"]["count"] == 1
    reuse = Reuse.objects.get()
    assert (reuse.user, reuse.case_ref, reuse.query) == (rep, "CRM-881", "refund")
    assert SearchEvent.objects.get(pk=search_id).reused


@pytest.mark.parametrize(
    "data",
    [{"case": "has spaces"}, {"case": "x" * 65}, {"search_id": "abc"}, {"search_id": "9" * 30}],
)
def test_api_reuse_refuses_bad_input_and_counts_nothing(rep_client, refund_entry, data):
    response = rep_client.post(f"/api/v1/entries/{refund_entry.pk}/reuse", data)

    assert_error(response, 400)
    assert not Reuse.objects.exists()


def test_api_reuse_needs_the_csrf_token_like_every_write(rep, refund_entry):
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep)
    url = f"/api/v1/entries/{refund_entry.pk}/reuse"

    refused = client.post(url, {"case": "CRM-1"})
    client.get("/")  # the page sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    accepted = client.post(url, {"case": "CRM-1"}, headers={"X-CSRFToken": token})

    assert "X-CSRFToken" in assert_error(refused, 403)
    assert accepted.status_code == 201
    assert Reuse.objects.count() == 1


def test_api_reuse_needs_a_session(client, refund_entry):
    assert_error(client.post(f"/api/v1/entries/{refund_entry.pk}/reuse"), 401)
    assert not Reuse.objects.exists()
