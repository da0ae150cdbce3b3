"""What a person writes reaches the page only through the sanitiser (table-driven XSS)."""

from __future__ import annotations

import re

import pytest

from kb.markdown import render_markdown
from tests.helpers import page_text

XSS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "[x](JAVASCRIPT:alert(1))",
    '<a href="javascript:alert(1)">x</a>',
    "![x](data:text/html;base64,PHNjcmlwdD4=)",
    "<svg onload=alert(1)>",
    "<iframe src=//evil>",
    '<div style="background:url(javascript:alert(1))">',
    "[x](vbscript:msgbox(1))",
    "[x](jav&#x09;ascript:alert(1))",
    "[x]( javascript:alert(1) )",
    '<a href="&#106;avascript:alert(1)">x</a>',
    "<details open ontoggle=alert(1)>",
    "<body onload=alert(1)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "`<script>alert(1)</script>`",
    "```\n<script>alert(1)</script>\n```",
    "<scr<script>ipt>alert(1)</script>",
    '<form action="javascript:alert(1)"><button>go</button></form>',
    '<object data="javascript:alert(1)">',
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    "[x][ref]\n\n[ref]: javascript:alert(1)",
    "<style>body{background:url(javascript:alert(1))}</style>",
]

FORBIDDEN = (
    "<script",
    "onerror",
    "onload",
    "ontoggle",
    "javascript:",
    "vbscript:",
    "data:",
    "<iframe",
    "<svg",
    "<object",
    "<form",
    "<style",
    "style=",
)


def assert_inert(html: str) -> None:
    lowered = html.lower()
    for needle in FORBIDDEN:
        assert needle not in lowered, f"{needle!r} survived in {html!r}"


# Anywhere on a page: the layout has forms of its own, but never these.
PAGE_FORBIDDEN = (
    "<script",
    "onerror",
    "onload",
    "ontoggle",
    "javascript:",
    "vbscript:",
    "<iframe",
    "<svg",
    "<object",
    "<style",
)


def without_own_scripts(html: str) -> str:
    """The page minus the layout's own static script tags, which are ours and expected."""
    return re.sub(r'<script src="/static/[^"]+" defer></script>', "", html)


def assert_page_inert(response) -> None:
    """The rendered answer passes ``assert_inert``; the whole page carries no active content."""
    html = without_own_scripts(response.content.decode())
    answer = html.split('<div class="answer prose">', 1)[1].split("</div>", 1)[0]
    assert_inert(answer)
    lowered = html.lower()
    for needle in PAGE_FORBIDDEN:
        assert needle not in lowered, f"{needle!r} survived on the page"


@pytest.mark.parametrize("payload", XSS)
def test_render_markdown_neutralises_xss(payload):
    assert_inert(render_markdown(payload))


@pytest.mark.parametrize("payload", XSS)
@pytest.mark.django_db
def test_entry_page_neutralises_xss_in_answer(rep_client, make_entry, payload):
    entry = make_entry(question="Payload entry", answer=f"Before\n\n{payload}\n\nAfter")

    response = rep_client.get(f"/entries/{entry.pk}/")

    assert response.status_code == 200
    assert_page_inert(response)
    assert "Before" in page_text(response)


@pytest.mark.parametrize("payload", XSS)
@pytest.mark.django_db
def test_entry_page_neutralises_xss_in_environment_and_cause(rep_client, make_entry, payload):
    entry = make_entry(environment=payload, cause=payload)

    response = rep_client.get(f"/entries/{entry.pk}/")

    html = without_own_scripts(response.content.decode())
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "<a href=" not in html.split('<dl class="kcs">', 1)[1].split("</dl>", 1)[0]


@pytest.mark.parametrize("payload", XSS)
@pytest.mark.django_db
def test_revision_page_neutralises_xss(rep_client, make_entry, payload):
    entry = make_entry(answer=payload)

    response = rep_client.get(f"/entries/{entry.pk}/history/1/")

    assert response.status_code == 200
    assert_page_inert(response)


@pytest.mark.parametrize("payload", XSS)
@pytest.mark.django_db
def test_preview_neutralises_xss(rep_client, payload):
    response = rep_client.post("/preview/", {"answer": payload})

    assert response.status_code == 200
    assert_inert(response.content.decode())


