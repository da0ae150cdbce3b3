"""The inbox: what happened to a person's entries, flags and questions."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from kb import actions
from kb.models import Notification

PAGE_SIZE = 50
MAX_IDS = 200


def _inbox_page(request: HttpRequest, number) -> Page:
    """One page of the person's notifications, newest first (two queries)."""
    notifications = Notification.objects.filter(recipient=request.user).order_by(
        "-created_at", "-pk"
    )
    return Paginator(notifications, PAGE_SIZE).get_page(number)


def _inbox_url(page: Page) -> str:
    url = reverse("kb:inbox")
    return f"{url}?page={page.number}" if page.number > 1 else url


@require_GET
def inbox(request: HttpRequest) -> HttpResponse:
    page = _inbox_page(request, request.GET.get("page"))
    return render(request, "kb/inbox.html", {"page_obj": page})


@require_POST
def inbox_read(request: HttpRequest) -> HttpResponse:
    """Mark the given notifications (``id``, repeated) or all of them (``all=1``) read."""
    if request.POST.get("all") == "1":
        ids = None
    else:
        raw = request.POST.getlist("id")
        if not raw or len(raw) > MAX_IDS or not all(v.isdigit() and len(v) < 19 for v in raw):
            return HttpResponse("Say which notifications to mark read.", status=400)
        ids = [int(value) for value in raw]
    marked = actions.mark_read(user=request.user, ids=ids)
    page = _inbox_page(request, request.POST.get("page"))
    if request.headers.get("HX-Request") == "true":
        return render(request, "kb/_inbox_list.html", {"page_obj": page, "oob_badge": True})
    if ids is None:
        messages.success(request, "Everything in your inbox is marked read.")
    elif marked:
        messages.success(request, f"Marked {marked} notification{'s' if marked != 1 else ''} read.")
    return redirect(_inbox_url(page))


@require_GET
def notification_open(request: HttpRequest, pk: int) -> HttpResponse:
    """Follow a notification to what it is about, marking it read on the way."""
    notification = get_object_or_404(Notification, pk=pk, recipient=request.user)
    if notification.read_at is None:
        actions.mark_read(user=request.user, ids=[notification.pk])
    return redirect(notification.target_url())
