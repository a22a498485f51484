"""Issue 11, class 3: with DJANGO_DEBUG on, a 500 shows no secret, on any of its renderings.

Crashes are forced deep in the two paths that hold the most secrets: signature checking (the
signing secret and the expected digest, a valid signature for the body) and the token exchange
(the code, the state, the client secret as HTTP Basic, and the tokens Slack just issued). Each
crash is fetched as the technical 500 page, as its plain-text twin (Accept: text/plain) and as
the error mail django.utils.log.AdminEmailHandler sends, and each must render (frames, the cleansed
marker) without one secret value. The request also carries cookies (session, CSRF, the state
cookie), an Authorization header and, as runserver does, the process environment in its META.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Iterator
from typing import Any

import django
import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.core.mail import EmailMultiAlternatives
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.test import Client, RequestFactory
from django.utils.log import AdminEmailHandler
from django.views import debug

from installations.conf import slack_config
from installations.install.cookie import COOKIE_NAME
from installations.observability import error_reporting
from installations.slack import signature as slack_signature
from installations.slack import transport as slack_transport
from tests.support.flow import Flow, query_of

REPORTER = "installations.observability.error_reporting.DebugSafeExceptionReporter"
FILTER = "installations.observability.error_reporting.DebugSafeExceptionFilter"
MARK = error_reporting.CLEANSED


class Browser:
    """Cookies, an Authorization header and runserver's environ, each holding a fresh secret."""

    def __init__(self) -> None:
        self.session = secrets.token_urlsafe(24)
        self.csrf = secrets.token_urlsafe(24)
        self.bearer = "fake-bearer-" + secrets.token_hex(12)
        self.db_password = "fake-db-password-" + secrets.token_hex(8)
        self.sentry_key = secrets.token_hex(16)

    def prepare(self, client: Client) -> None:
        client.cookies["sessionid"] = self.session
        client.cookies["csrftoken"] = self.csrf

    def environ(self) -> dict[str, Any]:
        """What a request's META holds under runserver, which copies os.environ into it."""
        return {
            "HTTP_AUTHORIZATION": f"Bearer {self.bearer}",
            "DATABASE_URL": f"postgres://slackinstall:{self.db_password}@db.internal:5432/x",
            "SENTRY_DSN": f"https://{self.sentry_key}@o1.ingest.sentry.invalid/1",
            "DJANGO_SECRET_KEY": django_settings.SECRET_KEY,
            "TOKEN_ENCRYPTION_KEYS": django_settings.TOKEN_ENCRYPTION_KEYS,
            "SLACK_SIGNING_SECRET": django_settings.SLACK_SIGNING_SECRET,
            "SLACK_CLIENT_SECRET": django_settings.SLACK_CLIENT_SECRET,
        }

    def secrets(self) -> list[str]:
        return [self.session, self.csrf, self.bearer, self.db_password, self.sentry_key]


def settings_secrets() -> list[str]:
    keys = [entry.split(":", 1)[1] for entry in django_settings.TOKEN_ENCRYPTION_KEYS.split(",")]
    config = slack_config()
    basic = base64.b64encode(f"{config.client_id}:{config.client_secret}".encode()).decode()
    return [
        django_settings.SECRET_KEY,
        django_settings.SLACK_SIGNING_SECRET,
        django_settings.SLACK_CLIENT_SECRET,
        basic,  # how the client secret travels to oauth.v2.access
        *keys,
    ]


WINDOW = 16


def shows(rendering: str, value: str) -> bool:
    """Whether any 16 characters of ``value`` appear: the page pretty-prints long strings and
    bytes in pieces, so a whole secret may be there without appearing in one piece."""
    if len(value) <= WINDOW:
        return value in rendering
    return any(value[i : i + WINDOW] in rendering for i in range(len(value) - WINDOW + 1))


def assert_shows_none(rendering: str, values: list[str]) -> None:
    leaked = [value for value in values if shows(rendering, value)]
    assert not leaked, f"{len(leaked)} secret value(s) shown, e.g. one of length {len(leaked[0])}"


def clear_cached_reporter_filter() -> None:
    """Django caches the filter it builds from the setting (functools.lru_cache)."""
    cached = debug.get_default_exception_reporter_filter
    assert hasattr(cached, "cache_clear")  # django-stubs types it without the lru_cache wrapper
    cached.cache_clear()


@pytest.fixture
def debug_on(settings: Any) -> Iterator[None]:
    """DEBUG as `make run` has it, with the cleansing filter and reporter; error mails captured."""
    settings.DEBUG = True
    settings.DEFAULT_EXCEPTION_REPORTER = REPORTER
    settings.DEFAULT_EXCEPTION_REPORTER_FILTER = FILTER
    # Django 6.0 takes plain addresses (and deprecates pairs); 5.2 takes (name, address) pairs.
    address = "ops@example.invalid"
    settings.ADMINS = [address] if django.VERSION >= (6, 0) else [("Ops", address)]
    clear_cached_reporter_filter()  # cached on first use
    mailer = AdminEmailHandler(include_html=True)
    request_logger = logging.getLogger("django.request")
    request_logger.addHandler(mailer)
    try:
        yield
    finally:
        request_logger.removeHandler(mailer)
        clear_cached_reporter_filter()


