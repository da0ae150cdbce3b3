"""Two app servers, one database: the scaled-out shape checked end to end over HTTP.

Creates a throwaway PostgreSQL database, starts two gunicorn servers exactly as
``make serve`` does (``config/gunicorn.py``, DEBUG=0, whitenoise) on two free ports, each
with its own data folder, the PostgreSQL search backend and, when Redis answers, the
shared Redis cache. Then, through real HTTP with CSRF tokens and session cookies: an
entry written through server A is found by search through server B at once; reuses
recorded through both are all counted on both; A's session cookie works on B (no sticky
sessions); with Redis, a synonym saved through A applies to searches on B at once.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from http.cookies import SimpleCookie

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from kb.bench.server import Failed, Server, check
from kb.bench.site import FreshSite

MANAGE = settings.BASE_DIR / "manage.py"
PASSWORD = "scaletest-password-1"
CREATE_USERS = f"""
from django.contrib.auth.models import Group, User
for name, group in (("scale-rep", "Reps"), ("scale-supervisor", "Supervisors")):
    User.objects.create_user(name, password={PASSWORD!r}).groups.add(Group.objects.get(name=group))
"""


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """A minimal HTTP client that keeps its own cookies, whichever server it talks to."""

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect)  # direct

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def request(self, base: str, path: str, data: dict | None = None) -> tuple[int, dict, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(base + path, data=body)
        if self.cookies:
            request.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if body is not None:
            request.add_header("X-CSRFToken", self.cookies.get("csrftoken", ""))
            request.add_header("Referer", base + path)
        try:
            response = self.opener.open(request, timeout=20)
        except urllib.error.HTTPError as error:
            response = error
        with response:
            for header in response.headers.get_all("Set-Cookie") or []:
                for name, morsel in SimpleCookie(header).items():
                    self.cookies[name] = morsel.value
            return response.status, dict(response.headers), response.read().decode()

    def json(self, base: str, path: str, data: dict | None = None) -> tuple[int, dict]:
        status, _, text = self.request(base, path, data)
        try:
            return status, json.loads(text)
        except ValueError:
            return status, {"error": text[:200]}

    def log_in(self, base: str, username: str) -> str:
        status, _, page = self.request(base, "/accounts/login/")
        check(status == 200, f"login page on {base}: {status}")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        check(token is not None, "login page has a CSRF token")
        form = {"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token[1]}
        status, _, _ = self.request(base, "/accounts/login/", form)
        check(status == 302 and "sessionid" in self.cookies, f"log in on {base}: {status}")
        return page


def redis_answers(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


def forget_keys(url: str, prefix: str) -> None:
    """Delete the run's cache keys (they would expire anyway)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=2)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
    except redis.exceptions.RedisError:
        pass


