"""Production mode (DEBUG=0): HTTPS-only by default, plain HTTP with KB_HTTPS=0, and
``check --deploy`` clean. Each case runs in a fresh process, since settings are read
from the environment once at start-up."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings as django_settings

SETTINGS = [
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_PROXY_SSL_HEADER",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "X_FRAME_OPTIONS",
]

PRINT_SETTINGS = f"""
import json, django
django.setup()
from django.conf import settings
print(json.dumps({{name: getattr(settings, name) for name in {SETTINGS!r}}}))
"""

CHECK_DEPLOY = """
import django
django.setup()
from django.core.management import call_command
call_command("check", deploy=True, fail_level="WARNING")
"""

# Requests through the whole middleware stack in production mode; no page that needs the
# collected static files, so nothing has to be collected first.
REQUESTS = """
import json, django
django.setup()
from django.test import Client
client = Client()
plain = client.get("/api/v1/search?q=router", HTTP_HOST="kb.example.com")
proxied = client.get(
    "/api/v1/search?q=router", HTTP_HOST="kb.example.com", HTTP_X_FORWARDED_PROTO="https"
)
print(json.dumps({
    "plain": [plain.status_code, plain.get("Location", "")],
    "proxied": [proxied.status_code, dict(proxied.headers)],
}))
"""


def run_python(code: str, tmp_path, **env: str) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DEBUG", "KB_HTTPS", "SECRET_KEY", "ALLOWED_HOSTS")
    }
    environment.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        KB_DATA_DIR=str(tmp_path / "data"),
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="kb.example.com",
        **env,
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env=environment,
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


def settings_in(tmp_path, **env: str) -> dict:
    result = run_python(PRINT_SETTINGS, tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_check_deploy_is_clean_in_production_mode(tmp_path):
    result = run_python(CHECK_DEPLOY, tmp_path, DEBUG="0")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_check_deploy_warns_in_development_mode(tmp_path):
    """The check is real: with DEBUG=1 (no HTTPS settings) it fails."""
    result = run_python(CHECK_DEPLOY, tmp_path, DEBUG="1")

    assert result.returncode != 0
    assert "security.W018" in result.stderr  # DEBUG on


def test_production_mode_is_https_only_by_default(tmp_path):
    values = settings_in(tmp_path, DEBUG="0")

    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] >= 60 * 60 * 24 * 180
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["SESSION_COOKIE_HTTPONLY"] is True
    assert values["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert values["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert values["SECURE_REFERRER_POLICY"] == "same-origin"
    assert values["X_FRAME_OPTIONS"] == "DENY"


def test_kb_https_1_is_the_same_as_unset(tmp_path):
    assert settings_in(tmp_path, DEBUG="0", KB_HTTPS="1") == settings_in(tmp_path, DEBUG="0")


@pytest.mark.parametrize("env", [{"DEBUG": "0", "KB_HTTPS": "0"}, {"DEBUG": "1"}])
def test_plain_http_mode_turns_off_secure_cookies_hsts_and_redirect(tmp_path, env):
    values = settings_in(tmp_path, **env)

    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["CSRF_COOKIE_SECURE"] is False
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0
    # What does not depend on the transport stays on.
    assert values["SESSION_COOKIE_HTTPONLY"] is True
    assert values["X_FRAME_OPTIONS"] == "DENY"


def test_production_mode_redirects_http_and_sends_hsts_behind_the_proxy(tmp_path):
    result = run_python(REQUESTS, tmp_path, DEBUG="0")
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)

    assert seen["plain"] == [301, "https://kb.example.com/api/v1/search?q=router"]
    status, headers = seen["proxied"]
    assert status == 401  # served (not redirected): the proxy said the request was https
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_kb_https_0_serves_plain_http(tmp_path):
    result = run_python(REQUESTS, tmp_path, DEBUG="0", KB_HTTPS="0")
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)

    assert seen["plain"][0] == 401
    assert "Strict-Transport-Security" not in seen["proxied"][1]
