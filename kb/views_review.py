"""The supervisor's gap review (``/review/``): where the floor searched and came up
empty, what is waiting, flagged or going stale. Every page is behind the review
permission; lists filter by period and tag and export as CSV."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import ceil

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import SafeString
from django.views.decorators.http import require_GET, require_POST

from kb import actions, reports
from kb.csv_export import csv_response
from kb.forms import GapAssignForm, GapFilterForm
from kb.permissions import supervisor_required

HOME_ROWS = 5
PAGE_SIZE = reports.GAP_PAGE_SIZE
CSV_MAX_ROWS = 10_000


def _day(moment) -> str:
    return timezone.localtime(moment).date().isoformat() if moment else ""


@dataclass(frozen=True)
class GapKind:
    """One list of the dashboard: its report, its table and its CSV columns."""

    slug: str
    title: str
    intro: str
    empty: str
    report: Callable[..., reports.GapList]
    columns: tuple[str, ...]
    csv_row: Callable[[object], list]

    @property
    def url_name(self) -> str:
        return f"kb:review_{self.slug.replace('-', '_')}"

    @property
    def table(self) -> str:
        return f"kb/review/_{self.slug.replace('-', '_')}.html"


GAP_KINDS = {
    kind.slug: kind
    for kind in [
        GapKind(
            slug="no-results",
            title="Searches with no result",
            intro="What the floor looked for and did not find, grouped so that different "
            "wordings of the same search are one row. Write the most frequent ones up, or "
            "give them to a rep.",
            empty="No search came up empty in this period. The floor found something every time.",
            report=reports.no_result_searches,
            columns=(
                "search",
                "normalised",
                "searches",
                "people",
                "who",
                "first seen",
                "last seen",
                "open question",
            ),
            csv_row=lambda r: [
                r.query,
                r.normalized,
                r.count,
                r.people,
                ", ".join(r.usernames),
                r.first_seen,
                r.last_seen,
                r.question.pk if r.question else "",
            ],
        ),
        GapKind(
            slug="no-reuse",
            title="Searches with results but no reuse",
            intro="Searches that found answers, none of which was marked as used on the call. "
            "Often the answers exist but do not fit: check what was opened and improve it.",
            empty="Every search with results in this period was followed by a reuse.",
            report=reports.searches_without_reuse,
            columns=(
                "search",
                "normalised",
                "without reuse",
                "opened a result",
                "searches with results",
                "people",
                "last seen",
            ),
            csv_row=lambda r: [
                r.query,
                r.normalized,
                r.count,
                r.opened,
                r.searches,
                r.people,
                r.last_seen,
            ],
        ),
        GapKind(
            slug="questions",
            title="Open questions by age",
            intro="Questions asked on the floor that nobody has answered yet, the longest "
            "waiting first.",
            empty="No open questions. Everything the floor asked has an answer.",
            report=reports.open_questions_by_age,
            columns=(
                "question",
                "id",
                "asked by",
                "asked",
                "age (days)",
                "searched without result by",
                "assigned to",
            ),
            csv_row=lambda r: [
                r.question.text,
                r.question.pk,
                r.question.asked_by.get_username() if r.question.asked_by else "",
                r.question.created_at,
                r.age_days,
                r.searchers,
                r.question.assigned_to.get_username() if r.question.assigned_to else "",
            ],
        ),
        GapKind(
            slug="flags",
            title="Flagged entries",
            intro="Entries someone flagged as wrong, outdated, unclear or a duplicate. An edit "
            "resolves a flag; you can also dismiss one from the entry. The period picks flags "
            "raised in it.",
            empty="No open flags. Nobody has reported a problem with an entry in use.",
            report=reports.flagged_entries,
            columns=("entry", "id", "open flags", "reasons", "oldest flag", "owner"),
            csv_row=lambda r: [
                r.entry.question,
                r.entry.pk,
                r.open_flags,
                "; ".join(f"{label} ({count})" for label, count in r.reasons),
                r.oldest_flag_at,
                r.entry.owner.get_username() if r.entry.owner else "",
            ],
        ),
        GapKind(
            slug="stale",
            title="Stale entries",
            intro=f"Published and validated entries past their review date, or not reused in "
            f"{reports.STALE_AFTER_DAYS} days. Validate the ones that are still right (that "
            "sets the next review date); fix or archive the rest. The period picks entries "
            "published in it.",
            empty="Nothing is stale: every entry in use was reviewed and reused recently.",
            report=reports.stale_entries,
            columns=("entry", "id", "state", "why", "review due", "last reuse", "owner"),
            csv_row=lambda r: [
                r.entry.question,
                r.entry.pk,
                r.entry.state,
                "; ".join(r.reasons),
                r.entry.review_due_at,
                r.last_reuse,
                r.entry.owner.get_username() if r.entry.owner else "",
            ],
        ),
        GapKind(
            slug="tags",
            title="Tags searched often, with few entries",
            intro=f"Tags the floor searches for (as tag:name or by the tag's words) that at "
            f"most {reports.THIN_TAG_MAX_ENTRIES} usable entries carry: areas to write more for.",
            empty="No thin tags: every tag the floor searches for has a few entries.",
            report=reports.thin_tags,
            columns=("tag", "searches", "usable entries", "searches per entry"),
            csv_row=lambda r: [r.tag, r.searches, r.entries, round(r.ratio, 1)],
        ),
    ]
}


def rep_options() -> SafeString:
    """The ``<option>`` list of reps for the assign selects, escaped and built once per
    page: a template loop per row would render (rows times reps) nodes."""
    reps = reports.assignable_reps()
    return format_html_join(
        "", '<option value="{}">{}</option>', ((rep.pk, rep.get_username()) for rep in reps)
    )


def _filter_form(request: HttpRequest) -> GapFilterForm:
    form = GapFilterForm(request.GET)
    form.is_valid()
    return form


def _refused(request: HttpRequest, template: str, context: dict) -> HttpResponse:
    """A filter that cannot be applied: the form with its errors, and nothing listed."""
    return render(request, template, context, status=400)


def _context(form: GapFilterForm, **extra) -> dict:
    return {
        "form": form,
        "kinds": GAP_KINDS.values(),
        "filter_query": form.query_string() if form.is_valid() else "",
        "tag_suggestions": reports.popular_tags(limit=50),
        **extra,
    }


@supervisor_required
@require_GET
def review_home(request: HttpRequest) -> HttpResponse:
    """The supervisor's home: the top of each gap list, with links to the whole lists."""
    form = _filter_form(request)
    if not form.is_valid():
        return _refused(request, "kb/review/home.html", _context(form))
    gap_filter = form.gap_filter()
    sections = [(kind, kind.report(gap_filter, limit=HOME_ROWS)) for kind in GAP_KINDS.values()]
    context = _context(form, sections=sections, home_rows=HOME_ROWS, rep_options=rep_options())
    return render(request, "kb/review/home.html", context)


