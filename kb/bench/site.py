"""A fresh Floorbook site in a temporary data dir, driven through manage.py subprocesses.

Settings are read from the environment once per process, so each measurement runs in a
child process whose ``KB_DATA_DIR`` points at the temporary folder. With a PostgreSQL
server URL the site gets a throwaway database of its own there (and the PostgreSQL
search backend), dropped when the site is.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dj_database_url
import psycopg
from django.conf import settings

MANAGE = str(settings.BASE_DIR / "manage.py")


class FreshSite:
    def __init__(self, *, keep_database_url: bool = False, postgres: str | None = None) -> None:
        """``postgres``: a PostgreSQL server URL to create the site's database on."""
        self._tmp = tempfile.TemporaryDirectory(prefix="floorbook-bench-")
        self.data_dir = Path(self._tmp.name)
        # Production mode, talked to over plain http on this machine.
        self.env = {
            **os.environ,
            "KB_DATA_DIR": str(self.data_dir),
            "DEBUG": "0",
            "KB_HTTPS": "0",
        }
        self.server = postgres
        self.database = f"floorbook_bench_{secrets.token_hex(4)}" if postgres else None
        if postgres:
            database_url = postgres.rsplit("/", 1)[0] + "/" + self.database
            self.env.update(DATABASE_URL=database_url, KB_SEARCH_BACKEND="postgres")
        elif not keep_database_url:
            self.env.pop("DATABASE_URL", None)

    def __enter__(self) -> FreshSite:
        if self.database:
            self._server_command(f'CREATE DATABASE "{self.database}"')
        self.manage("migrate", "--noinput", "-v0")
        # DEBUG=0 pages link the collected (hashed) static files.
        self.manage("collectstatic", "--noinput", "-v0")
        return self

    def __exit__(self, *exc) -> None:
        self._tmp.cleanup()
        if self.database:
            self._server_command(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def _server_command(self, sql: str) -> None:
        with psycopg.connect(_conninfo(self.server), autocommit=True) as connection:
            connection.execute(sql)

    def index_size(self) -> int:
        """Bytes of the search index: the Whoosh folder, or the PostgreSQL backend's
        tables with their indexes."""
        if not self.database:
            return self.folder_size("index")
        with psycopg.connect(_conninfo(self.env["DATABASE_URL"])) as connection:
            row = connection.execute(
                "SELECT pg_total_relation_size('kb_searchdocument')"
                " + pg_total_relation_size('kb_searchword')"
            ).fetchone()
        return row[0]

    def manage(self, *arguments: str) -> str:
        result = subprocess.run(
            [sys.executable, MANAGE, *arguments], env=self.env, capture_output=True, text=True
        )
        if result.returncode:
            sys.stderr.write(result.stdout + result.stderr)
            raise SystemExit(f"{' '.join(arguments[:2])} failed in the temporary site")
        return result.stdout

    def timed_import(self, path: Path) -> float:
        started = time.perf_counter()
        self.manage("import_entries", str(path))
        return time.perf_counter() - started

    def measure(self, *arguments: str) -> dict:
        """Run a command that prints its figures as JSON on its last line."""
        return json.loads(self.manage(*arguments).strip().splitlines()[-1])

    def folder_size(self, name: str) -> int:
        folder = self.data_dir / name
        return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def _conninfo(url: str) -> str:
    """A database URL as psycopg connection parameters."""
    config = dj_database_url.parse(url)
    parts = {
        "host": config.get("HOST"),
        "port": config.get("PORT"),
        "user": config.get("USER"),
        "password": config.get("PASSWORD"),
        "dbname": config.get("NAME"),
    }
    return psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in parts.items() if v})
