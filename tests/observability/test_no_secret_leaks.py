"""No token, refresh token, webhook URL, client secret or code in logs, pages, rows or reprs.

Every logger runs at DEBUG, slack_sdk's included (it logs whole request and response bodies;
docs/security.md, "What is logged, and what never is"). Our own loggers must never receive a
secret (first line); what the configured console handler writes must hold none either (second
line: the redaction filter). Debug error pages and error mails:
tests/observability/test_debug_page_secrets.py.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection

from installations.models import Installation, Workspace
from installations.observability.redaction import RedactSecretsFilter, redact
from tests.support.db_faults import refuse_writes
from tests.support.flow import Flow, query_of

LOGGERS = ["", "slack_sdk", "django", "installations", "urllib3"]


@dataclass
class Captured:
    records: list[tuple[str, str, bool]] = field(default_factory=list)  # name, message, exc
    console: io.StringIO = field(default_factory=io.StringIO)

    def raw(self, prefix: str) -> str:
        return "\n".join(
            message
            for name, message, _ in self.records
            if name == prefix or name.startswith(prefix + ".")
        )


class _Keep(logging.Handler):
    """Keeps each record's message as it was logged, before any filter rewrites it."""

    def __init__(self, sink: list[tuple[str, str, bool]]) -> None:
        super().__init__(logging.DEBUG)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append((record.name, record.getMessage(), record.exc_info is not None))


@pytest.fixture
def debug_logs() -> Iterator[Captured]:
    """Everything at DEBUG; raw records kept, and the real console handler's output captured."""
    captured = Captured()
    root = logging.getLogger()
    console = [
        h
        for h in root.handlers
        if isinstance(h, logging.StreamHandler)
        and any(isinstance(f, RedactSecretsFilter) for f in h.filters)
    ]
    assert console, "settings.LOGGING must put the redaction filter on the console handler"
    old_streams = [h.setStream(captured.console) for h in console]
    old_levels = {name: logging.getLogger(name).level for name in LOGGERS}
    keep = _Keep(captured.records)
    root.handlers.insert(0, keep)  # ahead of the console handler, whose filter edits records
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield captured
    finally:
        root.removeHandler(keep)
        for name, level in old_levels.items():
            logging.getLogger(name).setLevel(level)
        for handler, stream in zip(console, old_streams, strict=True):
            handler.setStream(stream)


def refuse_installation_inserts() -> None:
    refuse_writes("installations_installation", event="INSERT")  # lifted by the test's rollback


def everything_a_response_shows(response: Any) -> str:
    headers = "\n".join(f"{k}: {v}" for k, v in response.items())
    cookies = response.cookies.output()
    return f"{headers}\n{cookies}\n{response.content.decode(errors='replace')}"


def test_nothing_secret_leaks_from_any_install_shape_or_failure(
    flow: Flow, settings: Any, debug_logs: Captured
) -> None:
    settings.SLACK_USER_SCOPES = "search:read"
    shown: list[str] = []
    codes: list[str] = []

    def go(**choices: Any) -> None:
        url = flow.start(
            user_token=choices.get("user_token", False), webhook=choices.get("webhook", False)
        )
        redirect = flow.standin.approve(url, **choices)
        codes.append(query_of(redirect)["code"])
        response = flow.back(redirect)
        shown.append(everything_a_response_shows(response))
        if response.status_code == 302:
            shown.append(everything_a_response_shows(flow.client.get(response["Location"])))

    go(user_token=True, webhook=True)
    go(org_wide=True, user_token=True, webhook=True)
    go(rotation=True, user_token=True)
    flow.standin.fail_next("oauth.v2.access", error="bad_client_secret")
    go()
    flow.standin.fail_next("auth.test", status=500)
    go(webhook=True)
    refuse_installation_inserts()
    go(rotation=True, user_token=True, webhook=True)

    secrets = [*flow.issued_secrets(), django_settings.SLACK_CLIENT_SECRET]
    assert len(flow.issued_secrets()) >= 15
    console = debug_logs.console.getvalue()
    ours = debug_logs.raw("installations")
    sdk_raw = debug_logs.raw("slack_sdk")
    # The capture works (our own DEBUG records of these installs are there), and slack_sdk's
    # logger gets neither a code nor a token: our client sends every request itself.
    assert "install failed reason=storage_error" in console and ours
    for secret in [*secrets, *codes]:
        assert secret not in sdk_raw
    # ... and none of it reached the console, our own records, or a page.
    for secret in [*secrets, *codes]:
        assert secret not in console
        assert secret not in ours
        for page in shown:
            assert secret not in page


def test_rows_reprs_and_dumpdata_hold_no_secret(flow: Flow, settings: Any) -> None:
    settings.SLACK_USER_SCOPES = "search:read"
    assert flow.install(user_token=True, webhook=True, rotation=True).status_code == 302
    dump = io.StringIO()
    call_command("dumpdata", "installations", stdout=dump)
    with connection.cursor() as cursor:
        raw = ""
        for table in ("installations_workspace", "installations_installation"):
            cursor.execute(f"SELECT * FROM {table}")
            raw += repr(cursor.fetchall())
    workspace, row = Workspace.objects.get(), Installation.objects.get()
    views = [dump.getvalue(), raw, repr(workspace), str(workspace), repr(row), str(row)]
    for secret in flow.issued_secrets():
        for view in views:
            assert secret not in view


def test_storage_failure_exception_and_log_hold_no_secret(flow: Flow, debug_logs: Captured) -> None:
    refuse_installation_inserts()
    response = flow.install(webhook=True)
    assert response.status_code == 500
    ours = [r for r in debug_logs.records if r[0].startswith("installations")]
    assert any("install could not be saved:" in r[1] for r in ours)
    for _, message, has_traceback in ours:
        assert not has_traceback  # a traceback could carry SQL parameters
        for secret in flow.issued_secrets():
            assert secret not in message


@pytest.mark.parametrize(
    "text",
    [
        "token xoxb-123-456-abcdef here",
        "rotated xoxe.xoxb-1-abcdef and refresh xoxe-1-abcdef",
        "hook https://hooks.slack.com/services/T0/B0/secret",
        "body_params: {'code': 'standin-code-abc', 'redirect_uri': 'https://x/y'}",
        '{"access_token": "opaque-value", "refresh_token": "other-value", "ok": true}',
        "client_secret=plain-value&code=plain-code",
    ],
)
def test_redaction_filter_masks_secret_shapes_and_secret_keys(text: str) -> None:
    cleaned = redact(text)
    for secret in (
        "xoxb-123",
        "xoxe",
        "hooks.slack.com/services/T0",
        "standin-code-abc",
        "opaque-value",
        "other-value",
        "plain-value",
        "plain-code",
    ):
        assert secret not in cleaned
    assert "[redacted]" in cleaned


def test_redaction_keeps_ordinary_text() -> None:
    text = "install failed reason=invalid_code status=400 token_type=bot url=https://slack.com/api/"
    assert redact(text) == text
