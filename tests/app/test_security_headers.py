"""Security headers, the proxy scheme, CSRF origins, cookies and error pages.

Tests run with the production settings (DJANGO_DEBUG off); only the SSL redirect is off by default
here (tests/support/testenv.py), so the tests that need it turn it on.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.urls import include, path
from django.views.decorators.debug import sensitive_variables

from tests.support.flow import assert_nothing_from_another_origin

CANARY_TOKEN = "xoxb-" + "9" * 12 + "-CANARY"


@sensitive_variables("token")
def explode(request: HttpRequest) -> HttpResponse:
    token = CANARY_TOKEN
    raise RuntimeError(f"boom with {token}")


def forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied("staff only: " + CANARY_TOKEN)


def suspicious(request: HttpRequest) -> HttpResponse:
    raise SuspiciousOperation("odd input " + CANARY_TOKEN)


# This module doubles as a URLconf (pytest.mark.urls) adding views that fail on purpose.
urlpatterns = [
    path("test/explode", explode),
    path("test/forbidden", forbidden),
    path("test/suspicious", suspicious),
    path("", include("slackinstall.urls")),
]


def test_https_responses_carry_the_security_headers(client: Client, db: None) -> None:
    response = client.get("/healthz", secure=True)
    assert response.status_code == 200
    parts = response["Strict-Transport-Security"].split(";")
    hsts = dict(part.strip().partition("=")[::2] for part in parts)
    assert int(hsts["max-age"]) >= 31536000
    assert "preload" not in hsts  # a one-way decision left to the operator
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("url", ["/slack/install", "/admin/login/", "/no-such-page"])
def test_our_pages_and_the_admin_forbid_framing_and_foreign_code(
    client: Client, db: None, url: str
) -> None:
    response = client.get(url, secure=True)
    assert response["X-Frame-Options"] == "DENY"
    policy = {
        name: value
        for name, _, value in (
            part.strip().partition(" ") for part in response["Content-Security-Policy"].split(";")
        )
    }
    assert policy["frame-ancestors"] == "'none'"
    assert policy["script-src"] == "'self'"
    assert policy["default-src"] == "'self'"
    assert policy["object-src"] == "'none'"


def test_the_install_page_needs_nothing_from_another_origin(client: Client, db: None) -> None:
    html = client.get("/slack/install", secure=True).content.decode()
    assert 'class="add-to-slack"' in html  # the button is drawn inline, no remote image
    assert_nothing_from_another_origin(html)


def test_the_callback_sends_no_referrer_and_is_not_cached(client: Client, db: None) -> None:
    response = client.get("/slack/oauth_redirect", {"error": "access_denied"}, secure=True)
    assert response["Referrer-Policy"] == "no-referrer"
    assert response["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [(None, 301), ("http", 301), ("https", 200)],
)
def test_behind_a_proxy_only_https_is_served(
    settings: Any, db: None, forwarded: str | None, expected: int
) -> None:
    settings.SECURE_SSL_REDIRECT = True  # the production default
    headers = {"X-Forwarded-Proto": forwarded} if forwarded else {}
    response = Client().get("/healthz", headers=headers)
    assert response.status_code == expected
    if expected == 301:
        assert response["Location"] == "https://testserver/healthz"
    else:
        assert response.json() == {"status": "ok"}


def test_proxy_settings_trust_only_the_scheme_header(settings: Any) -> None:
    assert settings.SECURE_PROXY_SSL_HEADER == ("HTTP_X_FORWARDED_PROTO", "https")
    assert settings.USE_X_FORWARDED_HOST is False
    assert "*" not in settings.ALLOWED_HOSTS


@pytest.fixture
def staff_password(django_user_model: Any) -> str:
    password = secrets.token_urlsafe(16)
    django_user_model.objects.create_user("staffer", password=password, is_staff=True)
    return password


def _login_post(origin: str, password: str) -> HttpResponse:
    client = Client(enforce_csrf_checks=True)
    client.get("/admin/login/", secure=True)
    token = client.cookies["csrftoken"].value
    answer = client.post(
        "/admin/login/?next=/admin/",
        {"username": "staffer", "password": password, "csrfmiddlewaretoken": token},
        secure=True,
        headers={"Origin": origin},
    )
    assert isinstance(answer, HttpResponse)  # never streamed
    return answer


def test_admin_login_accepts_a_trusted_origin_and_refuses_another(
    settings: Any, db: None, staff_password: str
) -> None:
    # The proxy's public name differs from the Host the app sees: only the trusted list helps.
    settings.CSRF_TRUSTED_ORIGINS = ["https://install.example.com"]
    good = _login_post("https://install.example.com", staff_password)
    assert good.status_code == 302 and good["Location"] == "/admin/"

    evil = _login_post("https://evil.example", staff_password)
    assert evil.status_code == 403
    assert "sessionid" not in evil.cookies


def test_every_cookie_is_secure_and_lax(client: Client, db: None, staff_password: str) -> None:
    install = client.get("/slack/install", secure=True)
    client.get("/admin/login/", secure=True)
    login = client.post(
        "/admin/login/?next=/admin/",
        {"username": "staffer", "password": staff_password},
        secure=True,
    )
    cookies = {**install.cookies, **login.cookies}
    csrf = client.cookies["csrftoken"]
    assert {"sessionid", "slack-app-oauth-state"} <= set(cookies)
    for morsel in [*cookies.values(), csrf]:
        assert morsel["secure"], morsel.key
        assert morsel["samesite"] == "Lax", morsel.key
    assert cookies["sessionid"]["httponly"]
    assert cookies["slack-app-oauth-state"]["httponly"]


ERROR_PAGES = [
    ("/test/explode", 500, "Something went wrong"),
    ("/test/forbidden", 403, "Access denied"),
    ("/test/suspicious", 400, "Bad request"),
    ("/no-such-page", 404, "Page not found"),
]


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(("url", "status", "title"), ERROR_PAGES)
def test_error_pages_reveal_nothing(
    settings: Any, db: None, url: str, status: int, title: str
) -> None:
    client = Client(raise_request_exception=False)
    response = client.get(url, {"code": "CANARY-CODE-1", "state": "CANARY-STATE"}, secure=True)
    assert response.status_code == status
    body = response.content.decode()
    assert f"<h1>{title}</h1>" in body
    for leak in (
        CANARY_TOKEN,
        "CANARY-CODE",
        "CANARY-STATE",
        url,
        "Traceback",
        "RuntimeError",
        "SECRET_KEY",
        settings.SECRET_KEY,
        "testserver",
    ):
        assert leak not in body, leak


def test_a_disallowed_host_gets_the_plain_400_page(db: None) -> None:
    response = Client().get("/healthz", secure=True, headers={"Host": "evil.example"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "<h1>Bad request</h1>" in body and "evil.example" not in body


@pytest.mark.urls(__name__)
def test_a_forced_exception_is_logged_once_as_json_without_the_token(
    db: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="django.request"):
        Client(raise_request_exception=False).get("/test/explode", secure=True)
    [record] = [r for r in caplog.records if r.name == "django.request"]
    # Format it with the handler the settings configured: redaction filter, then JSON.
    console = next(h for h in logging.getLogger().handlers if h.filters)
    assert console.filter(record)
    line = console.format(record)
    assert '"level": "ERROR"' in line and '"status_code": 500' in line
    assert "RuntimeError" in line and "[redacted]" in line
    assert CANARY_TOKEN not in line
