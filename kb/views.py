"""Pages. Each view parses input, calls an action or a query, and renders."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kb import actions, reports, search
from kb.diff import diff_fields, diff_revisions, fields_of
from kb.forms import (
    MAX_PAGE,
    CaptureForm,
    CompareForm,
    EditForm,
    RestoreForm,
    SearchForm,
    StateForm,
)
from kb.markdown import render_markdown
from kb.models import ANSWER_MAX_LENGTH, Entry, SynonymGroup
from kb.permissions import can_supervise, supervisor_required
from kb.views_flags import fixes_requested, flags_context, open_flags, tell_about_fixes

PAGE_SIZE = 20
MAX_QUERY = search.MAX_QUERY_LENGTH


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def case_ref(request: HttpRequest) -> str:
    """The case or call reference carried in the URL from a screen-pop (``?case=``)."""
    value = request.GET.get("case", "").strip()
    return value if actions.CASE_REF_RE.match(value) else ""


def search_event_id(request: HttpRequest) -> int | None:
    """The logged search a click came from (``s``), carried on result links and forms."""
    value = request.POST.get("s") or request.GET.get("s") or ""
    return int(value) if value.isdigit() and len(value) < 19 else None


def refuse(request: HttpRequest, entry: Entry, message: str) -> HttpResponse:
    """A refused one-click action: the message alone for htmx, else back to the entry."""
    if is_htmx(request):
        return HttpResponse(message, status=400)
    messages.error(request, message)
    return redirect(entry)


def visible_entry(request: HttpRequest, pk: int) -> Entry:
    """The entry, or 404 when it does not exist or is someone else's draft."""
    queryset = Entry.objects.visible_to(request.user).select_related(
        "author", "owner", "validated_by"
    )
    return get_object_or_404(queryset, pk=pk)


