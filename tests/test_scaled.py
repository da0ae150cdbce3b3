"""The scaled-out shape: two gunicorn app servers on one PostgreSQL database.

Runs ``manage.py scaletest`` (also ``make scaletest``): it creates its own throwaway
database on the PostgreSQL server the suite runs on, starts the servers, checks them over
HTTP and drops the database.
"""

from __future__ import annotations

import subprocess
import sys
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="several app servers need PostgreSQL: run make test-postgres or make scaletest",
)


def server_url() -> str:
    """The PostgreSQL server the suite runs on, by way of the test database (which exists
    now, whereas the database named in DATABASE_URL need not)."""
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else ""
    user = f"{quote(db['USER'], safe='')}{password}@" if db["USER"] else ""
    return f"postgres://{user}{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def test_two_app_servers_share_entries_reuses_and_sessions(db):
    result = subprocess.run(
        [
            sys.executable,
            str(settings.BASE_DIR / "manage.py"),
            "scaletest",
            "--postgres",
            server_url(),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    assert "found by the first search on B" in result.stdout
    assert "both servers show 5" in result.stdout
