"""Login throttling (django-axes) for logins over HTTP only."""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' check, skipped when ``authenticate`` is called without a request.

    Every login over HTTP (the login page, the admin's) passes its request and is
    throttled. A call without one is code on the server (``Client.login`` in tests, a
    shell), which axes would refuse with an error; it is nobody guessing passwords, so it
    goes straight to the model backend.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
