"""JSON API, version 1. Bad input is a 400 with an ``error`` message, never a 500."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from kb import actions, search
from kb.actions import MAX_TAGS, TAG_MAX_LENGTH
from kb.forms import SearchForm
from kb.models import SearchEvent

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
    if page == 1:
        actions.log_search(
            user=request.user,
            text=" ".join([form.cleaned_data["q"], *(f"tag:{tag}" for tag in tags)]),
            result_count=found.total,
            source=SearchEvent.Source.API,
        )
    return JsonResponse(
        {
            "query": found.query.text,
            "total": found.total,
            "took_ms": round(found.took_ms, 2),
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