@supervisor_required
@require_GET
def gap_list(request: HttpRequest, kind: str) -> HttpResponse:
    """One whole gap list, a page at a time, or all of it as CSV (``?format=csv``)."""
    gap = GAP_KINDS[kind]
    form = _filter_form(request)
    if not form.is_valid():
        return _refused(request, "kb/review/list.html", _context(form, gap=gap))
    gap_filter = form.gap_filter()
    if request.GET.get("format") == "csv":
        found = gap.report(gap_filter, limit=CSV_MAX_ROWS)
        filename = f"floorbook-{gap.slug}-{timezone.localdate().isoformat()}.csv"
        return csv_response(filename, list(gap.columns), map(gap.csv_row, found.rows))
    page = form.cleaned_data["page"]
    found = gap.report(gap_filter, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    pages = max(ceil(found.total / PAGE_SIZE), 1)
    context = _context(
        form,
        gap=gap,
        found=found,
        page=page,
        pages=pages,
        first_row=(page - 1) * PAGE_SIZE + 1,
        previous_page=page - 1 if page > 1 else None,
        next_page=page + 1 if page < pages else None,
        rep_options=rep_options() if kind == "no-results" else "",
    )
    return render(request, "kb/review/list.html", context)


def _back(request: HttpRequest) -> str:
    """Where the assign form came from, if it is one of our review pages."""
    target = request.POST.get("next", "")
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if safe and target.startswith("/review/") else reverse("kb:review_no_results")


@supervisor_required
@require_POST
def gap_assign(request: HttpRequest) -> HttpResponse:
    """Give a no-result search to a rep as an open question (reusing one that asks the
    same); the rep is told."""
    form = GapAssignForm(request.POST)
    back = _back(request)
    if form.is_valid():
        assignee = form.cleaned_data["assignee"]
        try:
            question = actions.assign_gap(
                normalized=form.cleaned_data["normalized"],
                text=form.cleaned_data["text"],
                actor=request.user,
                assignee=assignee,
            )
        except ValidationError as error:
            errors = error.messages
        else:
            messages.success(
                request,
                f"Asked {assignee.get_username()} to answer “{question.text}”; "
                "they have been told.",
            )
            return redirect(back)
    else:
        errors = [message for field in form.errors.values() for message in field]
    context = {"errors": errors, "back": back, "text": request.POST.get("text", "")[:300]}
    return render(request, "kb/review/assign_failed.html", context, status=400)
