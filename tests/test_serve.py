"""Several processes writing at once: the production server (gunicorn with 4 worker
processes, as ``make serve`` runs it) on SQLite and the Whoosh index, driven over HTTP by
reps saving and editing at the same time.

It starts a real server on a free 127.0.0.1 port with its own temporary data folder,
so it runs in ``make test`` (a bounded number of requests: about 20 s) but not in
``make test-postgres``, which runs the suite on another database (``make scaletest``
covers several servers on PostgreSQL). ``pytest -m "not serve"`` leaves it out.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from kb.bench.server import Server
from kb.management.commands.scaletest import PASSWORD, Browser

pytestmark = [
    pytest.mark.serve,
    pytest.mark.skipif(
        connection.vendor != "sqlite",
        reason="runs its own SQLite + Whoosh site; once per run is enough (make test)",
    ),
]

WORKERS = 4
REPS = 4
ENTRIES_PER_REP = 5
SHARED_EDITS_PER_REP = 3  # edits of one entry every rep changes: some conflict (409)
CREATE_USERS = f"""
from django.contrib.auth.models import Group, User
for n in range({REPS}):
    User.objects.create_user(f"load-rep{{n}}", password={PASSWORD!r}).groups.add(
        Group.objects.get(name="Reps"))
"""


def manage(env: dict, *arguments: str) -> None:
    subprocess.run(
        [sys.executable, str(settings.BASE_DIR / "manage.py"), *arguments],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A fresh production-mode site served by gunicorn, as ``make serve`` starts it."""
    data_dir = tmp_path_factory.mktemp("site")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "KB_SEARCH_BACKEND", "KB_INDEX_DIR", "REDIS_URL"}
    }
    env.update(
        KB_DATA_DIR=str(data_dir),
        DEBUG="0",
        KB_HTTPS="0",  # production mode over plain HTTP on loopback
        SECRET_KEY=secrets.token_urlsafe(50),
        WEB_CONCURRENCY=str(WORKERS),
        HOST="127.0.0.1",
    )
    manage(env, "migrate", "--noinput", "-v0")
    manage(env, "collectstatic", "--noinput", "-v0")
    manage(env, "shell", "-c", CREATE_USERS)
    site = Server("floor", env, data_dir)
    site.start()
    try:
        site.wait_ready(time.monotonic() + 30)
        yield site
    finally:
        site.stop()


def form_token(browser: Browser) -> dict:
    return {"csrfmiddlewaretoken": browser.cookies["csrftoken"]}


class Rep:
    """One rep's session and what the server answered them."""

    def __init__(self, base: str, number: int) -> None:
        self.base = base
        self.browser = Browser()
        self.browser.log_in(base, f"load-rep{number}")
        self.tag = f"zq{secrets.token_hex(3)}r{number}"
        self.statuses: Counter[int] = Counter()
        self.created: dict[int, str] = {}  # entry id -> its marker word
        self.saved_answers: list[tuple[int, str]] = []  # (entry id, answer) of each save

    def post(self, path: str, data: dict) -> tuple[int, dict]:
        status, headers, _ = self.browser.request(
            self.base, path, {**data, **form_token(self.browser)}
        )
        self.statuses[status] += 1
        return status, headers

    def create(self, n: int) -> None:
        marker = f"{self.tag}e{n}"
        answer = f"Restart the {marker} box, then check the lights."
        status, headers = self.post(
            "/entries/new/",
            {"question": f"Why does the {marker} router blink?", "answer": answer, "tags": "load"},
        )
        found = re.search(r"/entries/(\d+)/$", headers.get("Location", ""))
        if status == 302 and found:
            self.created[int(found[1])] = marker
            self.saved_answers.append((int(found[1]), answer))

    def edit(self, entry_id: int, version: int, question: str, answer: str) -> int:
        status, _ = self.post(
            f"/entries/{entry_id}/edit/",
            {"question": question, "answer": answer, "version": version, "summary": "load"},
        )
        if status == 302:
            self.saved_answers.append((entry_id, answer))
        return status

    def current_version(self, entry_id: int) -> int:
        status, _, page = self.browser.request(self.base, f"/entries/{entry_id}/edit/")
        self.statuses[status] += 1
        return int(re.search(r'name="version" value="(\d+)"', page)[1])

    def work(self, shared: int, shared_question: str) -> None:
        for n in range(ENTRIES_PER_REP):
            self.create(n)
        for entry_id, marker in list(self.created.items()):
            self.edit(
                entry_id,
                1,
                f"Why does the {marker} router blink?",
                f"Edited: unplug the {marker} box for {secrets.token_hex(2)} seconds.",
            )
        for n in range(SHARED_EDITS_PER_REP):
            version = self.current_version(shared)
            self.edit(shared, version, shared_question, f"{self.tag} shared edit {n}.")


def log_since(server, offset: int) -> str:
    """What the server logged after ``offset`` bytes (the server is shared by this
    module's tests)."""
    with server.log_path.open() as log:
        log.seek(offset)
        return log.read()


def stored(data_dir) -> tuple[dict[int, int], set[tuple[int, str]], int]:
    """Revisions per entry, every (entry, answer) of every revision, as stored, and how
    many saves still wait to be indexed."""
    with sqlite3.connect(data_dir / "floorbook.sqlite3") as db:
        revisions = dict(db.execute("SELECT entry_id, COUNT(*) FROM kb_revision GROUP BY 1"))
        answers = set(db.execute("SELECT entry_id, answer FROM kb_revision"))
        [(waiting,)] = db.execute("SELECT COUNT(*) FROM kb_indexbacklog")
    return revisions, answers, waiting