@pytest.fixture
def django_default_reporting(settings: Any) -> Iterator[None]:
    """Django's own filter and reporter, DEBUG on: what the page showed before the fix."""
    settings.DEBUG = True
    settings.DEFAULT_EXCEPTION_REPORTER = "django.views.debug.ExceptionReporter"
    settings.DEFAULT_EXCEPTION_REPORTER_FILTER = "django.views.debug.SafeExceptionReporterFilter"
    clear_cached_reporter_filter()
    yield
    clear_cached_reporter_filter()


def renderings(response: HttpResponseBase) -> str:
    assert response.status_code == 500
    assert isinstance(response, HttpResponse)  # the error page, rendered whole
    return response.content.decode()


def mail_renderings() -> list[str]:
    assert mail.outbox, "AdminEmailHandler sent no error mail"
    message = mail.outbox[-1]
    assert isinstance(message, EmailMultiAlternatives)  # AdminEmailHandler(include_html=True)
    alternatives = [str(body) for body, _ in message.alternatives]
    return [str(message.subject), str(message.body), *alternatives]


# --- A crash inside signature checking ------------------------------------------------------------
def signed_request(body: bytes) -> tuple[dict[str, Any], str]:
    timestamp = str(int(time.time()))
    signed = b"v0:" + timestamp.encode() + b":" + body
    digest = hmac.new(slack_config().signing_secret.encode(), signed, hashlib.sha256).hexdigest()
    headers = {
        "HTTP_X_SLACK_REQUEST_TIMESTAMP": timestamp,
        "HTTP_X_SLACK_SIGNATURE": "v0=" + digest,
    }
    return headers, digest


@pytest.fixture
def crash_in_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    def compare_then_crash(expected: bytes, given: bytes) -> bool:
        raise RuntimeError("forced crash while comparing signatures")

    monkeypatch.setattr(f"{slack_signature.__name__}.hmac.compare_digest", compare_then_crash)


def post_signed_event(client: Client, browser: Browser, accept: str) -> tuple[Any, str]:
    body = b'{"type": "url_verification", "challenge": "' + secrets.token_hex(8).encode() + b'"}'
    headers, digest = signed_request(body)
    response = client.post(
        "/slack/events",
        data=body,
        content_type="application/json",
        HTTP_ACCEPT=accept,
        **headers,
        **browser.environ(),
    )
    return response, digest


@pytest.mark.parametrize("accept", ["text/html", "text/plain"])
def test_a_crash_inside_signature_checking_shows_no_secret(
    debug_on: None, crash_in_compare_digest: None, db: Any, accept: str
) -> None:
    browser, client = Browser(), Client(raise_request_exception=False)
    browser.prepare(client)
    response, digest = post_signed_event(client, browser, accept)
    page = renderings(response)
    assert "forced crash while comparing signatures" in page
    assert "signature_problem" in page and "compare_then_crash" in page  # the frames rendered
    assert MARK in page
    for rendering in [page, *mail_renderings()]:
        assert_shows_none(rendering, [*settings_secrets(), *browser.secrets(), digest])


def test_before_the_fix_the_same_crash_showed_the_signing_secret(
    django_default_reporting: None, crash_in_compare_digest: None, db: Any
) -> None:
    """The scenario is real: Django's own reporting, DEBUG on, shows what the test above hides."""
    browser, client = Browser(), Client(raise_request_exception=False)
    response, digest = post_signed_event(client, browser, "text/html")
    page = renderings(response)
    assert shows(page, django_settings.SLACK_SIGNING_SECRET)
    assert shows(page, digest)
    assert shows(page, browser.db_password)  # DATABASE_URL: no secret-looking name


# --- A crash inside the token exchange ------------------------------------------------------------
@pytest.fixture
def crash_after_slack_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The transport returns oauth.v2.access's answer, tokens in hand, and then fails."""
    real_send = slack_transport.send

    def send_then_crash(*args: Any, **kwargs: Any) -> Any:
        answer = real_send(*args, **kwargs)
        if b"access_token" in answer.body:
            raise RuntimeError("forced crash after Slack issued tokens")
        return answer

    monkeypatch.setattr(slack_transport, "send", send_then_crash)


def crash_an_install(flow: Flow, browser: Browser, accept: str) -> tuple[str, list[str]]:
    """One install that crashes in the exchange: the page, and every secret it had in reach."""
    flow.client = Client(raise_request_exception=False)
    browser.prepare(flow.client)
    redirect = flow.standin.approve(
        flow.start(user_token=True, webhook=True), user_token=True, webhook=True, rotation=True
    )
    params = query_of(redirect)
    state_cookie = flow.client.cookies[COOKIE_NAME].value
    response = flow.client.get(
        "/slack/oauth_redirect",
        params,
        secure=True,
        HTTP_ACCEPT=accept,
        **browser.environ(),
    )
    page = renderings(response)
    issued = flow.issued_secrets()
    assert len(issued) >= 4, "the stand-in issued no tokens: the crash came too early"
    values = [
        *settings_secrets(),
        *browser.secrets(),
        *issued,
        params["code"],
        params["state"],
        state_cookie,
    ]
    return page, values


