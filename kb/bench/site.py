"""A fresh Floorbook site in a temporary data dir, driven through manage.py subprocesses.

Settings are read from the environment once per process, so each measurement runs in a
child process whose ``KB_DATA_DIR`` points at the temporary folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings

MANAGE = str(settings.BASE_DIR / "manage.py")


class FreshSite:
    def __init__(self, *, keep_database_url: bool = False) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="floorbook-bench-")
        self.data_dir = Path(self._tmp.name)
        self.env = {**os.environ, "KB_DATA_DIR": str(self.data_dir), "DEBUG": "0"}
        if not keep_database_url:
            self.env.pop("DATABASE_URL", None)

    def __enter__(self) -> FreshSite:
        self.manage("migrate", "--noinput", "-v0")
        return self

    def __exit__(self, *exc) -> None:
        self._tmp.cleanup()

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
