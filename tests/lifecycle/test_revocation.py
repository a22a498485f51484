"""revocation.py (the one place that marks tokens dead) and lifecycle.revoke_workspace.

docs/security.md.
"""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone
from slack_sdk.errors import SlackApiError

from installations.conf import slack_config
from installations.encryption.keyring import generate_key_entry
from installations.lifecycle.revocation import (
    mark_bot_revoked,
    mark_uninstalled,
    mark_users_revoked,
)
from installations.lifecycle.staff_actions import revoke_workspace
from installations.models import Health, Installation, LifecycleEvent, Workspace
from installations.slack import api as slack_api
from tests.support.lifecycle import stored_state

pytestmark = pytest.mark.django_db


def key(workspace: Workspace) -> dict[str, Any]:
    return {
        "client_id": slack_config().client_id,
        "enterprise_id": workspace.enterprise_id or None,
        "team_id": workspace.team_id or None,
    }


def test_mark_uninstalled_counts_rows_and_is_idempotent(saved_workspace):
    workspace = saved_workspace(user_id="U1")
    saved_workspace(user_id="U2")
    changed = mark_uninstalled(**key(workspace), actor="staff:alice")
    assert changed == 3  # the workspace and two history rows
    assert mark_uninstalled(**key(workspace), actor="staff:alice") == 0
    assert LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.UNINSTALLED).count() == 1
    assert Installation.objects.filter(workspace=workspace).count() == 2
    assert not Installation.objects.filter(user_token__isnull=False).exists()


def test_mark_uninstalled_ignores_an_event_older_than_the_install(saved_workspace):
    workspace = saved_workspace()
    earlier = workspace.installed_at - timedelta(minutes=1)
    assert mark_uninstalled(**key(workspace), actor="slack", occurred_at=earlier) == 0
    workspace.refresh_from_db()
    assert workspace.uninstalled_at is None and workspace.bot_token is not None


def test_mark_uninstalled_of_an_unknown_target_is_zero(db):
    assert mark_uninstalled(client_id="x", enterprise_id=None, team_id="T0NONE", actor="s") == 0


def test_mark_bot_revoked_keeps_user_tokens(saved_workspace):
    workspace = saved_workspace()
    assert mark_bot_revoked(**key(workspace), actor="slack") == 1
    assert mark_bot_revoked(**key(workspace), actor="slack") == 0
    workspace.refresh_from_db()
    assert workspace.bot_token is None and workspace.health == Health.DEAD
    assert Installation.objects.get(workspace=workspace).user_token is not None


def test_mark_users_revoked_none_means_every_user(saved_workspace):
    workspace = saved_workspace(user_id="U1")
    saved_workspace(user_id="U2")
    assert mark_users_revoked(**key(workspace), user_ids=None, actor="slack") == 2
    assert not Installation.objects.filter(user_token__isnull=False).exists()
    workspace.refresh_from_db()
    assert workspace.bot_token is not None


def test_mark_users_revoked_spares_a_user_who_authorized_after_the_event(saved_workspace):
    workspace = saved_workspace(user_id="U1", installed_at=timezone.now())
    earlier = timezone.now() - timedelta(hours=1)
    changed = mark_users_revoked(
        **key(workspace), user_ids=["U1"], actor="slack", occurred_at=earlier
    )
    assert changed == 0
    assert Installation.objects.get(workspace=workspace).user_token is not None
    later = timezone.now() + timedelta(seconds=5)
    assert mark_users_revoked(**key(workspace), user_ids=["U1"], actor="slack", occurred_at=later)
    assert Installation.objects.get(workspace=workspace).user_token is None


def test_revoke_workspace_revokes_at_slack_then_erases(standin, install):
    workspace, body = install(user_token=True)
    outcome = revoke_workspace(workspace, actor="staff:alice")
    assert outcome.revoked and outcome.tokens_revoked == 2 and not outcome.error
    revoked = {c.token for c in standin.calls_to("auth.revoke")}
    assert revoked == {body["access_token"], body["authed_user"]["access_token"]}
    assert standin.token_info(body["access_token"])["revoked"] is True
    workspace.refresh_from_db()
    assert workspace.bot_token is None and workspace.bot_revoked_at is not None
    row = Installation.objects.get(workspace=workspace)
    assert row.user_token is None and row.user_token_revoked_at is not None
    event = LifecycleEvent.objects.get(kind=LifecycleEvent.Kind.REVOKED)
    assert event.actor == "staff:alice" and "xox" not in event.detail
    assert "xox" not in outcome.message


