"""Arbitrary text, as a property: the search path and the import parser take anything.

Hypothesis generates the text: any Unicode, NUL and other control characters, lone
surrogates (where they can get in: in Python strings, as raw bytes over HTTP, as JSON
escapes in an import file), emoji, right-to-left scripts, combining marks, query syntax
and huge inputs. The properties: never a 500 or an unhandled exception; refusals are a
4xx with a message the person can act on; nothing half-written; the index keeps working;
readable text is stored and found again. The profile in ``conftest.py`` makes the
examples the same on every run.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from urllib.parse import quote_from_bytes

import pytest
from django.core.management import CommandError, call_command
from hypothesis import given, settings
from hypothesis import strategies as st

from kb import search
from kb.models import Entry, Reuse, SynonymGroup
from kb.search import MAX_QUERY_LENGTH
from kb.search.query import normalise_query, parse_query
from kb.transfer import ImportFileError, parse_lines
from tests.helpers import page_text

# Pieces that break naive code, mixed into arbitrary text.
HOSTILE = [
    "\x00",
    "\x01",
    "\x07",
    "\x1b[31m",
    "\x7f",
    "\x85",
    "\u200b",
    "\u200f",
    "\u202e",
    "\ufeff",
    "\ufffd",
    "\u0301",
    "a\u0308\u0308\u0308\u0308",
    "🙂",
    "👩🏽‍💻",
    "🇬🇧",
    "עברית",
    "مرحبا بالعالم",
    "Ελληνικά",
    "日本語の質問",
    "ﷺ",
    '"',
    '"unclosed phrase',
    '"two words"',
    "tag:",
    "tag:billing",
    "tag:\u202e",
    "*",
    "?",
    "%",
    "\\",
    "<script>alert(1)</script>",
    "&amp;",
    "\n",
    "\r\n",
    "\t",
    "router",
    "reset",
]
SURROGATES = ["\ud800", "\udfff", "\udc80x", "\ud83d"]  # lone halves, never text
REFUSALS = ("Searches are limited to", "Null characters are not allowed")

texts = st.lists(st.one_of(st.text(max_size=20), st.sampled_from(HOSTILE)), max_size=10).map(
    "".join
)
any_strings = st.one_of(
    texts,
    st.lists(st.one_of(texts, st.sampled_from(SURROGATES)), max_size=4).map("".join),
    st.integers(MAX_QUERY_LENGTH - 5, 20_000).map(lambda n: ("router " * n)[:n]),
)
# What the HTTP layer can carry: any bytes, percent-encoded (invalid UTF-8, surrogates
# encoded as UTF-8 would encode them, overlong NUL), or text encoded as UTF-8.
query_bytes = st.one_of(
    texts.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.lists(st.sampled_from(SURROGATES + HOSTILE), max_size=6).map(
        lambda parts: "".join(parts).encode("utf-8", "surrogatepass")
    ),
    st.binary(max_size=40),
    st.sampled_from([b"\xc0\x80", b"\xff\xfe", b"\xed\xa0\x80", b"%", b"%%41"]),
)


_examples = itertools.count()


def distinct_segment_names() -> None:
    """Hypothesis seeds the global ``random`` the same way for every example, and Whoosh
    names a new index segment with it: without a seed per example, the second example's
    segment gets the first one's name and its index write fails."""
    random.seed(next(_examples))


def found_questions(text: str, user) -> list[str]:
    return [result.entry.question for result in search.search(text, user=user).results]


@given(any_strings)
def test_parse_query_takes_any_text(text):
    parsed = parse_query(text)

    assert len(parsed.text) <= MAX_QUERY_LENGTH
    assert "\x00" not in parsed.text
    assert len(normalise_query(text)) <= MAX_QUERY_LENGTH


def test_search_pages_never_fail_on_any_bytes_and_keep_the_index(rep_client, entry, rep):
    @given(query_bytes)
    def search_for(raw: bytes):
        q = quote_from_bytes(raw)
        for url, headers in (
            (f"/search/?q={q}", {}),
            (f"/search/?q={q}", {"HX-Request": "true"}),  # the search-as-you-type partial
            (f"/entries/similar/?question={q}", {"HX-Request": "true"}),
        ):
            response = rep_client.get(url, headers=headers)
            assert response.status_code in (200, 400), (url, response.status_code)
            if response.status_code == 400:
                assert any(refusal in page_text(response) for refusal in REFUSALS)

    search_for()

    assert found_questions("broadband", rep) == [entry.question]  # the index still answers


def test_search_api_never_fails_on_any_bytes(rep_client, entry, rep):
    @given(query_bytes)
    def search_for(raw: bytes):
        response = rep_client.get(f"/api/v1/search?q={quote_from_bytes(raw)}&tag=x")
        assert response.status_code in (200, 400)
        body = response.json()
        if response.status_code == 400:
            assert body["error"].startswith("q: ")
        else:
            assert isinstance(body["results"], list)

    search_for()

    assert found_questions("broadband", rep) == [entry.question]


