"""What people type, cleaned of characters that are never meant to be there.

C0 and C1 control characters (NUL, escape, bell, ...; tab, newline and carriage return
excepted) are invisible on a page, turn up by pasting from terminals and old systems,
and PostgreSQL refuses NUL in text outright. Writes drop them, so a paste is stored as
it reads on screen instead of failing on one database and not the other.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def without_control_characters(text: str) -> str:
    return _CONTROL.sub("", text)
