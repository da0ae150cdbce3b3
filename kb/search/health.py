"""What this process knows about the search index's health, and the log lines it writes.

A broken index must not flood the log with one error per request: each fault is logged
once, when it is first seen, and once more when it clears ("works again"). Repairs (a
rebuild from the database) and catching up the backlog run in one background thread
at a time per process, so the request that found the fault is answered at once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.db import connection

logger = logging.getLogger("kb.search")

# Tests set this False: the work then runs at once, in the caller's thread (and its
# database transaction).
BACKGROUND = True

_lock = threading.Lock()
_faults: dict[str, str] = {}  # kind ("search", "write", "repair") -> what was logged
_worker: threading.Thread | None = None
_worker_repairs = False


def fault(kind: str, message: str, *args, exc_info: bool = False) -> None:
    """Log ``message`` unless a fault of this kind is already logged and not cleared."""
    with _lock:
        if kind in _faults:
            return
        _faults[kind] = message % args if args else message
    logger.error(message, *args, exc_info=exc_info)


def recovered(kind: str, message: str) -> None:
    """The fault of this kind, if one was logged, is over: say so once."""
    with _lock:
        if _faults.pop(kind, None) is None:
            return
    logger.warning(message)


def has_fault(kind: str) -> bool:
    return kind in _faults


def busy() -> bool:
    return _worker is not None and _worker.is_alive()


def repairing() -> bool:
    return busy() and _worker_repairs


def in_background(work: Callable[[], None], *, repair: bool = False) -> bool:
    """Run ``work`` in a background thread unless one is already running here.

    Returns whether it was started. The thread closes its database connection when done.
    """
    global _worker, _worker_repairs
    if not BACKGROUND:
        work()
        return True
    with _lock:
        if busy():
            return False

        def run() -> None:
            try:
                work()
            finally:
                connection.close()

        _worker = threading.Thread(target=run, name="kb-search-repair", daemon=True)
        _worker_repairs = repair
        _worker.start()
        return True


def wait(timeout: float | None = None) -> None:
    """Block until the background work running now, if any, finishes (commands, tests)."""
    thread = _worker
    if thread is not None:
        thread.join(timeout)


def forget() -> None:
    """Forget logged faults (tests, after the backend was reset)."""
    wait()
    with _lock:
        _faults.clear()
