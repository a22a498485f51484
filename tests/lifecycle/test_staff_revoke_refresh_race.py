"""A staff revoke while a refresh stores new tokens: no token Slack honours is ever forgotten.

The revoke calls auth.revoke outside any transaction, refresh tokens first. A refresh already at
Slack when the revoke read the row has spent the refresh token the revoke is about to revoke, and
stores a new pair meanwhile: that pair used to be erased with the old one, never revoked at Slack.
Now the revoke sees the new tokens under its row lock, revokes them too, and only then erases
(tests against the real stand-in, with the answers held).
"""

from __future__ import annotations

import threading
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
from tests.support.lifecycle import refresh_calls
from tests.support.standin import is_live

pytestmark = pytest.mark.django_db(transaction=True)

HOLD = 1.0  # seconds Slack holds each held answer: a refresh's, and the access token revoke's
HEAD_START = 0.3  # the refresh reaches Slack this long before the revoke reads the row


def revoke_in_thread(workspace: Workspace) -> tuple[threading.Thread, list[RevokeOutcome]]:
    outcomes: list[RevokeOutcome] = []

    def run() -> None:
        try:
            outcomes.append(revoke_workspace(workspace, actor="staff:alice"))
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    return worker, outcomes


def hold_each_round(standin: Any, rounds: int) -> None:
    """Per revoke round: the refresh token's auth.revoke answered at once, the access token's
    held, so a refresh that reached Slack first stores its new pair meanwhile."""
    for _round in range(rounds):
        standin.fail_next("auth.revoke", delay=0.01)
        standin.fail_next("auth.revoke", delay=HOLD)


def refreshes_while_revoking(standin: Any, workspace: Workspace, refreshes: int) -> RevokeOutcome:
    """``refreshes`` refreshes in a row, each held at Slack for HOLD, with a staff revoke started
    HEAD_START after the first reached Slack; the revoke's outcome."""
    standin.fail_next("oauth.v2.access", delay=HOLD, times=refreshes)
    worker, outcomes = revoke_in_thread(workspace)
    timer = threading.Timer(HEAD_START, worker.start)
    timer.start()
    try:
        for _refresh in range(refreshes):
            refreshed = refresh_workspace(Workspace.objects.get(), actor="staff:bob")
            assert refreshed.bot_refreshed and not refreshed.error, refreshed.message
    finally:
        timer.join()
        worker.join(30)
    [outcome] = outcomes
    return outcome


def test_a_token_refreshed_during_a_staff_revoke_is_revoked_too(standin: Any, install: Any) -> None:
    workspace, body = install(rotation=True)
    hold_each_round(standin, 1)
    outcome = refreshes_while_revoking(standin, workspace, 1)
    assert outcome.revoked, outcome.message
    [new] = [b for b in standin.issued if b.get("refresh_token") != body["refresh_token"]]
    # The old pair died at Slack by the refresh; the new one was revoked by the second round.
    assert (outcome.tokens_revoked, outcome.tokens_already_dead) == (2, 2)
    assert "2 token(s) revoked at Slack, 2 already dead there" in outcome.message
    assert standin.token_info(new["refresh_token"])["revoked"] is True
    assert standin.token_info(new["access_token"])["revoked"] is True
    for token in (body["access_token"], body["refresh_token"], new["access_token"]):
        assert not is_live(standin, token)
    row = Workspace.objects.get()
    assert row.bot_token is None and row.bot_refresh_token is None
    assert row.bot_revoked_at is not None
    assert LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.REVOKED).count() == 1


def test_tokens_that_keep_changing_are_never_erased_unrevoked(standin: Any, install: Any) -> None:
    workspace, _ = install(rotation=True)
    hold_each_round(standin, REVOKE_ROUNDS)
    outcome = refreshes_while_revoking(standin, workspace, REVOKE_ROUNDS)
    assert not outcome.revoked and outcome.error == "tokens_changing"
    assert len(refresh_calls(standin)) == REVOKE_ROUNDS
    row = Workspace.objects.get()
    assert row.bot_token is not None and row.bot_revoked_at is None  # nothing erased
    assert row.bot_refresh_token is not None
    assert is_live(standin, row.bot_token)  # still live, still ours
    assert is_live(standin, row.bot_refresh_token)
    assert not LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.REVOKED).exists()
    # Each round met a refresh token the refresh had spent and an access token it replaced.
    assert (outcome.tokens_revoked, outcome.tokens_already_dead) == (0, 2 * REVOKE_ROUNDS)
