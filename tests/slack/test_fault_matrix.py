"""Every Slack call the product makes, times every fault mode of the stand-in (issue 11).

Rows are the calls, each driven through the product's real entry point: the callback view
(``oauth.v2.access`` and ``auth.test`` of an install, and ``auth.revoke`` of what a failed
install was issued), ``slack_refresh_tokens`` (the refresh), ``slack_verify`` (``auth.test``)
and the staff revoke service (``auth.revoke``). Columns are the stand-in's fault modes. Every
case asserts:
- no 500 and nothing escaping: a page of ours, or a command's CommandError at most;
- no ERROR log record with a traceback;
- nothing issued left live: each token the stand-in issued in an answer that reached us whole
  is stored or revoked (an answer cut short or trickled past the deadline cannot be read, so
  what it carried cannot be revoked by anyone: the stand-in records those as ``lost``);
- nothing stored lost: every stored token still decrypts, and none that is still live at
  Slack was forgotten;
- for the slow faults, the database stays writable while the call is in flight.
The deadline is 1 s here, so the trickling answers end quickly.
"""

from __future__ import annotations

import html
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client

from installations.lifecycle.staff_actions import RevokeOutcome, revoke_workspace
from installations.models import Installation, Workspace
from installations.slack.transport import MAX_ANSWER_BYTES
from slackstandin import SlackStandIn
from tests.support.factories import install_through_standin
from tests.support.flow import Flow
from tests.support.lifecycle import make_due
from tests.support.standin import is_live, live_and_unkept

PAGES = (302, 400, 502, 503)  # success, or one of our error pages; never a 500
QUICK_WRITE_SECONDS = 2.0


@dataclass
class Case:
    """One row's state while its call runs."""

    standin: SlackStandIn
    flow: Flow | None = None
    redirect: str = ""
    workspace: Workspace | None = None
    outcome: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class Row:
    method: str  # the stand-in method the fault is queued on
    refusal: str  # an error code Slack sends for this call
    wrong_types: dict[str, Any]  # a patch giving the real answer wrong types, tokens legible
    prepare: Callable[[Case], None]
    run: Callable[[Case], None]


# --- the rows ---------------------------------------------------------------------------------


def start_install(case: Case) -> None:
    assert case.flow is not None
    url = case.flow.start(user_token=True, webhook=True)
    case.redirect = case.standin.approve(url, rotation=True, user_token=True, webhook=True)


def start_failing_install(case: Case) -> None:
    """An install that fails after Slack issued its tokens, so they must be revoked."""
    start_install(case)
    case.standin.fail_next("auth.test", error="account_inactive")


def finish_install(case: Case) -> None:
    assert case.flow is not None
    response = case.flow.back(case.redirect)
    assert response.status_code in PAGES, response.content[:300]
    case.outcome.append(response.status_code)


def installed(case: Case) -> None:
    case.workspace, _ = install_through_standin(case.standin, user_token=True)


def installed_rotating(case: Case) -> None:
    case.workspace, _ = install_through_standin(case.standin, rotation=True, user_token=True)
    make_due(case.workspace)


def command(name: str, *args: str) -> Callable[[Case], None]:
    def run(case: Case) -> None:
        try:
            call_command(name, *args)
        except CommandError as exc:  # a failed run says so and exits 1; never a traceback
            case.outcome.append(str(exc))

    return run


def staff_revoke(case: Case) -> None:
    assert case.workspace is not None
    outcome = revoke_workspace(case.workspace, actor="staff:matrix")
    assert isinstance(outcome, RevokeOutcome)
    case.outcome.append(outcome)


INSTALL_PATCH = {"team": "T0STANDIN1", "authed_user.expires_in": "43200"}
AUTH_TEST_PATCH = {"bot_id": 42, "is_enterprise_install": "no"}
REVOKE_PATCH = {"revoked": "yes"}
ROWS = {
    "install/oauth.v2.access": Row(
        "oauth.v2.access", "invalid_code", INSTALL_PATCH, start_install, finish_install
    ),
    "install/auth.test": Row(
        "auth.test", "invalid_auth", AUTH_TEST_PATCH, start_install, finish_install
    ),
    "install-failed/auth.revoke": Row(
        "auth.revoke", "internal_error", REVOKE_PATCH, start_failing_install, finish_install
    ),
    "refresh/oauth.v2.access": Row(
        "oauth.v2.access",
        "invalid_refresh_token",
        {"expires_in": "43200"},
        installed_rotating,
        command("slack_refresh_tokens"),
    ),
    "verify/auth.test": Row(
        "auth.test",
        "invalid_auth",
        AUTH_TEST_PATCH,
        installed,
        command("slack_verify", "--concurrency", "1"),
    ),
    "staff/auth.revoke": Row(
        "auth.revoke", "internal_error", REVOKE_PATCH, installed, staff_revoke
    ),
}

