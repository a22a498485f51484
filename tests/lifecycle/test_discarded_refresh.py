"""A refresh whose answer arrives after the row stopped taking it: the new pair is revoked.

Slack spends the refresh token and issues a new pair the moment it answers. When staff revoke or
forget the workspace while that answer is on its way, the row no longer takes the pair: left
alone it would stay live at Slack with nobody holding it. With rotation auth.revoke ends only
the token it is called with (docs/slack-protocol.md §5), so revoking the pair touches nothing
else; a token the row holds is never revoked. Tests against the real stand-in, answers held.
"""

from __future__ import annotations

import io
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from installations.lifecycle.rotation import DISCARD_NOT_REVOKED, RefreshOutcome
from installations.lifecycle.staff_actions import refresh_workspace, revoke_workspace
from installations.models import Installation, LifecycleEvent, Workspace
from tests.support.lifecycle import make_due, refresh_calls
from tests.support.standin import is_live

pytestmark = pytest.mark.django_db(transaction=True)

HOLD = 1.5  # seconds Slack holds each refresh answer


def in_thread(job: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """``job`` started in a thread; its result (or the exception it raised) lands in the list."""
    results: list[Any] = []

    def run() -> None:
        try:
            results.append(job())
        except BaseException as exc:  # reported by the test
            results.append(exc)
        finally:
            connection.close()

    worker = threading.Thread(target=run)
    worker.start()
    return worker, results


def wait_for_refreshes(standin: Any, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(refresh_calls(standin)) < count:
        assert time.monotonic() < deadline, "the refresh never reached the stand-in"
        time.sleep(0.02)


def refreshed_pairs(standin: Any, count: int) -> list[tuple[str, str]]:
    """The (refresh token, access token) of the last ``count`` refresh answers Slack issued."""
    return [(b["refresh_token"], b["access_token"]) for b in standin.issued[-count:]]


def revoke(workspace: Workspace) -> None:
    assert revoke_workspace(workspace, actor="staff:alice").revoked


def forget(workspace: Workspace) -> None:
    call_command("slack_forget_workspace", workspace.team_id, "--noinput", stdout=io.StringIO())


@pytest.mark.parametrize("meanwhile", [revoke, forget], ids=["staff-revoke", "forget"])
def test_a_pair_refreshed_while_staff_revoke_or_forget_is_revoked(
    standin: Any, install: Any, meanwhile: Callable[[Workspace], None], caplog: Any
) -> None:
    workspace, body = install(rotation=True, user_token=True)
    make_due(workspace)
    standin.fail_next("oauth.v2.access", delay=HOLD, times=2)  # the bot's, then the user's
    out = io.StringIO()
    worker, results = in_thread(
        lambda: call_command("slack_refresh_tokens", "--within", "120", stdout=out)
    )
    wait_for_refreshes(standin, 2)  # both refresh tokens spent, the user's answer still held
    with caplog.at_level(logging.INFO):
        meanwhile(workspace)
        worker.join(20)
    assert results == [None], results  # the command ended normally: nothing failed
    pairs = refreshed_pairs(standin, 2)
    revoked = [call.token for call in standin.calls_to("auth.revoke")][-4:]
    assert revoked == [token for pair in pairs for token in pair]  # each refresh token first
    for pair in pairs:
        assert not any(is_live(standin, token) for token in pair)
    text = out.getvalue()
    assert "2 refresh(es) discarded" in text and "revoked at Slack" in text
    assert "nothing was due" not in text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "the new tokens were not stored; 2 revoked at Slack" in logged
    for token in [*(t for pair in pairs for t in pair), body["refresh_token"]]:
        assert token not in text and token not in logged
    assert not Workspace.objects.filter(bot_token__isnull=False).exists()
    assert not Installation.objects.filter(user_token__isnull=False).exists()


def test_a_discarded_pair_slack_did_not_revoke_fails_the_refresh(
    standin: Any, install: Any, caplog: Any
) -> None:
    """A live token nobody stores: the outcome says so and counts as an error."""
    workspace, _ = install(rotation=True)
    standin.fail_next("oauth.v2.access", delay=HOLD)
    worker, results = in_thread(lambda: refresh_workspace(workspace, actor="staff:bob"))
    wait_for_refreshes(standin, 1)
    revoke(workspace)
    standin.fail_next("auth.revoke", status=500, times=10)
    with caplog.at_level(logging.ERROR):
        worker.join(20)
    [outcome] = results
    assert isinstance(outcome, RefreshOutcome)
    assert outcome.discarded == 1 and outcome.error == DISCARD_NOT_REVOKED
    assert "could not be revoked (slack_http_error) and may still be live" in outcome.message
    assert "refresh failed" not in outcome.message
    [(refresh_token, access_token)] = refreshed_pairs(standin, 1)
    assert is_live(standin, refresh_token)
    [error] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "did not confirm their revocation (slack_http_error)" in error.getMessage()
    assert refresh_token not in error.getMessage() and access_token not in error.getMessage()


def test_a_pair_the_row_holds_is_never_revoked(standin: Any, install: Any) -> None:
    """Another runner whose lease ran out stored this very pair (Slack answers a refresh token
    reused within its grace period with the same pair): the row holds it, nothing is revoked."""
    workspace, body = install(rotation=True)
    standin.fail_next("oauth.v2.access", delay=HOLD)
    worker, results = in_thread(lambda: refresh_workspace(workspace, actor="staff:bob"))
    wait_for_refreshes(standin, 1)
    [(refresh_token, access_token)] = refreshed_pairs(standin, 1)
    row = Workspace.objects.get()
    row.bot_token, row.bot_refresh_token = access_token, refresh_token
    row.save(update_fields=["bot_token", "bot_refresh_token"])
    worker.join(20)
    [outcome] = results
    assert isinstance(outcome, RefreshOutcome)
    assert not outcome.refreshed and not outcome.discarded and not outcome.error
    assert standin.calls_to("auth.revoke") == []
    assert is_live(standin, refresh_token) and is_live(standin, access_token)
    assert Workspace.objects.get().bot_token == access_token
    assert not LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.REFRESHED).exists()
    assert body["refresh_token"] != refresh_token