def refresh_with(refresh_token: str) -> str:
    """What Slack answers a refresh with ``refresh_token``: "" when it issued a new pair."""
    try:
        slack_api.single_use_client().oauth_v2_access(
            client_id=slack_config().client_id,
            client_secret=slack_config().client_secret,
            grant_type="refresh_token",
            refresh_token=refresh_token,
        )
    except SlackApiError as exc:
        return str(exc.response["error"])
    return ""


def test_revoke_workspace_revokes_refresh_tokens_first_then_access_tokens(standin, install):
    """With rotation auth.revoke ends only the token it is called with: the refresh tokens
    (which mint new pairs) are revoked one by one, before the access tokens."""
    workspace, body = install(rotation=True, user_token=True)
    user = body["authed_user"]
    outcome = revoke_workspace(workspace, actor="staff:alice")
    assert outcome.revoked and not outcome.error
    assert [c.token for c in standin.calls_to("auth.revoke")] == [
        body["refresh_token"], user["refresh_token"], body["access_token"], user["access_token"],
    ]  # fmt: skip
    assert (outcome.tokens_revoked, outcome.tokens_already_dead) == (4, 0)
    assert outcome.message == "4 token(s) revoked at Slack; tokens erased."
    for token in (body["refresh_token"], user["refresh_token"]):
        assert standin.token_info(token)["revoked"] is True
        assert refresh_with(token) == "invalid_refresh_token"
    workspace.refresh_from_db()
    assert workspace.bot_token is None and workspace.bot_refresh_token is None
    row = Installation.objects.get(workspace=workspace)
    assert row.user_token is None and row.user_refresh_token is None


def test_revoke_workspace_revokes_refresh_tokens_whose_access_tokens_expired(standin, install):
    """An expired access token is dead (token_expired), its refresh token is not: it still
    mints new pairs until it is revoked."""
    workspace, body = install(rotation=True, user_token=True)
    user = body["authed_user"]
    standin.expire_token(body["access_token"])
    standin.expire_token(user["access_token"])
    outcome = revoke_workspace(workspace, actor="staff:alice")
    assert outcome.revoked and not outcome.error
    assert (outcome.tokens_revoked, outcome.tokens_already_dead) == (2, 2)
    assert "2 token(s) revoked at Slack, 2 already dead there" in outcome.message
    for token in (body["refresh_token"], user["refresh_token"]):
        assert standin.token_info(token)["revoked"] is True
        assert refresh_with(token) == "invalid_refresh_token"
    event = LifecycleEvent.objects.get(kind=LifecycleEvent.Kind.REVOKED)
    assert event.detail.startswith("2 token(s) revoked at Slack, 2 already dead there")
    workspace.refresh_from_db()
    assert workspace.bot_refresh_token is None


def test_revoke_workspace_stops_when_a_refresh_token_is_not_revoked(standin, install):
    """Slack did not confirm the refresh token's revocation: nothing is erased, and the count
    says what Slack did confirm."""
    workspace, body = install(rotation=True)
    standin.fail_next("auth.revoke", status=500, times=5)
    outcome = revoke_workspace(workspace, actor="staff:alice")
    assert not outcome.revoked and outcome.tokens_revoked == 0
    assert "nothing was erased (0 token(s) revoked at Slack so far)" in outcome.message
    workspace.refresh_from_db()
    assert workspace.bot_refresh_token == body["refresh_token"]
    assert refresh_with(body["refresh_token"]) == ""  # still live: still ours to revoke


def test_revoke_workspace_erases_tokens_slack_already_killed(standin, install):
    workspace, body = install()
    standin.revoke_token(body["access_token"])
    outcome = revoke_workspace(workspace, actor="staff:alice")
    assert outcome.revoked
    workspace.refresh_from_db()
    assert workspace.bot_token is None