# --- the columns ------------------------------------------------------------------------------

FAULTS: dict[str, Callable[[Row, str], dict[str, Any]]] = {
    "refusal": lambda row, _: {"error": row.refusal},
    "429 Retry-After abc": lambda row, _: {"status": 429, "retry_after": "abc"},
    "429 Retry-After -5": lambda row, _: {"status": 429, "retry_after": "-5"},
    "429 Retry-After 1e9": lambda row, _: {"status": 429, "retry_after": "1e9"},
    "429 Retry-After 86400": lambda row, _: {"status": 429, "retry_after": "86400"},
    "429 Retry-After empty": lambda row, _: {"status": 429, "retry_after": ""},
    "500 JSON": lambda row, _: {"status": 500},
    "503 HTML": lambda row, _: {"status": 503, "html": True},
    "200 HTML": lambda row, _: {"html": True},
    "truncated": lambda row, _: {"truncate": 25},
    "wrong types": lambda row, _: {"patch": row.wrong_types},
    "not an object": lambda row, _: {"body": ["ok", True]},
    "JSON labelled text/html": lambda row, _: {"content_type": "text/html; charset=utf-8"},
    "UTF-16": lambda row, _: {"charset": "utf-16"},
    "huge": lambda row, _: {"huge": MAX_ANSWER_BYTES + 4096},
    "trickle": lambda row, _: {"trickle": 0.05},
    "delay past the deadline": lambda row, _: {"delay": 1.5},
    "redirect elsewhere": lambda row, elsewhere: {"redirect": f"{elsewhere}/api/{row.method}"},
    "drop": lambda row, _: {"drop": True},
}
SLOW = frozenset({"trickle", "delay past the deadline"})


# --- what must hold ---------------------------------------------------------------------------


def stored_tokens() -> dict[tuple[str, str], str]:
    """Every stored token, decrypted (raises if any no longer decrypts)."""
    found: dict[tuple[str, str], str] = {}
    for workspace in Workspace.objects.all():
        for name in ("bot_token", "bot_refresh_token"):
            if value := getattr(workspace, name):
                found[(f"workspace {workspace.pk}", name)] = value
    for row in Installation.objects.all():
        for name in ("user_token", "user_refresh_token", "incoming_webhook_url"):
            if value := getattr(row, name):
                found[(f"installation {row.pk}", name)] = value
    return found


def run_and_probe_writes(case: Case, row: Row) -> list[float]:
    """Run the row's call in a thread; once it reached Slack, time a write from here."""
    before = len(case.standin.calls_to(row.method))
    errors: list[BaseException] = []

    def call() -> None:
        try:
            row.run(case)
        except BaseException as exc:  # re-raised below
            errors.append(exc)
        finally:
            connection.close()

    worker = threading.Thread(target=call)
    worker.start()
    deadline = time.monotonic() + 10
    while len(case.standin.calls_to(row.method)) == before and worker.is_alive():
        assert time.monotonic() < deadline, f"{row.method} never reached the stand-in"
        time.sleep(0.01)
    time.sleep(0.1)  # the call now waits for its answer
    started = time.monotonic()
    Group.objects.create(name=f"written while Slack answers {uuid.uuid4()}")
    took = time.monotonic() - started
    worker.join(30)
    assert not worker.is_alive(), "the call outlived its deadline"
    if errors:
        raise errors[0]
    return [took]


