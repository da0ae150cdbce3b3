"""The Content-Security-Policy header on every response.

A middleware of a few lines rather than django-csp: the policy is one fixed string
(``settings.CONTENT_SECURITY_POLICY``) with no nonces, because the pages carry no
inline script or style at all (htmx's own indicator style is turned off in base.html),
so there is nothing per-request to compute and no dependency to keep up to date.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.CONTENT_SECURITY_POLICY)
        return response