@pytest.mark.parametrize("payload", XSS)
@pytest.mark.django_db
def test_search_snippet_neutralises_xss(rep_client, make_entry, payload):
    make_entry(question="Router payload entry", answer=f"Router {payload} router")

    response = rep_client.get("/search/", {"q": "router"})

    assert response.status_code == 200
    html = without_own_scripts(response.content.decode())
    snippet = html.split('<p class="snippet">', 1)[1].split("</p>", 1)[0]
    assert re.sub(r"</?mark>", "", snippet).count("<") == 0


HOSTILE_QUESTION = '<script>alert("q")</script> Router <img src=x onerror=alert(1)> resets'
HOSTILE_TAG = "<script>alert(1)</script>"


@pytest.fixture
def hostile_entry(make_entry):
    return make_entry(question=HOSTILE_QUESTION, answer="Router answer.", tags=(HOSTILE_TAG,))


@pytest.mark.django_db
def test_entry_page_escapes_html_in_question_and_tags(rep_client, hostile_entry):
    response = rep_client.get(f"/entries/{hostile_entry.pk}/")

    html = without_own_scripts(response.content.decode())
    assert "<script" not in html
    assert "<img" not in html
    assert "&lt;script&gt;alert(&quot;q&quot;)&lt;/script&gt;" in html
    text = page_text(response)
    assert HOSTILE_QUESTION in text
    assert HOSTILE_TAG in text


@pytest.mark.django_db
def test_search_results_escape_html_in_question_and_tags(rep_client, hostile_entry):
    response = rep_client.get("/search/", {"q": "router"})

    html = without_own_scripts(response.content.decode())
    assert "<script" not in html
    assert "<img" not in html
    assert "<mark>Router</mark> &lt;img src=x onerror=alert(1)&gt; resets" in html
    text = page_text(response)
    assert HOSTILE_TAG in text


@pytest.mark.django_db
def test_search_results_partial_escapes_html_in_question_and_tags(rep_client, hostile_entry):
    response = rep_client.get("/search/", {"q": "router"}, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert "<script" not in html
    assert "<img" not in html
    assert HOSTILE_TAG in page_text(response)


@pytest.mark.django_db
def test_home_page_escapes_html_in_question_and_tags(rep_client, hostile_entry):
    response = rep_client.get("/")

    html = without_own_scripts(response.content.decode())
    assert "<script" not in html
    assert "<img" not in html
    assert HOSTILE_QUESTION in page_text(response)


@pytest.mark.django_db
def test_history_pages_escape_html_in_question(rep_client, hostile_entry):
    for path in ("history/", "history/1/", "edit/"):
        response = rep_client.get(f"/entries/{hostile_entry.pk}/{path}")

        html = without_own_scripts(response.content.decode())
        assert "<script" not in html, path
        assert "<img" not in html, path


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("**bold** and *italic*", "<p><strong>bold</strong> and <em>italic</em></p>"),
        (
            "[help](https://example.com/help?a=1&b=2)",
            '<a href="https://example.com/help?a=1&amp;b=2" rel="noopener noreferrer nofollow">'
            "help</a>",
        ),
        ("[mail](mailto:desk@example.com)", 'href="mailto:desk@example.com"'),
        ("[call](tel:+441234567)", 'href="tel:+441234567"'),
        ("Use `ping 1.1.1.1` first", "<code>ping 1.1.1.1</code>"),
        ("```\nifconfig -a\n```", "<pre><code>ifconfig -a\n</code></pre>"),
        (
            "```bash\nifconfig -a\n```",
            '<pre><code class="language-bash">ifconfig -a\n</code></pre>',
        ),
        (
            "| Light | Means |\n|---|---|\n| Red | Down |",
            "<table>\n<thead>\n<tr>\n<th>Light</th>\n<th>Means</th>",
        ),
        ("| a | b |\n|---|---|\n| 1 | 2 |", "<td>2</td>"),
        ("1. one\n2. two", "<ol>\n<li>one</li>\n<li>two</li>\n</ol>"),
        ("- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
        ("## Steps", "<h2>Steps</h2>"),
        ("> quoted", "<blockquote>"),
        ("line one\nline two", "line one<br>\nline two"),
        (
            "![router](https://example.com/r.png)",
            '<img alt="router" src="https://example.com/r.png">',
        ),
        ("2 < 3 & 4 > 1", "2 &lt; 3 &amp; 4 &gt; 1"),
    ],
)
def test_render_markdown_keeps_legitimate_markdown(markdown, expected):
    assert expected in render_markdown(markdown)


def test_render_markdown_of_nothing_is_empty():
    assert render_markdown("") == ""