@pytest.mark.parametrize("accept", ["text/html", "text/plain"])
def test_a_crash_inside_the_token_exchange_shows_no_secret(
    flow: Flow, settings: Any, debug_on: None, crash_after_slack_answers: None, accept: str
) -> None:
    settings.SLACK_USER_SCOPES = "search:read"
    page, values = crash_an_install(flow, Browser(), accept)
    assert "forced crash after Slack issued tokens" in page
    assert "send_then_crash" in page and "exchange_code" in page  # the frames rendered
    assert MARK in page
    assert "/slack/oauth_redirect" in page  # the URL is shown, its code and state are not
    for rendering in [page, *mail_renderings()]:
        assert_shows_none(rendering, values)


def test_before_the_fix_the_same_crash_showed_the_code_and_the_tokens(
    flow: Flow, settings: Any, django_default_reporting: None, crash_after_slack_answers: None
) -> None:
    settings.SLACK_USER_SCOPES = "search:read"
    browser = Browser()
    page, _ = crash_an_install(flow, browser, "text/html")
    assert all(shows(page, token) for token in flow.issued_secrets())
    assert shows(page, django_settings.SLACK_CLIENT_SECRET)
    assert shows(page, flow.client.cookies[COOKIE_NAME].value)  # the state cookie's binding


# --- The mail report on its own -------------------------------------------------------------------
def test_the_mail_report_of_a_request_holds_no_query_secret_cookie_or_header(
    debug_on: None,
) -> None:
    browser, code, state = Browser(), secrets.token_urlsafe(16), secrets.token_urlsafe(32)
    request = RequestFactory().get(
        "/slack/oauth_redirect",
        {"code": code, "state": state, "team": "T0STANDIN1"},
        HTTP_COOKIE=f"{COOKIE_NAME}={state}; sessionid={browser.session}",
        **browser.environ(),
    )
    client_secret = slack_config().client_secret
    try:
        raise ValueError(f"could not use code={code} with {client_secret}")
    except ValueError as exc:
        reporter = error_reporting.DebugSafeExceptionReporter(
            request, type(exc), exc, exc.__traceback__, is_email=True
        )
        text, html = reporter.get_traceback_text(), reporter.get_traceback_html()
    for rendering in (text, html):
        assert "T0STANDIN1" in rendering  # harmless parameters are still shown
        assert_shows_none(rendering, [*settings_secrets(), *browser.secrets(), code, state])


# --- Units: settings and META -------------------------------------------------------------------
def test_every_secret_setting_is_cleansed_and_settings_still_show() -> None:
    safe = error_reporting.DebugSafeExceptionFilter().get_safe_settings()
    rendered = repr(safe)
    assert_shows_none(rendered, settings_secrets())
    assert safe["SLACK_SIGNING_SECRET"] == MARK and safe["TOKEN_ENCRYPTION_KEYS"] == MARK
    assert safe["SLACK_CLIENT_ID"] == django_settings.SLACK_CLIENT_ID  # not a secret


def test_meta_names_django_misses_are_cleansed_by_name_or_content() -> None:
    browser = Browser()
    request = RequestFactory().get("/x", {"state": "s" * 20}, **browser.environ())
    django_meta = debug.SafeExceptionReporterFilter().get_safe_request_meta(request)
    ours = error_reporting.DebugSafeExceptionFilter().get_safe_request_meta(request)
    assert browser.db_password in str(django_meta) and browser.sentry_key in str(django_meta)
    assert "s" * 20 in django_meta["QUERY_STRING"]
    assert_shows_none(str(ours), [*browser.secrets(), *settings_secrets(), "s" * 20])
    assert ours["QUERY_STRING"] in (f"state={MARK}", "state=[redacted]")  # either mask


@pytest.mark.parametrize(
    "value",
    [
        "xoxb-1-fake-" + "a" * 10,
        "https://hooks.slack.com/services/T0/B0/" + "x" * 12,
        "postgres://user:" + "p" * 12 + "@host/db",
        "Basic " + "Q" * 20,
        {"incoming_webhook": {"url": "https://example.invalid/hook"}},
        {"client_secret": "plain-value"},
    ],
)
def test_values_that_look_secret_are_hidden_whatever_their_name(value: Any) -> None:
    assert error_reporting.reveals(value, set())


def test_the_settings_select_the_cleansing_filter_and_reporter() -> None:
    """The classes above only help when Django uses them: needs both lines in settings.py."""
    assert django_settings.DEFAULT_EXCEPTION_REPORTER_FILTER == FILTER
    assert django_settings.DEFAULT_EXCEPTION_REPORTER == REPORTER