@require_GET
def search_page(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET)
    results, event, status, open_question = None, None, 200, None
    if not form.is_valid():
        status = 400
    elif form.cleaned_data["q"]:
        page = form.cleaned_data["page"]
        results = search.search(
            form.cleaned_data["q"],
            user=request.user,
            include_archived=form.cleaned_data["archived"],
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
            facets=True,
            exact=form.cleaned_data["exact"],
        )
        if page == 1:  # later pages are the same search, already logged
            event = actions.log_search(
                user=request.user, text=form.cleaned_data["q"], result_count=results.total
            )
            if not results.total:  # "already asked": link the open question instead
                open_question = reports.open_question_matching(event.normalized)
    context = {
        "form": form,
        # A refused search stays in the box (cut to the limit) so it can be corrected.
        "q": form.cleaned_data["q"] if form.is_valid() else form.data.get("q", "")[:MAX_QUERY],
        "results": results,
        "page": form.cleaned_data.get("page", 1) if form.is_valid() else 1,
        "page_size": PAGE_SIZE,
        "case": case_ref(request),
        "search_event": event.pk if event else search_event_id(request),
        "open_question": open_question,
    }
    if results is not None:
        page = context["page"]
        context["previous_page"] = page - 1 if page > 1 else None
        more = results.total > page * PAGE_SIZE and page < MAX_PAGE
        context["next_page"] = page + 1 if more else None
    elif status == 200:
        context["recent"] = reports.recent_entries(request.user)
        context["popular_tags"] = reports.popular_tags()
    template = "kb/_results.html" if is_htmx(request) else "kb/search.html"
    response = render(request, template, context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
def entry_detail(request: HttpRequest, pk: int) -> HttpResponse:
    entry = visible_entry(request, pk)
    case = case_ref(request)
    event_id = search_event_id(request)
    actions.search_opened(event_id=event_id, user=request.user, entry=entry)
    last_revision = entry.revisions.select_related("editor").first()
    return render(
        request,
        "kb/entry_detail.html",
        {
            "entry": entry,
            "tags": entry.tag_names(),
            "last_revision": last_revision,
            "can_supervise": can_supervise(request.user),
            "orphaned": reports.is_orphaned(entry),
            "review_overdue": bool(entry.review_due_at) and entry.review_due_at < timezone.now(),
            "state_choices": Entry.State,
            "usage": reports.reuse_stats([entry.pk])[entry.pk],
            "case": case,
            "used": bool(
                actions.counted_reuse(
                    entry=entry, user=request.user, case_ref=case, at=timezone.now()
                )
            ),
            "primary": True,
            "search_event": event_id,
            **thanks_context(entry, request.user),
            **flags_context(entry, request.user),
            "answered_questions": list(
                entry.answered_questions.select_related("asked_by").order_by("created_at")
            ),
            "q": request.GET.get("q", "")[:MAX_QUERY],
        },
    )


THANKS_SHOWN = 5


def thanks_context(entry: Entry, user) -> dict:
    thanks = entry.thanks.select_related("from_user")
    return {
        "thanks_count": thanks.count(),
        "recent_thanks": list(thanks[:THANKS_SHOWN]),
        "thanked": thanks.filter(from_user=user).exists(),
        "own_entry": entry.author_id == user.pk,
    }


@require_POST
def entry_thanks(request: HttpRequest, pk: int) -> HttpResponse:
    """Thank the author and editors of an entry, optionally with a short note."""
    entry = visible_entry(request, pk)
    try:
        _, created = actions.thank_entry(
            entry=entry, user=request.user, note=request.POST.get("note", "")
        )
    except ValidationError as error:
        return refuse(request, entry, error.message_dict["note"][0])
    if is_htmx(request):
        context = {"entry": entry, **thanks_context(entry, request.user)}
        return render(request, "kb/_thanks.html", context)
    messages.success(request, "Thanks sent." if created else "You already thanked this entry.")
    return redirect(entry)


@require_POST
def entry_reuse(request: HttpRequest, pk: int) -> HttpResponse:
    """ "Used on this call": one click records that the entry helped."""
    entry = visible_entry(request, pk)
    try:
        reuse, created = actions.record_reuse(
            entry=entry,
            user=request.user,
            case_ref=request.POST.get("case", ""),
            query=request.POST.get("q", ""),
            search_event_id=search_event_id(request),
        )
    except ValidationError as error:
        return refuse(request, entry, error.message_dict["case"][0])
    usage = reports.reuse_stats([entry.pk])[entry.pk]
    if is_htmx(request):
        context = {
            "entry": entry,
            "usage": usage,
            "used": True,
            "case": reuse.case_ref,
            "search_event": search_event_id(request),
            "primary": request.POST.get("primary") == "1",
        }
        return render(request, "kb/_reuse_button.html", context)
    if created:
        messages.success(request, "Counted: this entry helped on a call. Thank you.")
    else:
        messages.info(request, "Already counted for this call.")
    return redirect(entry)


@require_http_methods(["GET", "POST"])
def entry_create(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = CaptureForm(request.POST)
        if form.is_valid():
            state = Entry.State.DRAFT if "save_draft" in request.POST else Entry.State.PUBLISHED
            entry = actions.capture_entry(
                author=request.user, content=form.cleaned_data["content"], state=state
            )
            if state == Entry.State.DRAFT:
                messages.success(request, "Saved as a draft: only you can see it.")
            else:
                messages.success(request, "Saved and searchable. Thanks for writing it up.")
            return redirect(entry)
    else:
        question = request.GET.get("question", "")[:300]
        form = CaptureForm(initial={"question": question})
    return render(
        request,
        "kb/entry_form.html",
        {"form": form, "tag_suggestions": reports.popular_tags(limit=50), "creating": True},
        status=400 if form.is_bound else 200,
    )


@require_http_methods(["GET", "POST"])
def entry_edit(request: HttpRequest, pk: int) -> HttpResponse:
    entry = visible_entry(request, pk)
    flags = open_flags(entry)
    if request.method == "POST":
        form = EditForm(request.POST, flags=flags)
        if form.is_valid():
            base_version = form.cleaned_data["version"]
            resolves = form.cleaned_data["resolves"]
            try:
                saved = actions.edit_entry(
                    entry=entry,
                    editor=request.user,
                    base_version=base_version,
                    content=form.cleaned_data["content"],
                    summary=form.cleaned_data["summary"],
                    resolves=resolves,
                )
            except actions.EditConflict as conflict:
                return edit_conflict(request, conflict, form)
            if saved.version == base_version:
                messages.info(request, "Nothing changed, so nothing was saved.")
            else:
                messages.success(request, f"Saved as revision {saved.version}.")
            tell_about_fixes(request, saved=saved, base_version=base_version, resolves=resolves)
            return redirect(saved)
    else:
        initial = EditForm.initial_for(actions.EntryContent.of(entry))
        fixes = fixes_requested(request, flags)
        initial = {**initial, "version": entry.version, "resolves": fixes}
        form = EditForm(initial=initial, flags=flags)
    return render(
        request,
        "kb/entry_form.html",
        {"form": form, "entry": entry, "tag_suggestions": reports.popular_tags(limit=50)},
        status=400 if form.is_bound else 200,
    )


def edit_conflict(
    request: HttpRequest, conflict: actions.EditConflict, form: EditForm
) -> HttpResponse:
    """Someone saved first: show their change and keep what this person wrote."""
    current = conflict.entry
    revisions = {
        r.number: r
        for r in current.revisions.filter(
            number__in=[conflict.base_version, current.version]
        ).select_related("editor")
    }
    base, latest = revisions.get(conflict.base_version), revisions.get(current.version)
    their_change = diff_revisions(base, latest) if base and latest else []
    yours = form.cleaned_data["content"]
    current_fields = fields_of(latest) if latest else {}
    current_fields.pop("state", None)
    retry = EditForm(
        initial={
            **EditForm.initial_for(yours),
            "summary": form.cleaned_data["summary"],
            "version": current.version,
            "resolves": form.cleaned_data["resolves"],
        },
        flags=open_flags(current),
    )
    context = {
        "entry": current,
        "latest": latest,
        "their_change": their_change,
        "your_change": diff_fields(current_fields, fields_of(yours)),
        "form": retry,
        "tag_suggestions": reports.popular_tags(limit=50),
    }
    return render(request, "kb/edit_conflict.html", context, status=409)


@require_GET
def entry_history(request: HttpRequest, pk: int) -> HttpResponse:
    entry = visible_entry(request, pk)
    revisions = entry.revisions.select_related("editor", "restored_from")
    return render(request, "kb/history.html", {"entry": entry, "revisions": revisions})


@require_GET
def revision_detail(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    entry = visible_entry(request, pk)
    revision = get_object_or_404(entry.revisions.select_related("editor"), number=number)
    return render(request, "kb/revision_detail.html", {"entry": entry, "revision": revision})


@require_GET
def revision_compare(request: HttpRequest, pk: int) -> HttpResponse:
    entry = visible_entry(request, pk)
    form = CompareForm(request.GET)
    if not form.is_valid():
        messages.error(request, "Pick two revisions to compare.")
        return redirect("kb:history", pk=entry.pk)
    numbers = sorted({form.cleaned_data["a"], form.cleaned_data["b"]})
    found = {r.number: r for r in entry.revisions.filter(number__in=numbers)}
    if len(found) != len(numbers):
        raise Http404("No such revision.")
    old, new = found[numbers[0]], found[numbers[-1]]
    return render(
        request,
        "kb/compare.html",
        {"entry": entry, "old": old, "new": new, "changes": diff_revisions(old, new)},
    )


@require_POST
def revision_restore(request: HttpRequest, pk: int, number: int) -> HttpResponse:
    entry = visible_entry(request, pk)
    revision = get_object_or_404(entry.revisions, number=number)
    form = RestoreForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Missing the version you are restoring from.", status=400)
    try:
        saved = actions.restore_revision(
            entry=entry,
            revision=revision,
            editor=request.user,
            base_version=form.cleaned_data["version"],
        )
    except actions.EditConflict:
        messages.error(
            request, "Someone saved this entry while you were looking. Check and try again."
        )
        return redirect("kb:history", pk=entry.pk)
    if saved.version == form.cleaned_data["version"]:
        messages.info(
            request, f"Revision {number} is the same as the current one; nothing changed."
        )
    else:
        messages.success(request, f"Restored revision {number} as revision {saved.version}.")
    return redirect(saved)


@require_POST
def entry_state(request: HttpRequest, pk: int) -> HttpResponse:
    entry = visible_entry(request, pk)
    form = StateForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Unknown state.", status=400)
    try:
        saved = actions.change_state(
            entry=entry,
            actor=request.user,
            state=form.cleaned_data["state"],
            base_version=form.cleaned_data["version"],
        )
    except actions.EditConflict:
        messages.error(request, "Someone saved this entry meanwhile; here is the latest.")
        return redirect(entry)
    messages.success(request, f"Entry is now {saved.get_state_display().lower()}.")
    return redirect(saved)


@supervisor_required
@require_http_methods(["GET", "POST"])
def synonyms_edit(request: HttpRequest) -> HttpResponse:
    """The floor's synonym list, one group of equivalent words a line."""
    if request.method == "POST":
        text = request.POST.get("synonyms", "")
        try:
            saved = actions.save_synonyms(actor=request.user, text=text)
        except ValidationError as error:
            context = {"text": text, "errors": error.message_dict["synonyms"]}
            return render(request, "kb/synonyms.html", context, status=400)
        messages.success(request, f"Saved {len(saved)} synonym groups; search uses them now.")
        return redirect("kb:synonyms")
    text = "\n".join(group.terms for group in SynonymGroup.objects.all())
    return render(request, "kb/synonyms.html", {"text": text})


SIMILAR_LIMIT = 5


@require_GET
def similar_entries(request: HttpRequest) -> HttpResponse:
    """Entries that may already answer the question being written (an htmx partial)."""
    question = request.GET.get("question", "").strip()
    results, incomplete = [], False
    if 3 <= len(question) <= MAX_QUERY:
        found = search.search(question, user=request.user, limit=SIMILAR_LIMIT + 1)
        exclude = request.GET.get("exclude", "")
        results = [r for r in search.close_matches(found) if str(r.entry.pk) != exclude]
        incomplete = found.incomplete
    context = {"results": results[:SIMILAR_LIMIT], "incomplete": incomplete}
    return render(request, "kb/_similar.html", context)


@require_POST
def markdown_preview(request: HttpRequest) -> HttpResponse:
    text = request.POST.get("answer", "")
    if len(text) > ANSWER_MAX_LENGTH:
        return HttpResponse("Too long to preview.", status=400)
    return render(request, "kb/_preview.html", {"html": render_markdown(text)})
