"""Token rotation against the stand-in: bot and user refreshed separately, each refresh token
spent once, a refused refresh token marks the workspace for reinstall. slack-facts section 4;
security-checklist tests 46-48.
"""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from installations.lifecycle import refresh_workspace
from installations.models import Installation, LifecycleEvent, Workspace
from installations.rotation import refresh_due
from tests.db_faults import refuse_writes

pytestmark = pytest.mark.django_db


def refresh_calls(standin) -> list[str]:
    """The refresh tokens the stand-in received, in order."""
    return [
        c.params["refresh_token"]
        for c in standin.calls_to("oauth.v2.access")
        if c.params.get("grant_type") == "refresh_token"
    ]


def make_due(workspace: Workspace) -> None:
    soon = timezone.now() + timedelta(minutes=5)
    Workspace.objects.filter(pk=workspace.pk).update(bot_token_expires_at=soon)
    Installation.objects.filter(workspace=workspace).update(user_token_expires_at=soon)


def test_refresh_now_rotates_bot_and_user_tokens_separately(standin, install):
    workspace, body = install(rotation=True, user_token=True)
    user = body["authed_user"]
    outcome = refresh_workspace(workspace, actor="staff:alice")
    assert outcome.bot_refreshed and outcome.users_refreshed == 1 and not outcome.error
    assert refresh_calls(standin) == [body["refresh_token"], user["refresh_token"]]
    workspace.refresh_from_db()
    row = Installation.objects.get(workspace=workspace)
    assert workspace.bot_token not in (None, body["access_token"])
    assert workspace.bot_refresh_token not in (None, body["refresh_token"])
    assert row.user_token not in (None, user["access_token"])
    assert row.user_refresh_token not in (None, user["refresh_token"])
    # The stored pairs are the live ones at Slack, and each kind went to its own row.
    assert standin.token_info(workspace.bot_token)["kind"] == "bot"
    assert standin.token_info(row.user_token)["kind"] == "user"
    expected = timezone.now() + timedelta(hours=12)
    assert abs(workspace.bot_token_expires_at - expected) < timedelta(minutes=1)
    assert abs(row.user_token_expires_at - expected) < timedelta(minutes=1)
    events = LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.REFRESHED)
    assert events.count() == 2 and set(events.values_list("actor", flat=True)) == {"staff:alice"}
    assert body["access_token"] not in outcome.message


def test_tokens_not_due_are_left_alone(standin, install):
    workspace, _ = install(rotation=True, user_token=True)
    assert refresh_due(within_minutes=120, actor="command:t") == []
    outcome = refresh_workspace(workspace, actor="command:t", within_minutes=120)
    assert not outcome.refreshed and outcome.message == "nothing was due"
    assert refresh_calls(standin) == []


def test_due_tokens_are_refreshed_once_then_not_again(standin, install):
    workspace, body = install(rotation=True)
    make_due(workspace)
    [outcome] = refresh_due(within_minutes=120, actor="command:t")
    assert outcome.bot_refreshed
    assert refresh_due(within_minutes=120, actor="command:t") == []
    assert refresh_calls(standin) == [body["refresh_token"]]


def test_non_rotating_install_has_nothing_to_refresh(standin, install):
    workspace, _ = install(user_token=True)
    outcome = refresh_workspace(workspace, actor="command:t")
    assert not outcome.refreshed and not outcome.error
    assert refresh_calls(standin) == []


def test_refused_refresh_token_marks_reinstall_without_a_retry_storm(standin, install):
    workspace, body = install(rotation=True)
    standin.revoke_token(body["refresh_token"])
    make_due(workspace)
    [outcome] = refresh_due(within_minutes=120, actor="command:t")
    assert outcome.error == "invalid_refresh_token" and "reinstall" in outcome.message
    workspace.refresh_from_db()
    assert workspace.refresh_failed_at is not None
    assert workspace.last_error == "invalid_refresh_token"
    failed = LifecycleEvent.objects.get(kind=LifecycleEvent.Kind.REFRESH_FAILED)
    assert "reinstall" in failed.detail
    assert refresh_due(within_minutes=120, actor="command:t") == []  # not tried again
    assert len(refresh_calls(standin)) == 1


def test_refused_user_refresh_token_stops_that_user_only(standin, install):
    workspace, body = install(rotation=True, user_token=True)
    standin.revoke_token(body["authed_user"]["refresh_token"])
    outcome = refresh_workspace(workspace, actor="command:t")
    assert outcome.bot_refreshed and outcome.error == "invalid_refresh_token"
    workspace.refresh_from_db()
    row = Installation.objects.get(workspace=workspace)
    assert workspace.refresh_failed_at is None and workspace.bot_token is not None
    assert row.user_token is None and row.user_token_revoked_at is not None