def test_revoke_workspace_changes_nothing_when_slack_is_unreachable(standin, install):
    workspace, body = install()
    standin.fail_next("auth.revoke", drop=True, times=5)
    outcome = revoke_workspace(workspace, actor="staff:alice")
    assert not outcome.revoked and outcome.error == "slack_unavailable"
    assert "nothing was erased" in outcome.message
    workspace.refresh_from_db()
    assert workspace.bot_token == body["access_token"]
    assert not LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.REVOKED).exists()


@pytest.mark.django_db(transaction=True)
def test_a_reinstall_while_staff_revoke_keeps_the_new_tokens(standin, install):
    import threading
    import time

    from django.db import connection

    workspace, old = install()
    standin.fail_next("auth.revoke", delay=1.0)  # answered normally, after a pause
    outcomes = []

    def revoke() -> None:
        try:
            outcomes.append(revoke_workspace(workspace, actor="staff:alice"))
        finally:
            connection.close()

    worker = threading.Thread(target=revoke)
    worker.start()
    time.sleep(0.3)  # Slack is revoking the old token
    fresh, new = install()  # the workspace's admin reinstalls meanwhile
    worker.join(timeout=10)
    [outcome] = outcomes
    assert "reinstalled meanwhile" in outcome.message
    assert standin.token_info(old["access_token"])["revoked"] is True
    fresh.refresh_from_db()
    assert fresh.bot_token == new["access_token"] and fresh.bot_revoked_at is None
    assert not LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.REVOKED).exists()


def test_uninstall_lands_even_when_the_stored_tokens_cannot_be_decrypted(saved_workspace, settings):
    """Erasing tokens needs no plaintext: a lost key must not make Slack's event fail."""
    workspace = saved_workspace(user_id="U1", bot_refresh_token="xoxe-1-test-refresh")
    settings.TOKEN_ENCRYPTION_KEYS = generate_key_entry("test1")  # same id, other key
    assert mark_uninstalled(**key(workspace), actor="slack") == 2
    workspace.refresh_from_db()
    assert workspace.uninstalled_at is not None and workspace.bot_token is None
    assert workspace.bot_refresh_token is None


def test_revoke_with_an_outdated_keyring_refuses_and_erases_nothing(standin, install, settings):
    """Issue 11 class 1: a token this process cannot decrypt cannot be revoked at Slack, so
    erasing our copy would leave it live for good: refuse, say why, change nothing."""
    workspace, body = install(user_token=True)
    outdated = settings.TOKEN_ENCRYPTION_KEYS
    settings.TOKEN_ENCRYPTION_KEYS = f"{generate_key_entry('rot2')},{outdated}"
    call_command("slack_reencrypt", stdout=io.StringIO())
    settings.TOKEN_ENCRYPTION_KEYS = outdated
    before = stored_state()
    outcome = revoke_workspace(Workspace.objects.get(pk=workspace.pk), actor="staff:alice")
    assert not outcome.revoked and outcome.error == "undecryptable"
    assert outcome.unreadable == ("rot2",)
    assert "nothing was revoked or erased" in outcome.message.lower()
    assert "key configuration problem" in outcome.message
    assert "needs key id rot2; configured: test1" in outcome.message
    assert stored_state() == before
    assert standin.calls_to("auth.revoke") == []
    assert body["access_token"] not in outcome.message


@pytest.mark.parametrize(
    "fault",
    [{"html": True, "status": 502}, {"body": ["not", "an", "object"]}, {"huge": 2 * 1024 * 1024}],
    ids=["html", "not-an-object", "huge"],
)
def test_revoke_erases_nothing_when_slack_answers_something_unusable(standin, install, fault):
    workspace, body = install()
    standin.fail_next("auth.revoke", times=5, **fault)
    outcome = revoke_workspace(workspace, actor="staff:alice")
    assert not outcome.revoked and outcome.error and "nothing was erased" in outcome.message
    workspace.refresh_from_db()
    assert workspace.bot_token == body["access_token"] and workspace.bot_revoked_at is None
    assert not LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.REVOKED).exists()
