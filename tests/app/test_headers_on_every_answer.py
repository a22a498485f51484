"""Every answer carries the security headers: each status a middleware or view of ours can give,
in the project (whose MIDDLEWARE lists ours first) and in a host project that lists none of ours
(the app's views protect themselves: ``installations.middleware.protected``)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import BadRequest, PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.test import Client
from django.urls import include, path

from installations.install.cookie import COOKIE_NAME


def bad_request(request: HttpRequest) -> HttpResponse:
    raise BadRequest("refused")


def forbidden(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


def missing(request: HttpRequest) -> HttpResponse:
    raise Http404


def explode(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom")


# This module doubles as a URLconf (pytest.mark.urls): views that fail on purpose, then the site.
urlpatterns = [
    path("test/400", bad_request),
    path("test/403", forbidden),
    path("test/404", missing),
    path("test/500", explode),
    path("", include("slackinstall.urls")),
]

# What a host project might list: Django's own middleware only, none of ours.
HOST_MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]


def assert_protected(response: Any) -> None:
    policy = dict(
        part.strip().partition(" ")[::2] for part in response["Content-Security-Policy"].split(";")
    )
    assert policy["frame-ancestors"] == "'none'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] in ("same-origin", "no-referrer")


@pytest.fixture
def quiet_client(db: None) -> Client:
    """A client that receives the error pages instead of the exceptions behind them."""
    return Client(raise_request_exception=False)


@pytest.mark.urls(__name__)
@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("get", "/slack/install", 200),
        ("get", "/", 302),
        ("get", "/test/400", 400),
        ("get", "/test/403", 403),
        ("get", "/test/404", 404),
        ("get", "/no-such-page", 404),
        ("get", "/test/500", 500),
        ("get", "/slack/install?next=%00", 400),
        ("get", "/slack/\x00install", 400),
        ("get", "/admin/installations/workspace/?q=%00", 400),
        ("post", "/slack/install", 405),
        ("post", "/slack/events", 401),
        ("get", "/admin/", 302),
    ],
)
def test_every_status_of_the_project_carries_the_headers(
    quiet_client: Client, method: str, url: str, status: int
) -> None:
    response = getattr(quiet_client, method)(url, secure=True)
    assert response.status_code == status
    assert_protected(response)


def test_a_nul_in_a_cookie_is_refused_with_the_headers(quiet_client: Client) -> None:
    response = quiet_client.get("/slack/install", secure=True, HTTP_COOKIE=f"{COOKIE_NAME}=a\x00b")
    assert response.status_code == 400
    assert_protected(response)


APP_URLS = [
    ("get", "/slack/install", 200),
    ("get", "/slack/oauth_redirect", 400),
    ("get", "/slack/installed", 400),
    ("post", "/slack/events", 401),
    ("post", "/slack/commands", 404),
    ("post", "/slack/install", 405),
    ("get", "/slack/signin", 200),
    ("get", "/slack/signin/workspaces", 302),
    ("get", "/slack/install?team=%00", 400),
    ("get", "/slack/signin?next=%00", 400),
]


@pytest.mark.urls("tests.support.urls_host_app")
@pytest.mark.parametrize(("method", "url", "status"), APP_URLS)
def test_the_apps_views_protect_themselves_in_a_host_without_our_middleware(
    quiet_client: Client, settings: Any, method: str, url: str, status: int
) -> None:
    settings.MIDDLEWARE = HOST_MIDDLEWARE
    settings.SLACK_SIGNIN_ENABLED = True
    response = getattr(quiet_client, method)(url, secure=True)
    assert response.status_code == status
    assert_protected(response)


@pytest.mark.urls("tests.support.urls_host_app")
def test_a_view_that_set_its_own_policy_keeps_it(quiet_client: Client, settings: Any) -> None:
    settings.MIDDLEWARE = HOST_MIDDLEWARE
    response = quiet_client.get("/slack/oauth_redirect?state=x", secure=True)
    assert response["Referrer-Policy"] == "no-referrer"  # the callback's own, stricter one