def test_command_prints_what_it_refreshed_without_tokens(standin, install):
    workspace, body = install(rotation=True, user_token=True)
    out = io.StringIO()
    call_command("slack_refresh_tokens", "--within", "800", stdout=out)
    text = out.getvalue()
    assert "Stand-in Workspace (T0STANDIN1)" in text and str(workspace.pk) in text
    assert "bot token refreshed" in text and "1 user token(s) refreshed" in text
    assert "xox" not in text and body["refresh_token"] not in text


def test_command_default_window_finds_nothing_fresh(standin, install):
    install(rotation=True)
    out = io.StringIO()
    call_command("slack_refresh_tokens", stdout=out)
    assert "0 workspace(s) refreshed, 0 due within 120 minutes" in out.getvalue()


def test_command_exits_1_when_a_refresh_fails(standin, install):
    _, body = install(rotation=True)
    standin.revoke_token(body["refresh_token"])
    with pytest.raises(CommandError, match="invalid_refresh_token"):
        call_command("slack_refresh_tokens", "--within", "800", stdout=io.StringIO())


def run_at_once(workers: int, job) -> list:
    """Start ``workers`` threads together; each closes its own DB connection."""
    barrier, results, errors = threading.Barrier(workers), [], []

    def run() -> None:
        try:
            barrier.wait()
            results.append(job())
        except Exception as exc:  # surfaced below, with the thread's traceback lost only here
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


def assert_each_refresh_token_spent_once(standin, workspaces) -> None:
    sent = refresh_calls(standin)
    assert len(sent) == len(set(sent))
    for ws in workspaces:
        ws.refresh_from_db()
        assert ws.refresh_failed_at is None and ws.last_error == ""
        assert standin.token_info(ws.bot_token)["revoked"] is False
    assert not LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.REFRESH_FAILED).exists()


@pytest.mark.django_db(transaction=True)
def test_two_refreshers_of_one_workspace_spend_its_refresh_token_once(standin, install):
    workspace, _ = install(rotation=True)
    make_due(workspace)
    standin.fail_next("oauth.v2.access", delay=0.5)  # hold the first refresh at Slack
    results = run_at_once(
        2, lambda: refresh_workspace(workspace, actor="command:t", within_minutes=120)
    )
    assert sorted(r.bot_refreshed for r in results) == [False, True]
    assert len(refresh_calls(standin)) == 1
    assert_each_refresh_token_spent_once(standin, [workspace])


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runners_share_the_work_on_postgres(standin, install):
    workspaces = [install(rotation=True, team_id=f"T0RACE{i}")[0] for i in range(4)]
    for ws in workspaces:
        make_due(ws)
    standin.fail_next("oauth.v2.access", delay=0.3, times=4)
    results = run_at_once(2, lambda: refresh_due(within_minutes=120, actor="command:t"))
    refreshed = [o for outcomes in results for o in outcomes if o.bot_refreshed]
    assert sorted(o.workspace_id for o in refreshed) == sorted(str(w.pk) for w in workspaces)
    assert len(refresh_calls(standin)) == 4
    assert_each_refresh_token_spent_once(standin, workspaces)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_waiting_refreshers_re_read_after_the_lock_on_postgres(standin, install):
    workspace, _ = install(rotation=True, user_token=True)
    make_due(workspace)
    standin.fail_next("oauth.v2.access", delay=0.3, times=2)
    results = run_at_once(
        3, lambda: refresh_workspace(workspace, actor="command:t", within_minutes=120)
    )
    assert sum(r.bot_refreshed for r in results) == 1
    assert sum(r.users_refreshed for r in results) == 1
    assert len(refresh_calls(standin)) == 2
    assert_each_refresh_token_spent_once(standin, [workspace])


def test_refresh_that_cannot_be_saved_is_retried_then_marked_for_reinstall(
    standin, install, caplog
):
    """Checklist test 47: Slack rotated, our write keeps failing: bounded retries, one refresh
    call, the workspace needs a reinstall, an ERROR names it, and no retry storm follows."""
    workspace, body = install(rotation=True)
    make_due(workspace)
    refuse_writes("installations_workspace", event="UPDATE", column="bot_refresh_token")
    with caplog.at_level("WARNING", logger="installations.rotation"):
        [outcome] = refresh_due(within_minutes=120, actor="command:t")
    assert outcome.error == "save_failed" and not outcome.bot_refreshed
    assert "reinstall needed" in outcome.message
    tries = [r for r in caplog.records if "could not be saved" not in r.getMessage()]
    assert len([r for r in tries if r.levelname == "WARNING" and "try" in r.getMessage()]) == 3
    [error] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert str(workspace.pk) in error.getMessage()
    workspace.refresh_from_db()
    assert workspace.refresh_failed_at is not None and workspace.last_error == "save_failed"
    assert workspace.bot_refresh_token == body["refresh_token"]  # the row was left consistent
    assert refresh_calls(standin) == [body["refresh_token"]]
    assert refresh_due(within_minutes=120, actor="command:t") == []  # no storm of refreshes
    assert refresh_calls(standin) == [body["refresh_token"]]
    for record in caplog.records:
        assert standin.issued[0]["access_token"] not in record.getMessage()