def check_case(
    row_name: str,
    fault_name: str,
    standin: SlackStandIn,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    elsewhere: tuple[str, list[bytes]],
) -> None:
    row = ROWS[row_name]
    settings.SLACK_HTTP_TIMEOUT_SECONDS = 1
    settings.SLACK_USER_SCOPES = "search:read"
    case = Case(standin=standin, flow=Flow(standin, Client()))
    row.prepare(case)
    before = stored_tokens()
    elsewhere_url, elsewhere_received = elsewhere
    standin.fail_next(row.method, **FAULTS[fault_name](row, elsewhere_url))
    caplog.set_level(logging.WARNING)

    if fault_name in SLOW:
        write_times = run_and_probe_writes(case, row)
        assert max(write_times) < QUICK_WRITE_SECONDS, write_times
    else:
        row.run(case)

    standin.wait_idle()  # a delayed answer is written (or found unwanted) only after its sleep
    tracebacks = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert tracebacks == [], [r.getMessage() for r in tracebacks]
    after = stored_tokens()  # every stored token still decrypts
    forgotten = [
        key for key, token in before.items() if after.get(key) != token and is_live(standin, token)
    ]
    assert forgotten == [], forgotten
    assert live_and_unkept(standin, set(after.values())) == []
    assert elsewhere_received == []


@pytest.mark.parametrize("fault_name", [name for name in FAULTS if name not in SLOW])
@pytest.mark.parametrize("row_name", list(ROWS))
@pytest.mark.django_db
def test_fault_matrix(
    row_name: str,
    fault_name: str,
    standin: SlackStandIn,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    elsewhere: tuple[str, list[bytes]],
) -> None:
    check_case(row_name, fault_name, standin, settings, caplog, elsewhere)


@pytest.mark.parametrize("fault_name", sorted(SLOW))
@pytest.mark.parametrize("row_name", list(ROWS))
@pytest.mark.django_db(transaction=True)
def test_fault_matrix_slow_answers(
    row_name: str,
    fault_name: str,
    standin: SlackStandIn,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    elsewhere: tuple[str, list[bytes]],
) -> None:
    """The same checks while the answer trickles in, the database written to meanwhile."""
    check_case(row_name, fault_name, standin, settings, caplog, elsewhere)


# --- what a person installing sees ------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "fault"),
    [
        ("oauth.v2.access", {"patch": INSTALL_PATCH}),
        ("oauth.v2.access", {"patch": {"access_token": 5}}),
        ("oauth.v2.access", {"body": ["ok", True]}),
        ("oauth.v2.access", {"html": True}),
        ("oauth.v2.access", {"truncate": 25}),
        ("oauth.v2.access", {"content_type": "text/html; charset=utf-8"}),
        ("oauth.v2.access", {"charset": "utf-16"}),
        ("oauth.v2.access", {"raw": b"\xff\xfe\x00", "content_type": "application/json"}),
        ("auth.test", {"patch": AUTH_TEST_PATCH}),
        ("auth.test", {"patch": {"bot_id": None}}),
        ("auth.test", {"body": "ok"}),
    ],
)
def test_an_unusable_answer_shows_its_page_and_what_was_issued_is_revoked(
    flow: Flow, settings: Any, method: str, fault: dict[str, Any]
) -> None:
    settings.SLACK_USER_SCOPES = "search:read"
    flow.standin.fail_next(method, **fault)
    response = flow.install(rotation=True, user_token=True, webhook=True)
    assert response.status_code == 502
    page = response.content.decode()
    assert "Slack sent an answer we could not use" in page and "unexpected_response" in page
    assert not Workspace.objects.exists() and not Installation.objects.exists()
    flow.standin.wait_idle()
    assert live_and_unkept(flow.standin, set()) == []
    for secret in flow.issued_secrets():
        assert secret not in page


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ({"delay": 1.5}, "Slack did not answer in time."),
        ({"status": 500}, "Slack answered with an error of its own."),
        ({"status": 503, "html": True}, "Slack answered with an error of its own."),
        (
            {"redirect": "http://127.0.0.1:9/api/oauth.v2.access"},
            "Slack's answer could not be used.",
        ),
        ({"huge": MAX_ANSWER_BYTES + 4096}, "Slack's answer could not be used."),
        ({"drop": True}, "Slack could not be reached."),
    ],
)
@pytest.mark.django_db(transaction=True)
def test_the_install_page_says_which_way_slack_failed(
    flow: Flow, settings: Any, fault: dict[str, Any], words: str
) -> None:
    settings.SLACK_HTTP_TIMEOUT_SECONDS = 1
    flow.standin.fail_next("oauth.v2.access", **fault)
    response = flow.install()
    assert response.status_code == 502
    page = html.unescape(response.content.decode())
    assert words in page and "Nothing was installed" in page
