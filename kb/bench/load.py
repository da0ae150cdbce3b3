"""Virtual reps for ``loadtest``: a busy floor's traffic over real HTTP, with asyncio.

Each virtual rep has its own connection pool and the session cookies of a logged-in demo
rep, and works through a shuffled deck of actions drawn from the mix (so the mix holds
exactly over every deck, and a run is repeatable for a seed):

- ``search``: type a query a few characters at a time, pausing like a person; each pause
  sends the htmx partial request (``HX-Request: true``) as the search box does;
- ``view``: open an entry from the last results (or any entry);
- ``reuse``: "Used on this call" on a result, with a case reference of its own;
- ``create``: open the new-entry form, then post an entry carrying a unique marker word;
- ``edit``: open an entry's edit form and post it back with the marker added to the
  answer, carrying the form's ``version`` (a 409 means someone saved first: a conflict
  shown to the rep, counted as such, not as an error).

Every write that the server accepted is recorded, so the command can check afterwards
that it was stored and is searchable.
"""

from __future__ import annotations

import asyncio
import random
import re
import secrets
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser

import httpx

KINDS = ("search", "view", "form", "reuse", "write")
ACTIONS = ("search", "view", "reuse", "create", "edit")
FLOOR_MIX = {"search": 16, "view": 2, "reuse": 1, "create": 1, "edit": 1}  # 80/10/5/2.5/2.5
REQUEST_TIMEOUT = 20.0
_ENTRY_LINK = re.compile(r'href="/entries/(\d+)/')
_ENTRY_URL = re.compile(r"/entries/(\d+)/$")
_CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def parse_mix(text: str) -> dict[str, int]:
    """``search=16,view=2,...`` as whole-number weights per action."""
    mix = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        name = name.strip()
        if name not in ACTIONS or not weight.strip().isdigit():
            raise ValueError(f"{part!r}: give action=weight with actions {', '.join(ACTIONS)}")
        mix[name] = int(weight)
    if not any(mix.values()):
        raise ValueError("the mix needs at least one action with a weight")
    return mix


@dataclass
class Writes:
    """What the server accepted, to check afterwards."""

    created: list[dict] = field(default_factory=list)  # id, question, answer, marker
    edits: list[dict] = field(default_factory=list)  # id, revision, marker
    reuses: list[dict] = field(default_factory=list)  # id, case

    def as_dict(self) -> dict:
        return {"created": self.created, "edits": self.edits, "reuses": self.reuses}


