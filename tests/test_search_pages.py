"""The search page as a rep uses it mid-call: ranked, highlighted, filtered, never a 500."""

from __future__ import annotations

import re
from html import unescape

import pytest

from kb import views
from tests.helpers import page_text

pytestmark = pytest.mark.django_db


HTMX = {"HTTP_HX_REQUEST": "true"}


def result_questions(response) -> list[str]:
    """The questions of the listed results, in order, as a rep reads them."""
    html = response.content.decode()
    headings = re.findall(r'<li class="result">\s*<h2>(.*?)</h2>', html, flags=re.S)
    return [unescape(re.sub(r"<[^>]+>", "", heading)).strip() for heading in headings]


@pytest.fixture
def refund_entry(make_entry):
    return make_entry(
        question="How do I refund a double charge?",
        answer="Open **Billing**, pick the duplicate charge and press Refund.",
        tags=("billing", "payments"),
    )


def test_search_result_shows_question_with_marked_words(rep_client, refund_entry):
    response = rep_client.get("/search/", {"q": "refund"})

    assert response.status_code == 200
    assert result_questions(response) == [refund_entry.question]
    assert "How do I <mark>refund</mark> a double charge?" in response.content.decode()


def test_search_result_snippet_marks_matching_words(rep_client, refund_entry):
    response = rep_client.get("/search/", {"q": "refund"})

    html = response.content.decode()
    snippet = html.split('<p class="snippet">', 1)[1].split("</p>", 1)[0]
    assert snippet == "Open Billing, pick the duplicate charge and press <mark>Refund</mark>."


def test_search_result_shows_tags_and_state(rep_client, refund_entry):
    response = rep_client.get("/search/", {"q": "refund"})

    html = response.content.decode()
    result = html.split('<li class="result">', 1)[1].split("</li>", 1)[0]
    assert '<span class="state state-published">Published</span>' in result
    assert '<a class="tag" href="/search/?q=tag:billing">billing</a>' in result
    assert '<a class="tag" href="/search/?q=tag:payments">payments</a>' in result


def test_search_matches_other_forms_of_a_word(rep_client, make_entry):
    entry = make_entry(
        question="Money back for a late delivery", answer="Issue a refund in Compass."
    )

    response = rep_client.get("/search/", {"q": "refunds"})

    assert result_questions(response) == [entry.question]
    assert "Issue a <mark>refund</mark> in Compass." in response.content.decode()


def test_search_ranks_question_match_above_answer_match(rep_client, make_entry):
    in_question = make_entry(
        question="Which modem lights mean a fault?",
        answer="A red light means the line is down; call the fault desk.",
    )
    in_answer = make_entry(
        question="Why is the internet slow in the evening?",
        answer="Restart the modem and run the speed test again.",
    )

    response = rep_client.get("/search/", {"q": "modem"})

    # The answer-only match is newer, so recency alone would list it first.
    assert result_questions(response) == [in_question.question, in_answer.question]


def test_search_tag_filter_keeps_only_tagged_entries(rep_client, make_entry):
    billing = make_entry(
        question="Charge shows twice", answer="Refund one charge.", tags=("billing",)
    )
    make_entry(question="Charge the headset", answer="Plug the charge cable in.", tags=("devices",))

    response = rep_client.get("/search/", {"q": "charge tag:billing"})

    assert response.status_code == 200
    assert result_questions(response) == [billing.question]


def test_search_tag_filter_alone_lists_tagged_entries(rep_client, make_entry):
    billing = make_entry(question="Charge shows twice", answer="Refund one.", tags=("Billing",))
    make_entry(question="Headset will not pair", answer="Reset it.", tags=("devices",))

    response = rep_client.get("/search/", {"q": "tag:billing"})

    assert result_questions(response) == [billing.question]


def test_search_offers_tag_facet_links(rep_client, make_entry):
    make_entry(question="Charge shows twice", answer="Refund one charge.", tags=("billing",))
    make_entry(question="Charge the headset", answer="Use the cable.", tags=("devices", "billing"))

    response = rep_client.get("/search/", {"q": "charge"})

    html = response.content.decode()
    facets = html.split('<nav class="facets"', 1)[1].split("</nav>", 1)[0]
    assert 'href="/search/?q=charge%20tag:billing">billing <span class="count">2</span>' in facets
    assert 'href="/search/?q=charge%20tag:devices">devices <span class="count">1</span>' in facets


def test_search_hides_archived_entries_by_default(rep_client, make_entry):
    make_entry(question="Dial-up modem setup", answer="Use the old CD.", state="archived")

    response = rep_client.get("/search/", {"q": "dial-up"})

    assert result_questions(response) == []
    assert "Nothing found for “dial-up”" in page_text(response)


