"""Ask the floor: open questions are listed, asked, answered, closed and assigned here."""

from __future__ import annotations

import re

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kb import actions, reports, search
from kb.forms import AskForm, CaptureForm
from kb.models import QUESTION_MAX_LENGTH, Entry, Question
from kb.permissions import can_supervise, supervisor_required

PAGE_SIZE = reports.QUESTIONS_PAGE_SIZE
MAX_PAGE = 1_000
FOUND_IT_SUGGESTIONS = 5
# "12", "#12", or a pasted link to the entry (".../entries/12/...").
ENTRY_REF_RE = re.compile(r"#?\s*(\d{1,9})|.*/entries/(\d{1,9})(?:/.*)?")


def get_question(pk: int) -> Question:
    related = ("asked_by", "assigned_to", "answered_by", "answer_entry")
    return get_object_or_404(Question.objects.select_related(*related), pk=pk)


def asked_on(question: Question) -> str:
    name = question.asked_by.get_username() if question.asked_by else "someone"
    return f"{name} on {day(question.created_at)}"


def day(moment) -> str:
    return date_format(timezone.localtime(moment), "j M Y")


def page_number(value: str | None) -> int:
    value = (value or "").strip()
    return int(value) if value.isdigit() and 1 <= int(value) <= MAX_PAGE else 1


@require_GET
def question_list(request: HttpRequest) -> HttpResponse:
    """Open questions, newest first (``?order=oldest`` for the longest waiting), and the
    ones answered lately."""
    oldest_first = request.GET.get("order") == "oldest"
    page = page_number(request.GET.get("page"))
    total = reports.open_question_count()
    rows = reports.open_questions(
        oldest_first=oldest_first, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
    )
    context = {
        "rows": rows,
        "total": total,
        "order": "oldest" if oldest_first else "newest",
        "page": page,
        "previous_page": page - 1 if page > 1 else None,
        "next_page": page + 1 if total > page * PAGE_SIZE and page < MAX_PAGE else None,
        "recently_answered": reports.recently_answered(request.user),
    }
    return render(request, "kb/questions/list.html", context)


@require_http_methods(["GET", "POST"])
def question_ask(request: HttpRequest) -> HttpResponse:
    """Ask the floor; from a search that found nothing the query arrives as ``?q=``."""
    if request.method == "GET":
        prefill = " ".join(request.GET.get("q", "").replace("\x00", "").split())
        form = AskForm(initial={"question": prefill[:QUESTION_MAX_LENGTH]})
        return render(request, "kb/questions/ask.html", {"form": form})
    form = AskForm(request.POST)
    form.is_valid()  # every field is optional here; the action decides
    try:
        question, created = actions.ask_question(
            user=request.user,
            text=form.cleaned_data.get("question", ""),
            details=form.cleaned_data.get("details", ""),
        )
    except ValidationError as error:
        for name, errors in error.message_dict.items():
            form.add_error("question" if name == "text" else name, errors)
        return render(request, "kb/questions/ask.html", {"form": form}, status=400)
    if created:
        messages.success(request, "Asked. You'll be told here when someone answers it.")
    elif question.asked_by_id == request.user.pk:
        messages.info(request, f"You already asked this on {day(question.created_at)}.")
    else:
        messages.info(
            request,
            f"Already asked by {asked_on(question)}; we'll tell you too when it's answered.",
        )
    return redirect(question)


def detail_context(request: HttpRequest, question: Question, **extra) -> dict:
    user = request.user
    is_open = question.state == Question.State.OPEN
    is_asker = question.asked_by_id == user.pk
    supervising = can_supervise(user)
    answer = question.answer_entry
    suggestions = []
    if is_open and is_asker:
        found = search.search(question.text, user=user, limit=FOUND_IT_SUGGESTIONS)
        suggestions = search.close_matches(found)
    return {
        "question": question,
        "is_open": is_open,
        "is_asker": is_asker,
        "can_supervise": supervising,
        "searchers": reports.no_result_searchers([question.normalized]).get(question.normalized, 0),
        "answer_visible": bool(answer)
        and (answer.state != Entry.State.DRAFT or answer.author_id == user.pk),
        "suggestions": suggestions,
        "reps": reports.assignable_reps() if is_open and supervising else [],
        **extra,
    }


@require_GET
def question_detail(request: HttpRequest, pk: int) -> HttpResponse:
    question = get_question(pk)
    return render(request, "kb/questions/detail.html", detail_context(request, question))


@require_http_methods(["GET", "POST"])
def question_answer(request: HttpRequest, pk: int) -> HttpResponse:
    """The entry form, prefilled with the question; publishing answers it."""
    question = get_question(pk)
    answered_first = False
    if request.method == "POST":
        form = CaptureForm(request.POST)
        if form.is_valid():
            try:
                entry = actions.answer_question(
                    question=question, user=request.user, content=form.cleaned_data["content"]
                )
            except ValidationError as error:
                if "question" not in error.message_dict:
                    raise  # the form validated the content; nothing else is expected
                # Someone answered first: show theirs, keep this person's text.
                question, answered_first = get_question(pk), True
            else:
                messages.success(
                    request,
                    "Answer published and searchable. The asker and everyone who searched "
                    "for it without result have been told.",
                )
                return redirect(entry)
    elif question.state != Question.State.OPEN:
        messages.info(request, "This question already has an answer.")
        return redirect(question)
    else:
        form = CaptureForm(initial={"question": question.text})
    context = {
        "form": form,
        "tag_suggestions": reports.popular_tags(limit=50),
        "creating": True,
        "answering": question,
        "answered_first": answered_first,
    }
    status = 409 if answered_first else 400 if form.is_bound else 200
    return render(request, "kb/entry_form.html", context, status=status)


def entry_from(values: list[str]) -> Entry | None:
    """The entry named by the first non-empty value ("12", "#12" or a link), if it exists."""
    value = next((v.strip() for v in values if v.strip()), "")
    match = ENTRY_REF_RE.fullmatch(value)
    if not match:
        return None
    return Entry.objects.filter(pk=int(match.group(1) or match.group(2))).first()


@require_POST
def question_close(request: HttpRequest, pk: int) -> HttpResponse:
    """The asker found it themselves: close the question with the entry that answers it."""
    question = get_question(pk)
    entry = entry_from([request.POST.get("entry_number", ""), *request.POST.getlist("entry")])
    try:
        actions.close_question(question=question, user=request.user, entry=entry)
    except ValidationError as error:
        context = detail_context(request, question, close_errors=error.messages)
        return render(request, "kb/questions/detail.html", context, status=400)
    messages.success(request, f"Closed: you found the answer in #{entry.pk}. Thanks for saying.")
    return redirect(question)


@supervisor_required
@require_POST
def question_assign(request: HttpRequest, pk: int) -> HttpResponse:
    """A supervisor gives an open question to a rep, who is told."""
    question = get_question(pk)
    value = request.POST.get("assignee", "").strip()
    assignee = (
        get_user_model().objects.filter(pk=int(value)).first()
        if value.isdigit() and len(value) < 10
        else None
    )
    try:
        question = actions.assign_question(question=question, actor=request.user, assignee=assignee)
    except ValidationError as error:
        context = detail_context(request, question, assign_errors=error.messages)
        return render(request, "kb/questions/detail.html", context, status=400)
    name = question.assigned_to.get_username()
    messages.success(request, f"Assigned to {name}; they have been told.")
    return redirect(question)
