"""The KCS measures page: participation, reuse, links, known vs new, speed, activity."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from kb import reports
from kb.forms import MeasuresForm
from kb.models import Team
from kb.permissions import supervisor_required

NO_FIGURE = "—"

# How each figure is counted, shown next to it ("How is this counted?").
DEFINITIONS = {
    "participation": (
        "Active reps (in the Reps group, and in the team if one is chosen) who created an "
        "entry or improved one in the period, out of all active reps. Improving means saving "
        "a change to what an entry says (an edit or a restore); moving it between states, "
        "such as Published → Validated, does not count. The weekly chart shows the share of "
        "reps who contributed that week."
    ),
    "reuse_rate": (
        "Searches followed by “Used on this call” on one of their results, out of all "
        "searches run in the period."
    ),
    "link_rate": (
        "Reuses recorded with a case or call reference, out of all reuses recorded in the "
        "period. Linked reuses tie knowledge to real cases."
    ),
    "known": (
        "Known: every reuse in the period (an entry that already existed helped on a call). "
        "New: entries created in the period. The share is known ÷ (known + new): high means "
        "the floor mostly reuses what is written; low means it is capturing a lot that is new."
    ),
    "time_to_publish": (
        "Median time from an entry's creation to its first publication, over the entries "
        "first published in the period. Entries written straight as published count as "
        "zero; drafts count the time they waited. Weekly chart in hours."
    ),
    "time_to_answer": (
        "Median time from an open question being asked to being answered with an entry, "
        "over the questions answered in the period (questions the asker closed themselves "
        "are left out). With a team, the questions its members answered. Weekly chart in "
        "hours."
    ),
    "created": "New entries written in the period, in any state (drafts included).",
    "improved": (
        "Distinct entries that got at least one improving revision in the period (an edit "
        "or a restore; not a state change). An entry edited five times counts once."
    ),
    "flagged": (
        "Flags raised in the period (wrong, outdated, unclear, duplicate), whether they are "
        "still open, resolved or dismissed."
    ),
    "validated": (
        "Entries whose latest validation falls in the period. Only the last validation of "
        "an entry is kept, so an entry validated again later counts in the later period."
    ),
}


@dataclass(frozen=True)
class Measure:
    """One figure as the page shows it: the big number, what it is made of, how it is
    counted and its weekly chart."""

    key: str
    name: str
    value: str
    detail: str
    series: reports.Series
    unit: str = ""

    @property
    def definition(self) -> str:
        return DEFINITIONS[self.key]


@dataclass(frozen=True)
class TeamRow:
    name: str
    values: list[str]
    chosen: bool = False


COLUMNS = [
    ("participation", "Participation"),
    ("reuse_rate", "Reuse rate"),
    ("link_rate", "Link rate"),
    ("known", "Known share"),
    ("time_to_publish", "Time to publish"),
    ("time_to_answer", "Time to answer"),
    ("created", "Created"),
    ("improved", "Improved"),
    ("flagged", "Flagged"),
    ("validated", "Validated"),
]


@supervisor_required
@require_GET
def measures(request: HttpRequest) -> HttpResponse:
    """KCS measures for a period (default: the last 8 weeks) and the whole floor or a team."""
    teams = list(Team.objects.order_by("name"))
    form = MeasuresForm(request.GET, teams=teams, today=timezone.localdate())
    context = {"form": form, "teams": teams, "max_teams": reports.MAX_TEAMS_COMPARED}
    if not form.is_valid():
        context.update(
            errors=[error for errors in form.errors.values() for error in errors],
            since_value=request.GET.get("since", ""),
            until_value=request.GET.get("until", ""),
            chosen=request.GET.get("team", ""),
        )
        return render(request, "kb/review/measures.html", context, status=400)
    since, until = form.period()
    team = form.chosen_team()
    report = reports.measures_report(
        since=since, until=until, team=team, teams=teams, now=timezone.now()
    )
    result, comparison = report.measures, report.comparison
    context.update(
        counted_at=report.counted_at,
        recount_minutes=reports.MEASURES_CACHE_SECONDS // 60,
        chosen=str(team.pk) if team else "",
        team=team,
        first_day=form.cleaned_data["since"],
        last_day=form.cleaned_data["until"],
        since_value=form.cleaned_data["since"].isoformat(),
        until_value=form.cleaned_data["until"].isoformat(),
        measures=measures_of(result),
        comparison=comparison,
        rows=[TeamRow("Whole floor", row_of(result.figures), chosen=team is None)]
        + [TeamRow(t.name, row_of(f), chosen=t == team) for t, f in comparison.rows],
        columns=[name for _, name in COLUMNS],
    )
    return render(request, "kb/review/measures.html", context)


def measures_of(result: reports.Measures) -> list[Measure]:
    figures, weekly = result.figures, result.weekly
    reps, searches = figures.participation, figures.reuse_rate
    links, known = figures.link_rate, figures.known
    new = known.whole - known.part
    shown = [
        Measure(
            "participation",
            "Participation rate",
            percent(reps),
            f"{reps.part} of {reps.whole} active reps created or improved an entry"
            if reps.whole
            else "No active reps" + (" in this team" if result.team else ""),
            weekly.participation,
            "%",
        ),
        Measure(
            "reuse_rate",
            "Reuse rate",
            percent(searches),
            f"{searches.part} of {searches.whole} searches were followed by a reuse"
            if searches.whole
            else "No searches in this period",
            weekly.reuse_rate,
            "%",
        ),
        Measure(
            "link_rate",
            "Link rate",
            percent(links),
            f"{links.part} of {links.whole} reuses carry a case reference"
            if links.whole
            else "No reuses in this period",
            weekly.link_rate,
            "%",
        ),
        Measure(
            "known",
            "Known vs new",
            percent(known),
            f"{known.part} reuses of known entries, {new} new {plural(new, 'entry', 'entries')}"
            if known.whole
            else "No reuses and no new entries in this period",
            weekly.known,
            "%",
        ),
        Measure(
            "time_to_publish",
            "Time to publish (median)",
            duration(figures.time_to_publish),
            "" if figures.time_to_publish is not None else "No entry was first published",
            weekly.time_to_publish,
            " h",
        ),
        Measure(
            "time_to_answer",
            "Time to answer a question (median)",
            duration(figures.time_to_answer),
            "" if figures.time_to_answer is not None else "No open question was answered",
            weekly.time_to_answer,
            " h",
        ),
        Measure("created", "Entries created", str(figures.created), "", weekly.created),
        Measure("improved", "Entries improved", str(figures.improved), "", weekly.improved),
        Measure("flagged", "Flags raised", str(figures.flagged), "", weekly.flagged),
        Measure("validated", "Entries validated", str(figures.validated), "", weekly.validated),
    ]
    return [replace(measure, series=tidy(measure.series)) for measure in shown]


def tidy(series: reports.Series) -> reports.Series:
    """Whole numbers without a trailing ".0" (50% rather than 50.0%) for the charts."""
    return [
        (week, int(value) if isinstance(value, float) and value.is_integer() else value)
        for week, value in series
    ]


def row_of(figures: reports.Figures) -> list[str]:
    """The headline figures in ``COLUMNS`` order, for the team comparison."""
    cells = {
        "participation": percent(figures.participation),
        "reuse_rate": percent(figures.reuse_rate),
        "link_rate": percent(figures.link_rate),
        "known": percent(figures.known),
        "time_to_publish": duration(figures.time_to_publish),
        "time_to_answer": duration(figures.time_to_answer),
        "created": str(figures.created),
        "improved": str(figures.improved),
        "flagged": str(figures.flagged),
        "validated": str(figures.validated),
    }
    return [cells[key] for key, _ in COLUMNS]


def percent(ratio: reports.Ratio) -> str:
    """ "66.7%", "50%", or a dash when there is nothing to divide by."""
    value = ratio.percent
    return NO_FIGURE if value is None else f"{value:g}%"


def duration(spent: timedelta | None) -> str:
    """ "40 min", "5.5 h", "3.2 days", or a dash."""
    if spent is None:
        return NO_FIGURE
    hours = spent / timedelta(hours=1)
    if hours < 1:
        return f"{round(spent / timedelta(minutes=1))} min"
    if hours < 48:
        return f"{hours:.1f} h".replace(".0 h", " h")
    return f"{hours / 24:.1f} days".replace(".0 days", " days")


def plural(count: int, one: str, many: str) -> str:
    return one if count == 1 else many
