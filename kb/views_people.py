"""People and ownership: profiles, the floor leaderboard, "my entries", orphaned entries."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from kb import actions, reports
from kb.views import visible_entry

PAGE_SIZE = 50
LEADERBOARD_SIZE = 20


def paginate(request: HttpRequest, queryset) -> Page:
    """One page of ``queryset``, evaluated here so the template does not query."""
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = list(page.object_list)
    return page


@require_GET
def person(request: HttpRequest, username: str) -> HttpResponse:
    """A person's contributions, the reuse of their work by others the most prominent."""
    someone = get_object_or_404(get_user_model(), username=username)
    context = {
        "profile": reports.profile(someone),
        "is_me": someone.pk == request.user.pk,
        "chart_weeks": reports.PROFILE_CHART_WEEKS,
    }
    return render(request, "kb/people/profile.html", context)


@require_GET
def people(request: HttpRequest) -> HttpResponse:
    """The floor leaderboard for this week or (``?period=month``) this month."""
    period = request.GET.get("period", "week")
    context = {"periods": reports.LEADERBOARD_PERIODS, "period": period}
    if period not in reports.LEADERBOARD_PERIODS:
        context["error"] = "Choose this week or this month."
        return render(request, "kb/people/leaderboard.html", context, status=400)
    context["rows"] = reports.leaderboard(period, limit=LEADERBOARD_SIZE)
    context["since"] = reports.period_start(period)
    return render(request, "kb/people/leaderboard.html", context)


@require_GET
def my_entries(request: HttpRequest) -> HttpResponse:
    """The entries this person owns, what needs their attention first."""
    page = paginate(request, reports.my_entries(request.user))
    context = {
        "page": page,
        "summary": reports.my_entries_summary(request.user),
        "soon_days": reports.REVIEW_SOON_DAYS,
    }
    return render(request, "kb/people/my_entries.html", context)


@require_GET
def orphaned(request: HttpRequest) -> HttpResponse:
    """Usable entries whose owner left, for anyone to adopt."""
    page = paginate(request, reports.orphaned_entries())
    return render(request, "kb/people/orphaned.html", {"page": page})


@require_POST
def adopt(request: HttpRequest, pk: int) -> HttpResponse:
    """One click: become the owner of an orphaned entry."""
    entry = visible_entry(request, pk)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = ""
    try:
        entry = actions.adopt_entry(entry=entry, user=request.user)
    except ValidationError as error:
        messages.error(request, error.message_dict["owner"][0])
        return redirect(back or entry.get_absolute_url())
    messages.success(request, f"You now own “{entry.question[:80]}”; it is in your entries.")
    return redirect(back or entry.get_absolute_url())