@pytest.mark.parametrize("size", [MAX_QUERY_LENGTH + 1, 100_000, 1_000_000])
def test_search_refuses_a_huge_query_with_a_clear_message(rep_client, size):
    q = ("router " * size)[: size - 1] + "x"
    page = rep_client.get("/search/", {"q": q})
    partial = rep_client.get("/search/", {"q": q}, headers={"HX-Request": "true"})
    api = rep_client.get("/api/v1/search", {"q": q})

    message = f"Searches are limited to {MAX_QUERY_LENGTH} characters (this one has {size:,})"
    assert page.status_code == partial.status_code == api.status_code == 400
    assert message in page_text(page)
    assert message in page_text(partial)
    assert api.json()["error"].startswith(f"q: {message}")


# Import lines: JSON records with hostile values where the format has strings, and
# lines that are not records at all.
with_surrogates = st.lists(st.one_of(texts, st.sampled_from(SURROGATES)), max_size=3).map("".join)
hostile_records = st.fixed_dictionaries(
    {"question": with_surrogates, "answer": texts},
    optional={
        "tags": st.lists(texts, max_size=3),
        "also_asked": st.lists(texts, max_size=2),
        "environment": texts,
        "cause": texts,
        "state": st.sampled_from(["published", "draft", "validated", "archived", "", "\x00"]),
        "author": st.sampled_from([None, "rita", "new-person", "bad name", "\x00"]),
        "created": st.sampled_from([None, "2024-01-31", "2024-02-30", "\x00", "soon"]),
        "revisions": st.lists(
            st.fixed_dictionaries(
                {"question": texts, "answer": texts},
                optional={"summary": texts, "editor": st.sampled_from([None, "omar"])},
            ),
            max_size=2,
        ),
    },
)
import_lines = st.lists(
    st.one_of(
        hostile_records.map(json.dumps),  # surrogates as \\ud800 escapes
        hostile_records.map(lambda r: json.dumps(r, ensure_ascii=False)),
        texts.map(lambda t: t.replace("\n", " ").replace("\r", " ")),
        st.sampled_from(["{}", "[]", "null", '{"question": 1}', "{" * 50, '"\\ud800"']),
    ),
    max_size=6,
)


def bad_line_numbers(lines: list[str]) -> list[int]:
    numbers = []
    for number, line in enumerate(lines, start=1):
        try:
            parse_lines([line])
        except ImportFileError:
            numbers.append(number)
    return numbers


@given(import_lines)
def test_import_parser_reports_each_bad_line_by_number_and_raises_nothing_else(lines):
    try:
        records = parse_lines(lines)
    except ImportFileError as error:
        reported = [int(re.match(r"line (\d+): ", e)[1]) for e in error.errors]
        assert reported == bad_line_numbers(lines)
        assert error.total_bad == len(reported)
    else:
        assert len(records) == sum(1 for line in lines if line.strip().lstrip("\ufeff"))
        for record in records:  # what the parser accepts, any database can store
            content = record.content
            for revision in record.revisions:
                assert storable(revision.summary) and storable(revision.content.answer)
            for text in (content.question, content.answer, content.also_asked, *content.tags):
                assert storable(text)


def storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def test_import_writes_every_line_or_nothing_on_any_input(db, tmp_path, rep, other_rep):
    """Run with ``make test-postgres`` too: PostgreSQL refuses NUL in text, so anything
    the parser lets through must already be clean."""

    @given(import_lines)
    def import_file(lines: list[str]):
        path = tmp_path / "entries.jsonl"
        path.write_text("\n".join(lines), encoding="utf-8", errors="surrogatepass")
        before = Entry.objects.count()
        try:
            call_command("import_entries", str(path), stdout=_Discard())
        except CommandError as error:
            assert Entry.objects.count() == before  # nothing partial
            message = str(error)
            assert message.startswith("Nothing imported") or "not UTF-8" in message
            if message.startswith("Nothing imported"):
                assert re.search(r"^  line \d+: ", message, re.M)
        else:
            imported = Entry.objects.order_by("-pk")[: Entry.objects.count() - before]
            for entry in imported:
                for text in (entry.question, entry.answer, *entry.tag_names()):
                    assert "\x00" not in text
                    assert not re.search(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", text)

    import_file()


class _Discard:
    def write(self, *args, **kwargs) -> None:
        pass

    def flush(self) -> None:
        pass


# Words in the scripts people write, with marks and emoji around them.
SCRIPTS = {
    "hebrew": "אבגדהוזחטיכלמנסעפצקרשת",
    "arabic": "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
    "greek": "αβγδεζηθικλμνξοπρστυφχψω",
    "cyrillic": "абвгдежзийклмнопрстуфхцчшщыэюя",
    "latin": "abcdefghijklmnopqrstuvwxyzçñøß",
}
script_words = st.sampled_from(sorted(SCRIPTS)).flatmap(
    lambda name: st.text(st.sampled_from(SCRIPTS[name]), min_size=4, max_size=10)
)
decorations = st.lists(
    st.sampled_from(["🙂", "👩🏽‍💻", "\u0301", "\u0308", "\u202b", "\u200f", "🇬🇧", "*"]),
    max_size=3,
).map("".join)


def test_unicode_entries_are_stored_and_found_again_by_a_word_of_them(
    rep_client, rep, django_capture_on_commit_callbacks
):
    @settings(max_examples=25)  # each example saves and indexes an entry
    @given(script_words, decorations)
    def write_up(word: str, decoration: str):
        distinct_segment_names()
        question = f"Customer asks about {word}{decoration} {decoration}today"
        answer = f"Explain {decoration} **{word}** in their language, ما هذا?"
        with django_capture_on_commit_callbacks(execute=True):
            response = rep_client.post(
                "/entries/new/", {"question": question, "answer": answer, "tags": word}
            )
        assert response.status_code == 302
        entry = Entry.objects.get(pk=int(re.search(r"/entries/(\d+)/", response.url)[1]))
        assert entry.question == " ".join(question.split())
        assert entry.answer == answer
        assert word.lower() in entry.tag_names()
        assert entry.question in page_text(rep_client.get(response.url))
        assert entry.pk in [r.entry.pk for r in search.search(word, user=rep, limit=100).results]

    write_up()


CONTROL = st.sampled_from(["\x01", "\x07", "\x08", "\x1b", "\x7f", "\x85", "\x9b"])
with_controls = st.tuples(texts, CONTROL, texts).map("".join)


def test_control_characters_in_a_new_entry_are_stripped_and_nul_refused(
    rep_client, django_capture_on_commit_callbacks
):
    @given(with_controls, st.booleans())
    def write_up(text: str, with_nul: bool):
        distinct_segment_names()
        question = f"Printer {text} jams"
        answer = f"Open tray 2.{text}" + ("\x00" if with_nul else "")
        before = Entry.objects.count()
        with django_capture_on_commit_callbacks(execute=True):
            response = rep_client.post("/entries/new/", {"question": question, "answer": answer})
        if "\x00" in question + answer:
            assert response.status_code == 400
            assert "Null characters are not allowed." in page_text(response)
            assert Entry.objects.count() == before
            return
        assert response.status_code == 302
        entry = Entry.objects.latest("pk")
        for stored in (entry.question, entry.answer):
            assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", stored)
        assert entry.question.startswith("Printer") and entry.question.endswith("jams")

    write_up()


def test_reuse_query_with_control_characters_is_counted_and_stored_clean(rep_client, entry):
    response = rep_client.post(
        f"/api/v1/entries/{entry.pk}/reuse", {"case": "C-1", "q": "router\x00 \x1b[31mlights"}
    )

    assert response.status_code == 201
    assert Reuse.objects.get(entry=entry, case_ref="C-1").query == "router [31mlights"


def test_import_refuses_a_lone_surrogate_by_line_number():
    lines = [
        json.dumps({"question": "Emoji 🙂 fine", "answer": "Paired escapes are text."}),
        '{"question": "Half an emoji \\ud83d", "answer": "Not text."}',
    ]

    with pytest.raises(ImportFileError) as refused:
        parse_lines(lines)

    assert refused.value.errors == [
        "line 2: holds a lone UTF-16 surrogate (an escape such as \\ud800 without its pair), "
        "which is not text"
    ]


def test_import_strips_nul_and_control_characters_from_what_it_stores(db, tmp_path):
    path = tmp_path / "entries.jsonl"
    record = {
        "question": "Modem\x00 light \x1bred",
        "answer": "Restart\x07 it.",
        "tags": ["fau\x00lts"],
        "revisions": [{"question": "Modem light red", "answer": "Restart it.", "summary": "\x00"}],
    }
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")

    call_command("import_entries", str(path), stdout=_Discard())

    entry = Entry.objects.get()
    assert (entry.question, entry.answer, entry.tag_names()) == (
        "Modem light red",
        "Restart it.",
        ["faults"],
    )
    assert entry.revisions.get().summary == ""


def test_synonyms_with_nul_and_control_characters_are_saved_clean(supervisor_client):
    response = supervisor_client.post("/review/synonyms/", {"synonyms": "wifi, wi\x00-fi\x1b\n"})

    assert response.status_code == 302
    assert list(SynonymGroup.objects.values_list("terms", flat=True)) == ["wifi, wi-fi"]