def test_search_with_archived_shows_archived_entries(rep_client, make_entry):
    archived = make_entry(
        question="Dial-up modem setup", answer="Use the old CD.", state="archived"
    )

    response = rep_client.get("/search/", {"q": "dial-up", "archived": "1"})

    assert result_questions(response) == [archived.question]
    assert '<span class="state state-archived">Archived</span>' in response.content.decode()


def test_search_never_shows_other_peoples_drafts(rep_client, make_entry, other_rep):
    make_entry(
        question="Voicemail PIN reset", answer="Half written.", author=other_rep, state="draft"
    )

    response = rep_client.get("/search/", {"q": "voicemail"})

    assert result_questions(response) == []
    assert "Voicemail PIN reset" not in page_text(response)


def test_search_shows_authors_own_drafts(rep_client, make_entry, rep):
    draft = make_entry(question="Voicemail PIN reset", answer="Half written.", state="draft")

    response = rep_client.get("/search/", {"q": "voicemail"})

    assert result_questions(response) == [draft.question]
    assert '<span class="state state-draft">Draft</span>' in response.content.decode()


def test_search_with_no_result_offers_to_write_it_up(rep_client, entry):
    response = rep_client.get("/search/", {"q": "xyzzy plugh"})

    assert response.status_code == 200
    assert "Nothing found for “xyzzy plugh”" in page_text(response)
    html = response.content.decode()
    assert '<a class="button primary" href="/entries/new/?question=xyzzy%20plugh">' in html
    assert "Write this up" in page_text(response)


def test_search_htmx_request_gets_only_the_results_partial(rep_client, entry):
    response = rep_client.get("/search/", {"q": "broadband"}, **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert "<body" not in html
    assert result_questions(response) == [entry.question]


def test_search_full_page_has_layout(rep_client, entry):
    response = rep_client.get("/search/", {"q": "broadband"})

    html = response.content.decode()
    assert "<html" in html
    assert '<section id="results"' in html


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "partial"])
def test_search_varies_on_hx_request(rep_client, entry, headers):
    response = rep_client.get("/search/", {"q": "broadband"}, **headers)

    assert "HX-Request" in [v.strip() for v in response["Vary"].split(",")]


HOSTILE_QUERIES = [
    "AND OR (",
    '"unterminated',
    "*",
    "payment?",
    "a:b",
    "tag:",
    "NOT",
    "tag:billing tag:",
    '"" "',
    "router))) OR ((",
    "🙂📞 router",
    "راوتر لا يعمل",
    "\u202eretuor\u202c",
    "Ça coûte combien ?",
    "router\x00reset",
    "\x00",
    "%s %d {0} ${x}",
    "<script>alert(1)</script>",
]


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_search_hostile_query_gets_a_page(rep_client, entry, query):
    response = rep_client.get("/search/", {"q": query})

    assert response.status_code in (200, 400)
    html = response.content.decode()
    assert '<section id="results"' in html
    assert "<script>alert(1)" not in html


@pytest.mark.parametrize("query", HOSTILE_QUERIES)
def test_search_hostile_query_gets_a_partial(rep_client, entry, query):
    response = rep_client.get("/search/", {"q": query}, **HTMX)

    assert response.status_code in (200, 400)
    assert "<html" not in response.content.decode()


def test_search_payment_question_mark_finds_payment(rep_client, make_entry):
    found = make_entry(question="Payment failed at checkout", answer="Ask for another card.")

    response = rep_client.get("/search/", {"q": "payment?"})

    assert result_questions(response) == [found.question]


def test_search_over_500_characters_is_refused_clearly(rep_client, entry):
    junk = ('AND(*"tag:?:}{' * 200)[:2000]

    response = rep_client.get("/search/", {"q": junk})

    assert response.status_code == 400
    text = page_text(response)
    assert "limited to 500 characters" in text
    assert "2,000" in text


def test_search_refused_for_length_keeps_the_query_in_the_box(rep_client, entry):
    response = rep_client.get("/search/", {"q": "router " * 300})

    assert response.status_code == 400
    box = response.content.decode().split('id="search-input"', 1)[1].split(">", 1)[0]
    assert 'value="router router' in box


def test_search_over_500_characters_partial_is_refused_clearly(rep_client, entry):
    response = rep_client.get("/search/", {"q": "x" * 2000}, **HTMX)

    assert response.status_code == 400
    assert "limited to 500 characters" in page_text(response)


def test_search_of_exactly_500_characters_is_accepted(rep_client, entry):
    response = rep_client.get("/search/", {"q": ("broadband " * 50)[:500]})

    assert response.status_code == 200
    assert result_questions(response) == [entry.question]


