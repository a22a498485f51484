"""No transaction stays open while Slack answers (issue 11, class 7).

Each Slack call the lifecycle services make is held at the stand-in for several seconds while
this test writes to the same database: the workspace being worked on (a row lock on PostgreSQL)
and a new install of another workspace (SQLite's one write lock). Both writes must finish at
once, far below SQLite's 20 s busy timeout; then the held call must still complete normally.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from installations.conf import slack_config
from installations.lifecycle.revocation import mark_uninstalled
from installations.lifecycle.staff_actions import (
    refresh_workspace,
    revoke_workspace,
    verify_workspace,
)
from installations.models import Health, Workspace
from tests.support.factories import saved_workspace
from tests.support.lifecycle import make_due

pytestmark = pytest.mark.django_db(transaction=True)

HELD = 4.0  # seconds Slack takes to answer
QUICK = 3.0  # what a write may take meanwhile (the old code waited for Slack: > HELD)


def run_while_slack_holds(
    standin: Any, method: str, job: Callable[[], Any], workspace: Workspace
) -> tuple[Any, list[float]]:
    """Run ``job`` in a thread with ``method``'s answer held; time two writes meanwhile."""
    standin.fail_next(method, delay=HELD)
    before = len(standin.calls_to(method))
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(job())
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    deadline = time.monotonic() + 10
    while len(standin.calls_to(method)) == before:
        assert time.monotonic() < deadline, f"{method} never reached the stand-in"
        time.sleep(0.02)
    time.sleep(0.2)  # the call is now waiting for its answer
    timings = []
    started = time.monotonic()
    Workspace.objects.filter(pk=workspace.pk).update(team_name="Renamed meanwhile")
    timings.append(time.monotonic() - started)
    started = time.monotonic()
    saved_workspace(team_id="T0ELSEWHERE", team_name="Installed meanwhile")
    timings.append(time.monotonic() - started)
    worker.join(HELD + 20)
    assert not worker.is_alive() and not errors, errors
    [result] = results
    return result, timings


def test_refresh_holds_no_transaction_while_slack_answers(standin, install):
    workspace, _ = install(rotation=True, user_token=True)
    outcome, timings = run_while_slack_holds(
        standin,
        "oauth.v2.access",
        lambda: refresh_workspace(workspace, actor="command:t", within_minutes=None),
        workspace,
    )
    assert max(timings) < QUICK, timings
    assert outcome.bot_refreshed and outcome.users_refreshed == 1 and not outcome.error
    workspace.refresh_from_db()
    assert workspace.team_name == "Renamed meanwhile"  # the refresh wrote only its own fields
    assert standin.token_info(workspace.bot_token)["kind"] == "bot"


def test_refresh_command_holds_no_transaction_while_slack_answers(standin, install):
    workspace, _ = install(rotation=True)
    make_due(workspace)
    _, timings = run_while_slack_holds(
        standin,
        "oauth.v2.access",
        lambda: call_command("slack_refresh_tokens", "--within", "120"),
        workspace,
    )
    assert max(timings) < QUICK, timings
    workspace.refresh_from_db()
    assert workspace.bot_refresh_claimed_until is None and workspace.last_error == ""


def test_verify_holds_no_transaction_while_slack_answers(standin, install):
    workspace, _ = install()
    outcome, timings = run_while_slack_holds(
        standin, "auth.test", lambda: verify_workspace(workspace, actor="command:t"), workspace
    )
    assert max(timings) < QUICK, timings
    assert outcome.health == Health.OK


def test_verify_of_an_expired_token_holds_no_transaction_while_it_refreshes(standin, install):
    workspace, body = install(rotation=True)
    standin.expire_token(body["access_token"])
    outcome, timings = run_while_slack_holds(
        standin,
        "oauth.v2.access",
        lambda: verify_workspace(workspace, actor="command:t"),
        workspace,
    )
    assert max(timings) < QUICK, timings
    assert (outcome.health, outcome.error) == (Health.OK, "")


def test_revoke_holds_no_transaction_while_slack_answers(standin, install):
    workspace, body = install(user_token=True)
    outcome, timings = run_while_slack_holds(
        standin, "auth.revoke", lambda: revoke_workspace(workspace, actor="staff:a"), workspace
    )
    assert max(timings) < QUICK, timings
    assert outcome.revoked and standin.token_info(body["access_token"])["revoked"] is True


def test_revoking_a_discarded_refresh_holds_no_transaction(standin, install):
    """The workspace is removed while Slack answers a refresh: the new pair the row no longer
    takes is revoked after the row's transaction, not under its lock."""
    workspace, body = install(rotation=True)
    standin.fail_next("oauth.v2.access", delay=1.0)

    def uninstall() -> None:
        try:
            mark_uninstalled(
                client_id=slack_config().client_id, enterprise_id=None,
                team_id=workspace.team_id, actor="slack",
            )  # fmt: skip
        finally:
            connection.close()

    def refresh_while_removed() -> Any:
        threading.Timer(0.3, uninstall).start()
        return refresh_workspace(workspace, actor="command:t", within_minutes=None)

    outcome, timings = run_while_slack_holds(
        standin, "auth.revoke", refresh_while_removed, workspace
    )
    assert max(timings) < QUICK, timings
    assert outcome.discarded == 1 and not outcome.error, outcome.message
    [refreshed] = standin.issued[-1:]
    assert standin.token_info(refreshed["refresh_token"])["revoked"] is True
    assert standin.token_info(refreshed["access_token"])["revoked"] is True
    assert refreshed["refresh_token"] != body["refresh_token"]
