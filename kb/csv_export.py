"""CSV downloads that are safe to open in a spreadsheet.

A cell a spreadsheet would read as a formula (``=HYPERLINK(...)``, ``+1``, ``@SUM``) is
prefixed with a single quote, so text the floor typed (a search, a question) can never
run as a formula on a supervisor's machine (OWASP "CSV injection").
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import date, datetime

from django.http import HttpResponse
from django.utils import timezone

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def guard(value: object) -> str | int | float:
    """One cell: numbers as they are, dates in ISO 8601, text guarded against formulas."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_response(filename: str, header: list[str], rows: Iterable[Iterable]) -> HttpResponse:
    """A CSV attachment named ``filename`` with ``header`` and guarded ``rows``, written
    to a buffer first: a write per row to the response encodes each row on its own."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([guard(value) for value in row] for row in rows)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