@pytest.mark.parametrize("path", ["/", "/search/", "/search/?q="])
def test_empty_search_shows_recently_updated_entries(rep_client, make_entry, path):
    older = make_entry(question="Older entry about routers")
    newer = make_entry(question="Newer entry about billing")

    response = rep_client.get(path)

    assert response.status_code == 200
    text = page_text(response)
    assert "Recently updated" in text
    assert text.index(newer.question) < text.index(older.question)


def test_home_hides_archived_and_other_peoples_drafts(rep_client, make_entry, other_rep):
    make_entry(question="Archived dial-up guide", state="archived")
    make_entry(question="Omar's unfinished draft", author=other_rep, state="draft")
    shown = make_entry(question="Visible router guide")

    text = page_text(rep_client.get("/"))

    assert shown.question in text
    assert "Archived dial-up guide" not in text
    assert "Omar's unfinished draft" not in text


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ("0", "greater than or equal to 1"),
        ("-3", "greater than or equal to 1"),
        ("abc", "Enter a whole number"),
        ("999", "less than or equal to 50"),
        ("1.5", "Enter a whole number"),
    ],
)
def test_search_bad_page_is_refused(rep_client, entry, page, message):
    response = rep_client.get("/search/", {"q": "broadband", "page": page})

    assert response.status_code == 400
    assert message in page_text(response)


@pytest.fixture
def many_router_entries(make_entry):
    return [
        make_entry(question=f"Router fault number {n}", answer="Restart the router.")
        for n in range(25)
    ]


def test_search_first_page_shows_20_and_links_to_more(rep_client, many_router_entries):
    response = rep_client.get("/search/", {"q": "router"})

    assert len(result_questions(response)) == 20
    assert "25 answers for router" in page_text(response)
    assert re.search(
        r'href="\?q=router&amp;page=2&amp;s=\d+">More answers', response.content.decode()
    )


def test_search_second_page_shows_the_rest(rep_client, many_router_entries):
    first = result_questions(rep_client.get("/search/", {"q": "router"}))

    response = rep_client.get("/search/", {"q": "router", "page": "2"})

    assert response.status_code == 200
    second = result_questions(response)
    assert len(second) == 5
    assert set(first).isdisjoint(second)
    assert set(first) | set(second) == {e.question for e in many_router_entries}
    html = response.content.decode()
    assert 'href="?q=router&amp;page=1">← Previous' in html
    assert "More answers" not in html


def test_search_quoted_phrase_needs_the_words_together(rep_client, make_entry):
    together = make_entry(question="Line test fails", answer="Run the line test twice.")
    make_entry(question="Test the phone", answer="Check the line, then run a test call.")

    response = rep_client.get("/search/", {"q": '"line test"'})

    assert result_questions(response) == [together.question]


def test_search_of_only_common_words_asks_for_better_ones(rep_client, entry):
    response = rep_client.get("/search/", {"q": "AND OR ("})

    assert response.status_code == 200
    assert result_questions(response) == []
    assert "Those are all very common words" in page_text(response)


def test_search_write_this_up_link_encodes_the_query(rep_client, entry):
    response = rep_client.get("/search/", {"q": "xyzzy & <b>plugh</b>?"})

    html = response.content.decode()
    assert 'href="/entries/new/?question=xyzzy%20%26%20%3Cb%3Eplugh%3C/b%3E%3F"' in html


def test_search_page_past_the_last_result_does_not_say_nothing_found(rep_client, make_entry):
    for n in range(3):
        make_entry(question=f"Router fault number {n}")

    response = rep_client.get("/search/", {"q": "router", "page": "2"})

    assert response.status_code == 200
    text = page_text(response)
    assert "No more answers for “router” on page 2. Back to the first page" in text
    assert "Nothing found" not in text
    assert "Write this up" not in text


def test_search_page_says_what_the_keys_do(rep_client, entry):
    text = page_text(rep_client.get("/search/", {"q": "broadband"}))

    assert "↓ ↑ move · Enter opens · Esc clears" in text


def test_search_last_allowed_page_offers_no_further_page(rep_client, make_entry, monkeypatch):
    """More results than pages allow: the last page must not link to a refused one."""
    for n in range(3):
        make_entry(question=f"Router fault {n}", answer="Reboot.")
    monkeypatch.setattr(views, "PAGE_SIZE", 1)
    monkeypatch.setattr(views, "MAX_PAGE", 2)

    response = rep_client.get("/search/", {"q": "router", "page": 2})

    assert response.status_code == 200
    assert len(result_questions(response)) == 1
    assert "page=3" not in response.content.decode()
