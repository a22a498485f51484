"""A staff revoke while a refresh stores new tokens: no token Slack honours is ever forgotten.

The revoke calls auth.revoke outside any transaction. A refresh that stores a new token pair
meanwhile used to be erased with the old one, never revoked at Slack: a live token nobody could
revoke any more. Now the revoke sees the new token under its row lock, revokes it too, and only
then erases (tests against the real stand-in, with auth.revoke's answer held).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import connection

from installations.lifecycle.staff_actions import (
    REVOKE_ROUNDS,
    RevokeOutcome,
    refresh_workspace,
    revoke_workspace,
)
from installations.models import LifecycleEvent, Workspace

pytestmark = pytest.mark.django_db(transaction=True)


def revoke_in_thread(workspace: Workspace) -> tuple[threading.Thread, list[RevokeOutcome]]:
    outcomes: list[RevokeOutcome] = []

    def run() -> None:
        try:
            outcomes.append(revoke_workspace(workspace, actor="staff:alice"))
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    return worker, outcomes


def wait_for_calls(standin: Any, method: str, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(standin.calls_to(method)) < count:
        assert time.monotonic() < deadline, f"{method} never reached the stand-in"
        time.sleep(0.02)
    time.sleep(0.1)  # the call now waits for its answer


def test_a_token_refreshed_during_a_staff_revoke_is_revoked_too(standin: Any, install: Any) -> None:
    workspace, body = install(rotation=True)
    standin.fail_next("auth.revoke", delay=1.5)
    worker, outcomes = revoke_in_thread(workspace)
    wait_for_calls(standin, "auth.revoke", 1)
    refreshed = refresh_workspace(workspace, actor="staff:bob")  # while Slack holds the revoke
    assert refreshed.error == "", refreshed.message
    new_token = Workspace.objects.get().bot_token
    assert new_token is not None and new_token != body["access_token"]
    worker.join(20)
    [outcome] = outcomes
    assert outcome.revoked, outcome.message
    assert outcome.tokens_revoked == 2
    assert standin.token_info(body["access_token"])["revoked"] is True
    assert standin.token_info(new_token)["revoked"] is True  # the refreshed token, too
    row = Workspace.objects.get()
    assert row.bot_token is None and row.bot_revoked_at is not None
    assert LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.REVOKED).count() == 1


def test_tokens_that_keep_changing_are_never_erased_unrevoked(standin: Any, install: Any) -> None:
    workspace, _ = install(rotation=True)
    for _round in range(REVOKE_ROUNDS):
        standin.fail_next("auth.revoke", delay=1.0)
    worker, outcomes = revoke_in_thread(workspace)
    for round_number in range(1, REVOKE_ROUNDS + 1):
        wait_for_calls(standin, "auth.revoke", round_number)
        assert refresh_workspace(Workspace.objects.get(), actor="staff:bob").error == ""
    worker.join(30)
    [outcome] = outcomes
    assert not outcome.revoked and outcome.error == "tokens_changing"
    row = Workspace.objects.get()
    assert row.bot_token is not None and row.bot_revoked_at is None  # nothing erased
    assert standin.token_info(row.bot_token)["revoked"] is False  # still live, still ours
    assert not LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.REVOKED).exists()
