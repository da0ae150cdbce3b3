"""Error pages: JSON under /api/, the site's own pages elsewhere."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import csrf, defaults

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"error": "No such API endpoint."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(
            {"error": "Something went wrong on the server; it was logged."}, status=500
        )
    return defaults.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A write without the CSRF token: JSON for the API, the site's page elsewhere."""
    if _is_api(request):
        return JsonResponse(
            {
                "error": "Missing or wrong CSRF token: send the csrftoken cookie's value "
                "in the X-CSRFToken header."
            },
            status=403,
        )
    return csrf.csrf_failure(request, reason=reason, template_name="403_csrf.html")


def locked_out(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """The login page after too many wrong passwords (django-axes' lockout callable):
    429, saying why and for how long, and what to do if it is urgent."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(
        request,
        "registration/locked_out.html",
        {"minutes": minutes, "failure_limit": settings.AXES_FAILURE_LIMIT},
        status=429,
    )
