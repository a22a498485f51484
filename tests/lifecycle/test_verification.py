"""Token verification with auth.test against the stand-in: health per error code, scopes, 429.

docs/slack-protocol.md §5 and §9; issue 5 item 2.
"""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import CommandError, call_command

from installations.lifecycle.staff_actions import verify_workspace
from installations.lifecycle.verification import verify_active
from installations.models import Health, LifecycleEvent, Workspace

pytestmark = pytest.mark.django_db


def test_working_token_is_ok_and_records_granted_scopes(standin, install):
    workspace, body = install()
    standin.set_scopes(body["access_token"], "chat:write,commands,users:read")
    outcome = verify_workspace(workspace, actor="staff:alice")
    assert (outcome.health, outcome.error, outcome.reachable) == (Health.OK, "", True)
    assert outcome.scopes == ("chat:write", "commands", "users:read")
    workspace.refresh_from_db()
    assert workspace.health == Health.OK and workspace.last_verified_at is not None
    assert workspace.bot_scopes == "chat:write,commands,users:read"
    event = LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.VERIFIED).get()
    assert event.actor == "staff:alice"
    assert standin.calls_to("auth.test")[-1].token == body["access_token"]
    assert body["access_token"] not in repr(outcome)


@pytest.mark.parametrize("code", ["token_revoked", "account_inactive"])
def test_dead_codes_mark_the_workspace_dead_at_once(standin, install, code):
    workspace, body = install()
    standin.set_token_error(body["access_token"], code)
    outcome = verify_workspace(workspace, actor="command:slack_verify")
    assert (outcome.health, outcome.error) == (Health.DEAD, code)
    workspace.refresh_from_db()
    assert workspace.health == Health.DEAD and workspace.last_error == code
    assert workspace.last_error_at is not None
    assert LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.VERIFY_FAILED).exists()


def test_invalid_auth_is_suspect_once_and_dead_the_second_time(standin, install):
    workspace, body = install()
    standin.set_token_error(body["access_token"], "invalid_auth")
    assert verify_workspace(workspace, actor="command:x").health == Health.SUSPECT
    assert verify_workspace(workspace, actor="command:x").health == Health.DEAD
    workspace.refresh_from_db()
    assert workspace.verify_failures == 2


def test_success_between_refusals_resets_the_count(standin, install):
    workspace, body = install()
    token = body["access_token"]
    standin.set_token_error(token, "invalid_auth")
    assert verify_workspace(workspace, actor="command:x").health == Health.SUSPECT
    standin.set_token_error(token, None)
    assert verify_workspace(workspace, actor="command:x").health == Health.OK
    standin.set_token_error(token, "invalid_auth")
    assert verify_workspace(workspace, actor="command:x").health == Health.SUSPECT


def test_network_error_is_unknown_never_dead(standin, install):
    workspace, body = install()
    standin.set_token_error(body["access_token"], "invalid_auth")
    verify_workspace(workspace, actor="command:x")  # suspect: one strike
    standin.fail_next("auth.test", drop=True, times=5)
    outcome = verify_workspace(workspace, actor="command:x")
    assert (outcome.health, outcome.reachable) == (Health.UNKNOWN, False)
    workspace.refresh_from_db()
    assert workspace.health == Health.UNKNOWN and workspace.verify_failures == 1


def test_server_error_is_unknown(standin, install):
    workspace, _ = install()
    standin.fail_next("auth.test", status=500, times=3)
    outcome = verify_workspace(workspace, actor="command:x")
    assert (outcome.health, outcome.reachable) == (Health.UNKNOWN, False)


def test_expired_rotating_token_is_refreshed_then_verified(standin, install):
    workspace, body = install(rotation=True)
    standin.expire_token(body["access_token"])
    outcome = verify_workspace(workspace, actor="command:x")
    assert (outcome.health, outcome.error) == (Health.OK, "")
    refreshes = [c for c in standin.calls_to("oauth.v2.access") if c.params.get("grant_type")]
    assert [c.params["refresh_token"] for c in refreshes] == [body["refresh_token"]]
    workspace.refresh_from_db()
    assert workspace.bot_token != body["access_token"]
    assert standin.calls_to("auth.test")[-1].token == workspace.bot_token


def test_expired_token_without_rotation_is_suspect(standin, install):
    workspace, body = install()
    standin.expire_token(body["access_token"])
    assert verify_workspace(workspace, actor="command:x").health == Health.SUSPECT


def test_uninstalled_workspace_is_not_called(standin, install):
    workspace, _ = install()
    Workspace.objects.filter(pk=workspace.pk).update(bot_token=None)
    workspace.refresh_from_db()
    before = len(standin.calls_to("auth.test"))
    outcome = verify_workspace(workspace, actor="staff:bob")
    assert outcome.error == "no_token" and "uninstalled" in outcome.message
    assert len(standin.calls_to("auth.test")) == before


def test_429_with_retry_after_is_waited_out_by_the_command_client(standin, install):
    install()
    standin.fail_next("auth.test", status=429, retry_after=1)
    before = len(standin.calls_to("auth.test"))
    started = time.monotonic()
    [outcome] = verify_active(actor="command:slack_verify", concurrency=1)
    assert time.monotonic() - started >= 1.0  # slept for Retry-After
    assert outcome.health == Health.OK
    assert len(standin.calls_to("auth.test")) - before == 2


