"""A progress bar for long commands: redrawn in place on a terminal, a line every 10% in logs."""

from __future__ import annotations

import time


class Progress:
    def __init__(self, stdout, total: int, label: str, *, width: int = 30) -> None:
        self.stdout = stdout
        self.total = max(total, 1)
        self.label = label
        self.width = width
        self.interactive = getattr(stdout, "isatty", lambda: False)()
        self.started = time.monotonic()
        self._last_decile = -1
        self._last_draw = 0.0

    def __call__(self, done: int) -> None:
        fraction = min(done / self.total, 1.0)
        if self.interactive:
            now = time.monotonic()
            if now - self._last_draw < 0.1 and done < self.total:
                return
            self._last_draw = now
            filled = int(fraction * self.width)
            bar = "#" * filled + "." * (self.width - filled)
            self.stdout.write(
                f"\r{self.label} [{bar}] {fraction:4.0%} {done:,}/{self.total:,}", ending=""
            )
            self.stdout.flush()
        elif (decile := int(fraction * 10)) > self._last_decile:
            self._last_decile = decile
            self.stdout.write(f"{self.label}: {fraction:.0%} ({done:,}/{self.total:,})")

    def finish(self) -> float:
        if self.interactive:
            self.stdout.write("")
        return time.monotonic() - self.started