@dataclass
class Tally:
    """One concurrency step's requests: latencies (ms) and errors per kind."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    conflicts: int = 0
    actions: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACTIONS, 0))
    examples: list[str] = field(default_factory=list)  # the first few errors, to show

    def error(self, kind: str, what: str) -> None:
        self.errors[kind] += 1
        if len(self.examples) < 5:
            self.examples.append(f"{kind}: {what}")

    @property
    def requests(self) -> int:
        return sum(len(values) for values in self.latencies.values())


class FormFields(HTMLParser):
    """The named fields of the first ``<form>`` holding a ``name`` input: what a browser
    would post back (text and hidden inputs, textareas, ticked boxes)."""

    def __init__(self, html: str, field_name: str) -> None:
        super().__init__(convert_charrefs=True)
        self.values: dict[str, str] = {}
        self._want, self._in_form, self._done, self._textarea = field_name, False, False, None
        self._form: dict[str, str] = {}
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self._done:
            return
        if tag == "form":
            self._in_form, self._form = True, {}
        elif self._in_form and tag == "input" and attrs.get("name"):
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            if kind not in ("submit", "button"):
                self._form[attrs["name"]] = attrs.get("value") or ""
        elif self._in_form and tag == "textarea" and attrs.get("name"):
            self._textarea = attrs["name"]
            self._form[self._textarea] = ""

    def handle_data(self, data):
        if self._textarea:
            self._form[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "textarea" and self._textarea:
            # Browsers drop the newline right after <textarea>.
            self._form[self._textarea] = self._form[self._textarea].removeprefix("\n")
            self._textarea = None
        elif tag == "form" and self._in_form:
            self._in_form = False
            if self._want in self._form:
                self.values, self._done = self._form, True


class Floor:
    """What every virtual rep shares: the server, the words reps type, the entries."""

    def __init__(
        self,
        *,
        base: str,
        queries: list[str],
        entry_ids: list[int],
        pace: float,
        seed: int,
    ) -> None:
        self.base = base
        self.queries = queries
        self.entry_ids = entry_ids
        self.pace = pace  # 1.0: a person's pauses; smaller is faster
        self.seed = seed
        self.writes = Writes()
        self.tally = Tally()

    def marker(self) -> str:
        """A word no entry has: ``zqlt`` and hex letters and digits."""
        return f"zqlt{secrets.token_hex(4)}"


class VirtualRep:
    def __init__(self, floor: Floor, number: int, cookies: httpx.Cookies, mix: dict) -> None:
        self.floor = floor
        self.number = number
        self.rng = random.Random(floor.seed * 1000 + number)
        self.client = httpx.AsyncClient(
            base_url=floor.base,
            cookies=cookies,
            timeout=REQUEST_TIMEOUT,
            follow_redirects=False,
            trust_env=False,  # straight to 127.0.0.1, never through a proxy
        )
        self.deck = [name for name, weight in mix.items() for _ in range(weight)]
        self.hand: list[str] = []
        self.last_results: list[int] = []
        self.last_query = ""
        self.deadline, self.min_actions, self.done_here = 0.0, 0, 0

    async def close(self) -> None:
        await self.client.aclose()

    async def work_until(self, deadline: float, *, min_actions: int = 0) -> None:
        """Act until the deadline (and at least ``min_actions`` actions this step)."""
        self.deadline, self.min_actions, self.done_here = deadline, min_actions, 0
        while not self.time_is_up():
            if not self.hand:
                self.hand = self.rng.sample(self.deck, len(self.deck))
            action = self.hand.pop()
            self.floor.tally.actions[action] += 1
            await getattr(self, action)()
            self.done_here += 1
            await self.pause(0.3, 1.2)

    def time_is_up(self) -> bool:
        return time.monotonic() >= self.deadline and self.done_here >= self.min_actions

    async def pause(self, low: float, high: float) -> None:
        if self.floor.pace > 0:
            await asyncio.sleep(self.rng.uniform(low, high) * self.floor.pace)

    async def request(
        self, kind: str, method: str, url: str, *, ok: tuple[int, ...] = (200,), **kwargs
    ) -> httpx.Response | None:
        """One timed request; None (and an error counted) unless the status is in ``ok``."""
        started = time.perf_counter()
        try:
            response = await self.client.request(method, url, **kwargs)
        except httpx.TimeoutException:
            self.floor.tally.latencies[kind].append((time.perf_counter() - started) * 1000)
            self.floor.tally.error(kind, f"{method} {url[:60]}: timed out")
            return None
        except httpx.HTTPError as error:
            self.floor.tally.latencies[kind].append((time.perf_counter() - started) * 1000)
            self.floor.tally.error(kind, f"{method} {url[:60]}: {type(error).__name__}")
            return None
        self.floor.tally.latencies[kind].append((time.perf_counter() - started) * 1000)
        if response.status_code not in ok:
            self.floor.tally.error(kind, f"{method} {url[:60]}: {response.status_code}")
            return None
        if response.status_code == 409:
            self.floor.tally.conflicts += 1
        return response

    def post_headers(self, htmx: bool = False) -> dict:
        headers = {"X-CSRFToken": self.client.cookies.get("csrftoken", "")}
        if htmx:
            headers["HX-Request"] = "true"
        return headers

    async def search(self) -> None:
        """Type a query in bursts of 1 to 4 characters; the box asks after each pause.

        A rep types the few words that matter, so a long customer message is cut to its
        first six words; a step's end stops the typing."""
        query = " ".join(self.rng.choice(self.floor.queries).split()[:6])
        typed = 0
        while typed < len(query) and not self.time_is_up():
            typed = min(len(query), typed + self.rng.randint(1, 4))
            await self.pause(0.15, 0.5)
            prefix = query[:typed]
            if len(prefix.strip()) < 2:
                continue
            response = await self.request(
                "search", "GET", "/search/", params={"q": prefix}, headers={"HX-Request": "true"}
            )
            if response is not None:
                self.last_results = [int(pk) for pk in _ENTRY_LINK.findall(response.text)]
        self.last_query = query

    def pick_entry(self) -> int:
        return self.rng.choice(self.last_results or self.floor.entry_ids)

    async def view(self) -> None:
        await self.request("view", "GET", f"/entries/{self.pick_entry()}/", ok=(200,))

    async def reuse(self) -> None:
        entry_id = self.pick_entry()
        case = f"LT-{self.number}-{secrets.token_hex(4)}"
        response = await self.request(
            "reuse",
            "POST",
            f"/entries/{entry_id}/reuse/",
            data={"case": case, "q": self.last_query},
            headers=self.post_headers(htmx=True),
            ok=(200,),
        )
        if response is not None:
            self.floor.writes.reuses.append({"id": entry_id, "case": case})

    async def create(self) -> None:
        if await self.request("form", "GET", "/entries/new/", ok=(200,)) is None:
            return
        marker = self.floor.marker()
        words = self.rng.choice(self.floor.queries).rstrip("?.! ")
        question = f"{words} on the {marker} plan?"[:250]
        answer = f"Check the {marker} plan first.\n\n1. Open the account.\n2. Confirm the plan."
        response = await self.request(
            "write",
            "POST",
            "/entries/new/",
            data={"question": question, "answer": answer, "tags": "loadtest"},
            headers=self.post_headers(),
            ok=(302,),
        )
        if response is None:
            return
        found = _ENTRY_URL.search(response.headers.get("location", ""))
        if not found:
            self.floor.tally.error("write", f"create: redirected to {response.headers}")
            return
        self.floor.writes.created.append(
            {"id": int(found[1]), "question": question, "answer": answer, "marker": marker}
        )

    async def edit(self) -> None:
        entry_id = self.rng.choice(self.floor.entry_ids)
        page = await self.request("form", "GET", f"/entries/{entry_id}/edit/", ok=(200,))
        if page is None:
            return
        fields = FormFields(page.text, "version").values
        if not fields.get("version", "").isdigit() or "answer" not in fields:
            self.floor.tally.error("form", f"edit form of #{entry_id} has no version field")
            return
        marker = self.floor.marker()
        fields["answer"] = f"{fields['answer'].rstrip()}\n\nAlso on the {marker} plan."
        fields["summary"] = "Load test edit"
        await self.pause(0.5, 1.5)  # reading the form
        response = await self.request(
            "write",
            "POST",
            f"/entries/{entry_id}/edit/",
            data=fields,
            headers=self.post_headers(),
            ok=(302, 409),
        )
        if response is not None and response.status_code == 302:
            revision = int(fields["version"]) + 1
            self.floor.writes.edits.append({"id": entry_id, "revision": revision, "marker": marker})