def test_four_workers_saving_at_once_lose_nothing_and_everything_is_searchable(server):
    log_start = server.log_path.stat().st_size
    first = Rep(server.base, 0)
    shared_question = f"Shared {first.tag} question about the hub"
    status, headers = first.post(
        "/entries/new/", {"question": shared_question, "answer": "Start here."}
    )
    assert status == 302
    shared = int(re.search(r"/entries/(\d+)/$", headers["Location"])[1])
    reps = [first, *(Rep(server.base, n) for n in range(1, REPS))]
    errors: list[BaseException] = []

    def run(rep: Rep) -> None:
        try:
            rep.work(shared, shared_question)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(rep,), daemon=True) for rep in reps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)

    log = log_since(server, log_start)
    statuses = sum((rep.statuses for rep in reps), Counter())
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads), "requests did not finish"
    assert not [code for code in statuses if code >= 500], (statuses, log[-3000:])
    assert set(statuses) <= {200, 302, 409}, statuses
    for text in ("database is locked", "LockError", "Traceback"):
        assert text not in log, log[-3000:]

    created = {entry_id: marker for rep in reps for entry_id, marker in rep.created.items()}
    assert len(created) == REPS * ENTRIES_PER_REP
    revisions, answers, waiting = stored(Path(server.env["KB_DATA_DIR"]))
    assert revisions.keys() == {*created, shared}
    saves = Counter(entry_id for rep in reps for entry_id, _ in rep.saved_answers)
    for entry_id in created:
        assert revisions[entry_id] == saves[entry_id] == 2  # created, then edited once
    assert revisions[shared] == 1 + saves[shared]  # every edit that was not a conflict
    assert {pair for rep in reps for pair in rep.saved_answers} <= answers
    assert waiting == 0  # every save's indexing landed

    for entry_id, marker in created.items():
        status, body = first.browser.json(server.base, f"/api/v1/search?q={quote(marker)}")
        assert status == 200
        assert [r["id"] for r in body["results"]] == [entry_id], (marker, body)
        assert body["incomplete"] is False
        assert "unplug" in body["results"][0]["snippet"]  # the edited answer is indexed


def test_make_serve_runs_gunicorn_with_whitenoise_on_port(server):
    """``make serve`` starts what the fixture starts: gunicorn with config/gunicorn.py on
    $PORT, and whitenoise serves the hashed static files (DEBUG=0)."""
    plan = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "serve", "PORT=8123"],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "gunicorn -c config/gunicorn.py config.wsgi" in plan
    assert "PORT=8123" in plan
    assert "collectstatic" in plan

    status, _, page = Browser().request(server.base, "/accounts/login/")
    css = re.search(r'href="(/static/css/[^"]+)"', page)
    status, headers, _ = Browser().request(server.base, css[1])
    assert css[1] != "/static/css/floorbook.css"  # the hashed name
    assert status == 200
    assert "max-age" in headers.get("Cache-Control", "")


def test_index_deleted_under_the_running_server_keeps_search_up_and_repairs(server):
    """The index folder vanishes while 4 workers have it open: every search still
    answers (from the database, saying so), a save made meanwhile lands, and a worker
    rebuilds the index in the background until searches are complete again."""
    log_start = server.log_path.stat().st_size
    rep = Rep(server.base, 1)
    rep.create(100)
    [(before, marker)] = rep.created.items()
    shutil.rmtree(Path(server.env["KB_DATA_DIR"]) / "index")

    answers = [rep.browser.json(server.base, f"/api/v1/search?q={marker}") for _ in range(8)]
    rep.create(101)
    during = next(pk for pk in rep.created if pk != before)
    # The repair runs in the background, and a save that landed while the index was
    # gone may be caught up by the worker that saved it or, 15 to 45 s later, by any:
    # wait for both, up to a bound.
    deadline = time.monotonic() + 75
    while True:
        status, body = rep.browser.json(server.base, f"/api/v1/search?q={rep.tag}e101")
        answers.append((status, body))
        ids = [r["id"] for r in body.get("results", [])]
        if (ids == [during] and not body["incomplete"]) or time.monotonic() > deadline:
            break
        time.sleep(0.5)

    assert {status for status, _ in answers} == {200}
    assert all(before in [r["id"] for r in body["results"]] for _, body in answers[:8])
    assert answers[0][1]["incomplete"] is True
    assert rep.statuses == Counter({302: 2})
    assert body["incomplete"] is False, "the index was not repaired"
    assert [r["id"] for r in body["results"]] == [during]
    status, body = rep.browser.json(server.base, f"/api/v1/search?q={marker}")
    assert ([r["id"] for r in body["results"]], body["incomplete"]) == ([before], False)
    log = log_since(server, log_start)
    assert "Search index rebuilt from the database" in log
    # Logged once per worker that met it (at most twice: the folder gone, then empty
    # while another worker rebuilds it), not once per search.
    faults = log.count("Search index unreadable") + log.count("Search index is empty")
    assert 1 <= faults <= 2 * WORKERS < len(answers)
