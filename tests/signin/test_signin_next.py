"""The page to land on after signing in (``?next=``), whatever its characters and length: the
sign-in page and its start answer headers a WSGI server can send, and the person lands on that
page after Slack (or on "My workspaces" when it is not one of this site's)."""

from __future__ import annotations

import wsgiref.util
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.cookies import SimpleCookie
from io import BytesIO
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client, RequestFactory
from django.utils.encoding import iri_to_uri
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from installations.signin import next_page
from installations.signin.flow import NEXT_COOKIE_NAME
from slackstandin import SlackStandIn
from tests.signin.conftest import local

# Every character a query string can carry once decoded (lone surrogates cannot be: Django
# decodes with "replace"), short and past every limit; and the paths this site would follow.
ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=1200)
PATHS = st.builds(lambda rest: "/" + rest, ANY_TEXT)
NEXT_VALUES = ANY_TEXT | PATHS | st.sampled_from(["/€", "/" + "😀" * 999, "/a;b", '/"x"'])


@contextmanager
def own_connections() -> Iterator[None]:
    """Requests leave the test's database connection alone, as Django's test client does (a
    server closes old connections at each request; here that connection is the test's)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


class Answer:
    """One answer of the project's WSGI application, its headers checked as a WSGI server checks
    them (PEP 3333: Latin-1 text, no line breaks; gunicorn refuses anything else with a 500)."""

    def __init__(self, path: str, query: str) -> None:
        environ: dict[str, Any] = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "HTTP_HOST": "testserver",
            "wsgi.url_scheme": "https",
            "wsgi.input": BytesIO(),
        }
        wsgiref.util.setup_testing_defaults(environ)
        self.headers: list[tuple[str, str]] = []
        with own_connections():
            body = get_wsgi_application()(environ, self._start_response)
            self.body = b"".join(body)
            getattr(body, "close", lambda: None)()

    def _start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], object]:
        self.status = int(status.split()[0])
        for name, value in headers:
            value.encode("latin-1")  # UnicodeEncodeError: no server can send it
            assert "\r" not in value and "\n" not in value
            self.headers.append((name, value))
        return lambda data: None  # the body comes back from the application instead

    def header(self, name: str) -> str:
        return next(value for key, value in self.headers if key == name)

    def cookie(self, name: str) -> str | None:
        jar: SimpleCookie = SimpleCookie()
        for key, value in self.headers:
            if key == "Set-Cookie":
                jar.load(value)
        morsel = jar.get(name)
        return morsel.value if morsel is not None and morsel.value else None


def expected_next(value: str) -> str:
    """What the views must make of ``value``: itself when it is one of this site's paths."""
    request = RequestFactory().get("/", secure=True)
    return next_page.safe_next(request, value)


THROUGH_WSGI = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@THROUGH_WSGI
@given(value=NEXT_VALUES)
def test_the_start_sends_any_next_through_a_wsgi_server_and_keeps_it(
    signin: SlackStandIn, value: str
) -> None:
    answer = Answer("/slack/signin/start", urlencode({"next": value}))
    if "\x00" in value:  # the NUL-byte middleware's 400, before any view
        assert answer.status == 400
        return
    assert answer.status == 302
    assert answer.header("Location").startswith(signin.signin_authorize_url + "?")
    kept = next_page.from_cookie(answer.cookie(NEXT_COOKIE_NAME))
    assert (kept or "") == expected_next(value)


@THROUGH_WSGI
@given(value=NEXT_VALUES)
def test_the_sign_in_page_links_to_the_start_with_any_next(
    signin: SlackStandIn, value: str
) -> None:
    answer = Answer("/slack/signin", urlencode({"next": value}))
    if "\x00" in value:  # the NUL-byte middleware's 400, before any view
        assert answer.status == 400
        return
    assert answer.status == 200
    wanted = expected_next(value)
    start = "/slack/signin/start" + (f"?{urlencode({'next': wanted})}" if wanted else "")
    assert f'href="{start}"'.encode() in answer.body


COOKIE_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~%")


@given(page=PATHS)
def test_any_page_goes_into_a_cookie_as_ascii_and_comes_back_whole(page: str) -> None:
    cookie = next_page.as_cookie(page)
    assert set(cookie) <= COOKIE_SAFE  # nothing a cookie value must quote, nothing past ASCII
    assert next_page.from_cookie(cookie) == page


@given(value=ANY_TEXT | st.text(st.sampled_from("%0123456789ABCDEFabcdef/"), max_size=30))
def test_any_cookie_value_decodes_to_text_or_nothing(value: str) -> None:
    page = next_page.from_cookie(value)
    assert page is None or page.encode("utf-8")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "value",
    ["/€", "/a b", "/a;b", '/"quoted"', "/50%", "/a%2Fb", "/admin/?q=ü&x=1", "/" + "😀" * 200],
)
def test_after_slack_the_person_lands_on_that_page(client_signin: Any, value: str) -> None:
    client = Client()
    landed = client_signin(client, next=value)
    assert landed.status_code == 302 and landed["Location"] == iri_to_uri(value)


@pytest.mark.django_db
def test_a_next_too_long_for_a_cookie_lands_on_my_workspaces(client_signin: Any) -> None:
    value = "/" + "😀" * 999  # 1000 characters, but 12 kB as a cookie: browsers drop it
    assert len(quote(value, safe="")) > next_page.MAX_COOKIE_LENGTH
    assert client_signin(Client(), next=value)["Location"] == "/slack/signin/workspaces"


FORGED = {
    "%2Fadmin%2F": "/admin/",  # as the start writes it
    "%2F%2Fevil.example": "/slack/signin/workspaces",  # decodes to another host
    "https%3A%2F%2Fevil.example%2F": "/slack/signin/workspaces",
    "%FF": "/slack/signin/workspaces",  # no UTF-8
    "%E2%82": "/slack/signin/workspaces",  # a character cut short
}


@pytest.mark.django_db
def test_the_callback_decodes_the_next_cookie_and_checks_it_again(
    client_signin: Any, signin: SlackStandIn
) -> None:
    for cookie, landing in FORGED.items():
        client = Client()
        start = client.get("/slack/signin/start")
        client.cookies[NEXT_COOKIE_NAME] = cookie
        landed = client.get(local(signin.approve_signin(start["Location"])))
        assert landed.status_code == 302 and landed["Location"] == landing, cookie
