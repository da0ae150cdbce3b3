from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

from kb.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    return render_markdown(text)


CHART_WIDTH, CHART_HEIGHT, CHART_GAP = 320, 80, 2


@register.inclusion_tag("kb/_bar_chart.html")
def bar_chart(series, *, label: str, unit: str = "") -> dict:
    """A small bar chart as inline SVG, drawn on the server (no scripts, works offline).

    ``series`` is a list of ``(start_date, value)`` pairs, oldest first, one per bar; the
    same figures are given as a table for screen readers.
    """
    points = list(series)
    # A week may have no figure at all (a rate with nothing to divide): no bar, "no data".
    highest = max((value for _, value in points if value is not None), default=None)
    top = highest or 1  # the scale; all bars empty when nothing happened
    width = CHART_WIDTH / max(len(points), 1)
    bars = []
    for index, (start, value) in enumerate(points):
        height = round(value / top * (CHART_HEIGHT - 14), 1) if value else 0
        bars.append(
            {
                "x": round(index * width + CHART_GAP / 2, 1),
                "y": round(CHART_HEIGHT - height, 1),
                "width": round(max(width - CHART_GAP, 1), 1),
                "height": height,
                "start": start,
                "value": value,
            }
        )
    return {
        "bars": bars,
        "label": label,
        "unit": unit,
        "highest": highest,
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
    }


@register.filter(name="name")
def display_name(person) -> str:
    """How a person is shown on every page: their full name, else their username."""
    if not person:
        return ""
    return person.get_full_name() or person.get_username()


@register.filter
def ago(moment: datetime | None) -> str:
    """ "3 hours ago"; "just now" in the first minute, where ``timesince`` says
    "0 minutes"."""
    if moment is None:
        return ""
    if timezone.now() - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment)} ago"
