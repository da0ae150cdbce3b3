"""A gunicorn app server started exactly as ``make serve`` starts it, on a free port.

Used by ``scaletest`` and ``loadtest``: ``config/gunicorn.py``, the environment given
(DEBUG=0, the site's data folder), its own process group so that stopping it stops
every worker, and its log in a file to show when something goes wrong.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings

_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy


class Failed(Exception):
    pass


def check(condition: bool, what: str) -> None:
    if not condition:
        raise Failed(what)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, name: str, env: dict, data_dir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "KB_DATA_DIR": str(data_dir), "PORT": str(self.port)}
        self.env.pop("HOST", None)  # always loopback
        self.log_path = data_dir / "gunicorn.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        config = settings.BASE_DIR / "config" / "gunicorn.py"
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(config), "config.wsgi"],
            cwd=settings.BASE_DIR,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Failed(f"server {self.name} exited:\n{self.log_tail()}")
            try:
                with _direct.open(self.base + "/accounts/login/", timeout=2):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        raise Failed(f"server {self.name} did not answer in time:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.process:
            self.log.close()

    def log_tail(self, lines: int = 30) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text().splitlines()[-lines:])
