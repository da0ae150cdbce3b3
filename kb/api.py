"""JSON API, version 1, for integrators (CTI, CRM screen-pops) using the rep's session.

Bad input is a 400 with an ``error`` message, never a 500. Writes (POST) need the CSRF
token like every form: the ``X-CSRFToken`` header with the ``csrftoken`` cookie's value.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from kb import actions, reports, search
from kb.actions import MAX_TAGS, TAG_MAX_LENGTH
from kb.forms import SearchForm
from kb.markdown import render_markdown
from kb.models import Entry, SearchEvent

MAX_LIMIT = 100


class ApiSearchForm(SearchForm):
    limit = forms.IntegerField(required=False, min_value=1, max_value=MAX_LIMIT)

    def clean_q(self) -> str:
        q = super().clean_q()
        if not q:
            raise forms.ValidationError("Give the words to search for in q.")
        return q


def error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def form_error(form: forms.Form) -> JsonResponse:
    first_field, messages = next(iter(form.errors.items()))
    return error(f"{first_field}: {messages[0]}", 400)


@login_not_required
@require_GET
def search_api(request: HttpRequest) -> JsonResponse:
    """``GET /api/v1/search?q=...&limit=N&tag=...``: ranked entries as JSON.

    Typos are corrected as on the search page; ``exact=1`` searches the words as typed.
    ``incomplete`` is true when the search index could not answer (the database did,
    more simply) or is catching up on saves: results may be missing.
    """
    if not request.user.is_authenticated:
        return error("Log in first.", 401)
    form = ApiSearchForm(request.GET)
    if not form.is_valid():
        return form_error(form)
    tags = tuple(request.GET.getlist("tag"))
    if len(tags) > MAX_TAGS or any(len(tag) > TAG_MAX_LENGTH for tag in tags):
        return error(f"tag: at most {MAX_TAGS} tags of {TAG_MAX_LENGTH} characters.", 400)
    limit = form.cleaned_data["limit"] or 20
    page = form.cleaned_data["page"]
    found = search.search(
        form.cleaned_data["q"],
        user=request.user,
        tags=tags,
        include_archived=form.cleaned_data["archived"],
        limit=limit,
        offset=(page - 1) * limit,
        exact=form.cleaned_data["exact"],
    )
    event = None
    if page == 1:
        event = actions.log_search(
            user=request.user,
            text=" ".join([form.cleaned_data["q"], *(f"tag:{tag}" for tag in tags)]),
            result_count=found.total,
            source=SearchEvent.Source.API,
        )
    return JsonResponse(
        {
            "query": found.query.text,
            "search_id": event.pk if event else None,
            "total": found.total,
            "took_ms": round(found.took_ms, 2),
            "incomplete": found.incomplete,
            "results": [
                {
                    "id": result.entry.pk,
                    "question": result.entry.question,
                    "url": request.build_absolute_uri(result.entry.get_absolute_url()),
                    "snippet": str(result.snippet_html),
                    "tags": result.tags,
                    "state": result.entry.state,
                    "score": round(result.score, 4),
                }
                for result in found.results
            ],
        }
    )


def _visible_entry(request: HttpRequest, pk: int) -> Entry | None:
    return (
        Entry.objects.visible_to(request.user)
        .select_related("author", "owner")
        .filter(pk=pk)
        .first()
    )


def _usage(entry: Entry) -> dict:
    usage = reports.reuse_stats([entry.pk])[entry.pk]
    last = usage.last_used_at.isoformat() if usage.last_used_at else None
    return {"count": usage.count, "last_used_at": last}


@login_not_required
@require_GET
def entry_api(request: HttpRequest, pk: int) -> JsonResponse:
    """``GET /api/v1/entries/<id>``: one entry's answer, as Markdown and as safe HTML."""
    if not request.user.is_authenticated:
        return error("Log in first.", 401)
    entry = _visible_entry(request, pk)
    if entry is None:
        return error(f"No entry #{pk}.", 404)
    return JsonResponse(
        {
            "id": entry.pk,
            "question": entry.question,
            "answer": entry.answer,
            "answer_html": str(render_markdown(entry.answer)),
            "tags": entry.tag_names(),
            "state": entry.state,
            "url": request.build_absolute_uri(entry.get_absolute_url()),
            "owner": entry.owner.get_username() if entry.owner else None,
            "updated_at": entry.updated_at.isoformat(),
            "reuse": _usage(entry),
        }
    )


@login_not_required
@require_POST
def reuse_api(request: HttpRequest, pk: int) -> JsonResponse:
    """``POST /api/v1/entries/<id>/reuse``: the entry helped on a call.

    Form fields ``case`` (the case or call reference), ``q`` (the search) and
    ``search_id`` (from the search response) are optional. 201 when counted, 200 when
    this call was already counted (the same rule as the button on the page).
    """
    if not request.user.is_authenticated:
        return error("Log in first.", 401)
    entry = _visible_entry(request, pk)
    if entry is None:
        return error(f"No entry #{pk}.", 404)
    search_id = request.POST.get("search_id", "")
    if search_id and not (search_id.isdigit() and len(search_id) < 19):
        return error("search_id: give the search_id a search returned.", 400)
    try:
        reuse, created = actions.record_reuse(
            entry=entry,
            user=request.user,
            case_ref=request.POST.get("case", ""),
            query=request.POST.get("q", ""),
            search_event_id=int(search_id) if search_id else None,
        )
    except ValidationError as invalid:
        return error(f"case: {invalid.message_dict['case'][0]}", 400)
    return JsonResponse(
        {
            "counted": created,
            "reuse": {
                "id": reuse.pk,
                "case": reuse.case_ref,
                "created_at": reuse.created_at.isoformat(),
            },
            "entry": {"id": entry.pk, "reuse": _usage(entry)},
        },
        status=201 if created else 200,
    )