async def log_in(base: str, username: str, password: str) -> httpx.Cookies:
    """A demo rep's session cookies, logged in through the login form."""
    async with httpx.AsyncClient(base_url=base, timeout=30, trust_env=False) as client:
        page = await client.get("/accounts/login/")
        token = _CSRF_FIELD.search(page.text)
        if page.status_code != 200 or not token:
            raise RuntimeError(f"login page: {page.status_code}")
        response = await client.post(
            "/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": token[1]},
        )
        if response.status_code != 302 or "sessionid" not in client.cookies:
            raise RuntimeError(f"logging in as {username}: {response.status_code}")
        return httpx.Cookies(client.cookies)


async def run_step(
    floor: Floor,
    sessions: list[httpx.Cookies],
    *,
    reps: int,
    seconds: float,
    mix: dict,
    min_actions: int = 0,
) -> tuple[Tally, float]:
    """``reps`` virtual reps for ``seconds``: the step's tally and its elapsed time."""
    floor.tally = Tally()
    crowd = [
        VirtualRep(floor, number, httpx.Cookies(sessions[number % len(sessions)]), mix)
        for number in range(reps)
    ]
    started = time.monotonic()
    try:
        await asyncio.gather(
            *(rep.work_until(started + seconds, min_actions=min_actions) for rep in crowd)
        )
    finally:
        await asyncio.gather(*(rep.close() for rep in crowd))
    return floor.tally, time.monotonic() - started


async def unsearchable(base: str, cookies: httpx.Cookies, writes: Writes) -> list[str]:
    """Each written marker searched for through the JSON API; what was not found."""
    wanted = [(w["marker"], w["id"]) for w in writes.created + writes.edits]
    missing: list[str] = []
    limit = asyncio.Semaphore(4)
    async with httpx.AsyncClient(
        base_url=base, cookies=cookies, timeout=REQUEST_TIMEOUT, trust_env=False
    ) as client:

        async def find(marker: str, entry_id: int) -> None:
            async with limit:
                try:
                    response = await client.get(
                        "/api/v1/search", params={"q": marker, "exact": "1", "limit": "100"}
                    )
                except httpx.HTTPError as error:
                    missing.append(f"searching {marker}: {type(error).__name__}")
                    return
            ok = response.status_code == 200
            ids = [r["id"] for r in response.json()["results"]] if ok else []
            if entry_id not in ids:
                missing.append(f"entry #{entry_id} not found by searching {marker}")

        await asyncio.gather(*(find(marker, entry_id) for marker, entry_id in wanted))
    return missing