def test_429_that_outlasts_the_retries_is_unknown_and_unreachable(standin, install):
    workspace, _ = install()
    standin.fail_next("auth.test", status=429, retry_after=1, times=10)
    outcome = verify_workspace(workspace, actor="staff:alice")  # request-thread client
    assert (outcome.health, outcome.error, outcome.reachable) == (
        Health.UNKNOWN,
        "ratelimited",
        False,
    )


def test_command_prints_a_summary_without_tokens(standin, install):
    _, body = install()
    out = io.StringIO()
    call_command("slack_verify", "--concurrency", "1", stdout=out, stderr=io.StringIO())
    text = out.getvalue()
    assert "ok" in text and "T0STANDIN1" in text and "total" in text
    assert body["access_token"] not in text and "xox" not in text
    assert "verified 1/1" not in text  # progress only on a terminal


def test_command_exits_1_when_slack_cannot_be_reached(standin, install):
    install()
    standin.fail_next("auth.test", drop=True, times=5)
    with pytest.raises(CommandError, match="could not be reached for 1 of 1"):
        call_command("slack_verify", "--concurrency", "1", stdout=io.StringIO())


def test_command_skips_uninstalled_workspaces(standin, install):
    workspace, _ = install()
    Workspace.objects.filter(pk=workspace.pk).update(bot_token=None)
    before = len(standin.calls_to("auth.test"))
    out = io.StringIO()
    call_command("slack_verify", stdout=out)
    assert len(standin.calls_to("auth.test")) == before
    assert "total" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_command_checks_many_workspaces_concurrently(standin, install):
    teams = [f"T0MANY{i}" for i in range(6)]
    bodies = {team: install(team_id=team)[1] for team in teams}
    standin.set_token_error(bodies["T0MANY2"]["access_token"], "token_revoked")
    out = io.StringIO()
    call_command("slack_verify", "--concurrency", "4", stdout=out)
    health = dict(Workspace.objects.values_list("team_id", "health"))
    assert health.pop("T0MANY2") == Health.DEAD
    assert set(health.values()) == {Health.OK}
    assert "token_revoked" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_a_reinstall_during_the_check_is_not_marked_with_the_old_tokens_verdict(standin, install):
    """auth.test on the old token answers token_revoked while a reinstall lands meanwhile."""
    import threading

    from django.db import connection

    workspace, _ = install()
    standin.fail_next("auth.test", error="token_revoked", delay=1.0)
    outcomes = []

    def check() -> None:
        try:
            outcomes.append(verify_workspace(workspace, actor="command:slack_verify"))
        finally:
            connection.close()

    checker = threading.Thread(target=check)
    checker.start()
    time.sleep(0.3)  # the check is waiting for Slack's answer
    fresh, _ = install()  # the reinstall: same team, new token
    checker.join(timeout=10)
    [outcome] = outcomes
    assert outcome.error == "changed_meanwhile"
    fresh.refresh_from_db()
    assert fresh.health == Health.UNKNOWN and fresh.verify_failures == 0
    assert not LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.VERIFY_FAILED).exists()


@pytest.mark.parametrize(
    "fault",
    [{"drop": True, "times": 2}, {"status": 500}],  # auth.test is retried once after a drop
    ids=["dropped", "http-500"],
)
def test_a_fault_is_recorded_against_one_workspace_and_the_run_goes_on(standin, install, fault):
    """Issue 11 class 5: a call that fails says nothing about the token: that workspace gets
    the reason code (health unknown, never dead), the next one is still checked, exit 1."""
    # The run reads workspaces by primary key: the first in key order gets the fault.
    first, second = sorted(
        (install(team_id="T0VFAULT1")[0], install(team_id="T0VFAULT2")[0]), key=lambda w: w.pk
    )
    standin.fail_next("auth.test", **fault)
    out = io.StringIO()
    with pytest.raises(CommandError, match="could not be reached for 1 of 2"):
        call_command("slack_verify", "--concurrency", "1", stdout=out)
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.health == Health.UNKNOWN and first.last_error and first.verify_failures == 0
    assert second.health == Health.OK and second.last_error == ""
    assert first.bot_token is not None  # nothing erased


@pytest.mark.parametrize(
    "fault",
    [
        {"html": True, "status": 502},
        {"body": ["not", "an", "object"]},
        {"raw": b"<xml>not json</xml>"},
        {"redirect": "http://127.0.0.1:9/elsewhere"},
        {"huge": 2 * 1024 * 1024},
        {"patch": {"ok": "yes"}},
    ],
    ids=["html", "not-an-object", "not-json", "redirect", "huge", "wrong-type"],
)
def test_an_answer_we_cannot_use_says_nothing_about_the_token(standin, install, fault):
    """Issue 11 class 5: recorded as its reason code, health unknown, never dead or erased."""
    workspace, body = install()
    standin.fail_next("auth.test", times=5, **fault)  # enough for any retry of the call
    outcome = verify_workspace(workspace, actor="command:x")
    assert (outcome.health, outcome.reachable) == (Health.UNKNOWN, False)
    assert outcome.error and outcome.error not in ("token_revoked", "account_inactive")
    workspace.refresh_from_db()
    assert workspace.health == Health.UNKNOWN and workspace.verify_failures == 0
    assert workspace.last_error == outcome.error
    assert workspace.bot_token == body["access_token"]