class Command(BaseCommand):
    help = "Start two gunicorn app servers on one throwaway PostgreSQL database and check them."

    def add_arguments(self, parser):
        parser.add_argument(
            "--postgres",
            default=os.environ.get(
                "SCALETEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"
            ),
            help="PostgreSQL server URL; a throwaway database is created there and dropped.",
        )
        parser.add_argument(
            "--redis",
            default=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
            help="Redis URL for the shared cache, used when it answers.",
        )
        parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per server")

    def handle(self, *args, postgres: str, redis: str, workers: int, **options):
        started = time.monotonic()
        use_redis = redis_answers(redis)
        report: list[str] = []
        with FreshSite(postgres=postgres) as site:
            site.manage("shell", "-c", CREATE_USERS)
            env = {
                **site.env,
                "DEBUG": "0",
                "KB_HTTPS": "0",  # production mode over plain http on loopback
                "SECRET_KEY": secrets.token_urlsafe(50),  # the same on every app server
                "WEB_CONCURRENCY": str(workers),
                "CACHE_KEY_PREFIX": f"floorbook-scaletest-{secrets.token_hex(4)}",
            }
            env.pop("REDIS_URL", None)
            if use_redis:
                env["REDIS_URL"] = redis
            second_dir = site.data_dir / "server-b"  # its own data folder, no shared disk
            second_dir.mkdir()
            servers = [Server("A", env, site.data_dir), Server("B", env, second_dir)]
            try:
                subprocess.run(
                    [sys.executable, str(MANAGE), "collectstatic", "--noinput", "-v0"],
                    env=servers[1].env,
                    check=True,
                )
                for server in servers:
                    server.start()
                deadline = time.monotonic() + 30
                for server in servers:
                    server.wait_ready(deadline)
                report.append(
                    f"servers: A {servers[0].base}, B {servers[1].base}, {workers} workers each,"
                    f" database {site.database}, cache "
                    + (f"Redis {redis}" if use_redis else "local memory (no Redis answered)")
                )
                self.exercise(*servers, use_redis=use_redis, report=report)
            except Failed as failure:
                for line in report:
                    self.stdout.write(line)
                for server in servers:
                    if server.process:
                        self.stderr.write(f"--- server {server.name} log:\n{server.log_tail()}")
                raise CommandError(f"scaletest failed: {failure}") from None
            finally:
                for server in servers:
                    server.stop()
                if use_redis:
                    forget_keys(redis, env["CACHE_KEY_PREFIX"])
        report.append(f"ok in {time.monotonic() - started:.1f} s (database dropped)")
        for line in report:
            self.stdout.write(line)

    def exercise(self, a: Server, b: Server, *, use_redis: bool, report: list[str]) -> None:
        rep_a, rep_b = Browser(), Browser()
        login_page = rep_a.log_in(a.base, "scale-rep")
        rep_b.log_in(b.base, "scale-rep")
        css = re.search(r'href="(/static/css/[^"]+)"', login_page)
        check(css is not None and css[1] != "/static/css/floorbook.css", "hashed static names")
        status, headers, _ = Browser().request(b.base, css[1])
        check(status == 200 and "max-age" in headers.get("Cache-Control", ""), "static file")
        report.append(f"static: {css[1]} served by whitenoise on B ({status})")

        marker = f"zqx{secrets.token_hex(3)}"
        question = f"How do I pair the {marker} headset with the softphone?"
        written = time.perf_counter()
        status, headers, _ = rep_a.request(
            a.base,
            "/entries/new/",
            {
                "question": question,
                "answer": "Hold the call button for five seconds, then pick it in Settings.",
                "tags": "headsets",
                "csrfmiddlewaretoken": rep_a.cookies["csrftoken"],
            },
        )
        found = re.search(r"/entries/(\d+)/", headers.get("Location", ""))
        check(status == 302 and found is not None, f"write an entry on A: {status}")
        entry_id = int(found[1])
        status, body = rep_b.json(b.base, f"/api/v1/search?q={marker}")
        seen_ms = (time.perf_counter() - written) * 1000
        ids = [result["id"] for result in body.get("results", [])]
        check(status == 200 and entry_id in ids, f"entry #{entry_id} found on B: {status} {body}")
        report.append(
            f"write on A, search on B: entry #{entry_id} found by the first search on B"
            f" (save and search: {seen_ms:.0f} ms)"
        )

        reuse = f"/api/v1/entries/{entry_id}/reuse"
        calls = [
            (rep_a, a, "CASE-A1", 201),
            (rep_b, b, "CASE-B1", 201),
            (rep_a, a, "CASE-A2", 201),
            (rep_b, b, "CASE-B2", 201),
            (rep_a, b, "CASE-A3", 201),  # A's session cookie, sent to B
            (rep_b, a, "CASE-A1", 200),  # the same case again, on the other server
        ]
        for browser, server, case, expected in calls:
            status, body = browser.json(server.base, reuse, {"case": case})
            check(status == expected, f"reuse {case} on {server.name}: {status} {body}")
        counted = sum(1 for *_, expected in calls if expected == 201)
        for browser, server in ((rep_a, b), (rep_b, a)):
            status, body = browser.json(server.base, f"/api/v1/entries/{entry_id}")
            count = body.get("reuse", {}).get("count")
            check(status == 200 and count == counted, f"reuse count on {server.name}: {body}")
        report.append(
            f"reuses: {len(calls)} posted through A and B, {counted} counted, the repeated"
            f" case not; both servers show {counted}"
        )
        report.append("sessions: A's session cookie and CSRF token accepted by B (no stickiness)")

        if not use_redis:
            report.append("synonyms across servers: skipped (needs Redis)")
            return
        supervisor = Browser()
        supervisor.log_in(a.base, "scale-supervisor")
        word = f"zqy{secrets.token_hex(3)}"
        status, body = rep_b.json(b.base, f"/api/v1/search?q={word}&exact=1")
        check(status == 200 and body["total"] == 0, f"{word} finds nothing before: {body}")
        status, _, _ = supervisor.request(
            a.base,
            "/review/synonyms/",
            {
                "synonyms": f"{marker}, {word}",
                "csrfmiddlewaretoken": supervisor.cookies["csrftoken"],
            },
        )
        check(status == 302, f"save synonyms on A: {status}")
        status, body = rep_b.json(b.base, f"/api/v1/search?q={word}&exact=1")
        ids = [result["id"] for result in body.get("results", [])]
        check(entry_id in ids, f"synonym saved on A applies on B at once: {body}")
        report.append("synonyms: saved on A, applied by B's next search (shared Redis cache)")
