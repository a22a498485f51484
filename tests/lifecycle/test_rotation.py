"""Token rotation against the stand-in: bot and user refreshed separately, each refresh token
spent once (claims, not a transaction held across the call), a refused refresh token marks the
workspace for reinstall, any other fault is recorded and the run goes on. Issue 11 classes 1, 5
and 7; docs/security.md.
"""

from __future__ import annotations

import contextlib
import io
import threading
import time
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from installations.encryption.keyring import generate_key_entry
from installations.lifecycle.rotation import CLAIM_LEASE, due_workspaces, refresh_due
from installations.lifecycle.staff_actions import refresh_workspace
from installations.models import Installation, LifecycleEvent, Workspace
from tests.support.db_faults import refuse_writes
from tests.support.lifecycle import make_due, refresh_calls, run_at_once
from tests.support.standin import is_live

pytestmark = pytest.mark.django_db


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
    assert workspace.bot_token_expires_at is not None and row.user_token_expires_at is not None
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


def assert_each_refresh_token_spent_once(standin, workspaces) -> None:
    sent = refresh_calls(standin)
    assert len(sent) == len(set(sent))
    for ws in workspaces:
        ws.refresh_from_db()
        assert ws.refresh_failed_at is None and ws.last_error == ""
        assert ws.bot_refresh_claimed_until is None  # every claim released
        assert standin.token_info(ws.bot_token)["revoked"] is False
        assert standin.token_info(ws.bot_refresh_token)["used"] is False  # the live pair is ours
        for row in ws.installations.filter(user_token__isnull=False):
            assert row.user_refresh_claimed_until is None
            assert standin.token_info(row.user_token)["revoked"] is False
            assert standin.token_info(row.user_refresh_token)["used"] is False
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
@pytest.mark.parametrize("runners", [2, 3])
def test_two_runners_share_the_work_on_postgres(standin, install, runners):
    """Runners at once, each answer held at Slack: every refresh token (bot and user) is spent
    by exactly one claimer, and no runner waits on another's lock meanwhile."""
    workspaces = [
        install(rotation=True, user_token=True, team_id=f"T0RACE{i}")[0] for i in range(4)
    ]
    for ws in workspaces:
        make_due(ws)
    standin.fail_next("oauth.v2.access", delay=0.3, times=8)
    results = run_at_once(runners, lambda: refresh_due(within_minutes=120, actor="command:t"))
    outcomes = [o for run in results for o in run]
    refreshed = [o for o in outcomes if o.bot_refreshed]
    assert sorted(o.workspace_id for o in refreshed) == sorted(str(w.pk) for w in workspaces)
    assert sum(o.users_refreshed for o in outcomes) == 4
    assert not [o.error for o in outcomes if o.error]
    assert len(refresh_calls(standin)) == 8
    assert_each_refresh_token_spent_once(standin, workspaces)
    assert due_workspaces(120) == []


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
    """Slack rotated, our write keeps failing: bounded retries, one refresh
    call, the workspace needs a reinstall, an ERROR names it, and no retry storm follows."""
    workspace, body = install(rotation=True)
    make_due(workspace)
    refuse_writes("installations_workspace", event="UPDATE", column="bot_refresh_token")
    with caplog.at_level("WARNING", logger="installations.lifecycle.rotation"):
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
    refreshed = standin.issued[-1]  # stored nowhere: revoked, not left live at Slack
    assert refreshed["refresh_token"] != body["refresh_token"]
    assert not is_live(standin, refreshed["refresh_token"])
    assert not is_live(standin, refreshed["access_token"])


def test_a_live_claim_is_skipped_and_an_expired_one_is_taken_over(standin, install):
    """A claim is how runners share the work; one left by a runner that died expires."""
    workspace, body = install(rotation=True)
    make_due(workspace)
    claimed = timezone.now() + timedelta(minutes=1)
    Workspace.objects.filter(pk=workspace.pk).update(bot_refresh_claimed_until=claimed)
    assert due_workspaces(120) == [] and refresh_due(within_minutes=120, actor="command:t") == []
    outcome = refresh_workspace(workspace, actor="staff:alice", within_minutes=120)
    assert outcome.skipped and not outcome.refreshed and "another runner" in outcome.message
    assert refresh_calls(standin) == []
    gone = timezone.now() - timedelta(seconds=1)  # the claimer died: its lease ran out
    Workspace.objects.filter(pk=workspace.pk).update(bot_refresh_claimed_until=gone)
    [outcome] = refresh_due(within_minutes=120, actor="command:t")
    assert outcome.bot_refreshed and refresh_calls(standin) == [body["refresh_token"]]
    workspace.refresh_from_db()
    assert workspace.bot_refresh_claimed_until is None


def test_the_claim_lease_outlasts_the_http_deadline(settings):
    assert CLAIM_LEASE > timedelta(seconds=3 * settings.SLACK_HTTP_TIMEOUT_SECONDS)


@pytest.mark.parametrize(
    "fault",
    [
        {"drop": True},
        {"status": 500},
        {"status": 429, "retry_after": 60},  # longer than a command waits
        {"error": "fatal_error"},
        {"html": True, "status": 502},
        {"body": ["not", "an", "object"]},
        {"raw": b"<xml>not json</xml>"},
        {"redirect": "http://127.0.0.1:9/elsewhere"},
        {"huge": 2 * 1024 * 1024},
    ],
    ids=[
        "dropped", "http-500", "ratelimited", "other-error", "html", "not-an-object", "not-json",
        "redirect", "huge",
    ],
)  # fmt: skip
def test_a_slack_fault_is_recorded_releases_the_claim_and_the_run_goes_on(standin, install, fault):
    """Not an answer about the refresh token: recorded against that workspace, never a
    reinstall, nothing erased, the token stays due, the next workspace is still refreshed."""
    # A run reads workspaces by primary key: the first in key order gets the fault.
    (first, first_body), (second, _) = sorted(
        (install(rotation=True, user_token=True, team_id=t) for t in ("T0FAULT1", "T0FAULT2")),
        key=lambda installed: installed[0].pk,
    )
    make_due(first)
    make_due(second)
    standin.fail_next("oauth.v2.access", **fault)
    outcomes = refresh_due(within_minutes=120, actor="command:t")
    by_id = {o.workspace_id: o for o in outcomes}
    failed, done = by_id[str(first.pk)], by_id[str(second.pk)]
    assert failed.error and not failed.bot_refreshed and "reinstall" not in failed.message
    assert failed.users_refreshed == 1  # its user token has its own refresh token
    assert done.bot_refreshed and done.users_refreshed == 1 and not done.error
    first.refresh_from_db()
    assert first.refresh_failed_at is None and first.last_error == failed.error
    assert first.bot_refresh_claimed_until is None
    assert first.bot_refresh_token == first_body["refresh_token"]  # kept, not erased
    event = LifecycleEvent.objects.get(kind=LifecycleEvent.Kind.REFRESH_FAILED)
    assert "reinstall" not in event.detail
    assert [w.pk for w in due_workspaces(120)] == [first.pk]  # tried again next run
    [again] = refresh_due(within_minutes=120, actor="command:t")
    assert again.bot_refreshed and not again.error
    first.refresh_from_db()
    assert first.last_error == ""


def in_thread(job, results: list) -> threading.Thread:
    def run() -> None:
        try:
            results.append(job())
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def wait_for_refresh_call(standin, count: int = 1) -> None:
    deadline = time.monotonic() + 10
    while len(refresh_calls(standin)) < count:
        assert time.monotonic() < deadline, "the refresh never reached the stand-in"
        time.sleep(0.02)


@pytest.mark.django_db(transaction=True)
def test_a_reinstall_while_slack_answers_keeps_the_new_install(standin, install):
    workspace, _ = install(rotation=True)
    make_due(workspace)
    standin.fail_next("oauth.v2.access", delay=1.0)
    results: list = []
    worker = in_thread(
        lambda: refresh_workspace(workspace, actor="command:t", within_minutes=120), results
    )
    wait_for_refresh_call(standin)
    fresh, new = install(rotation=True)  # the workspace's admin reinstalls meanwhile
    worker.join(15)
    [outcome] = results
    assert not outcome.bot_refreshed and not outcome.error
    fresh.refresh_from_db()
    assert fresh.bot_token == new["access_token"] and fresh.bot_refresh_claimed_until is None
    assert fresh.bot_refresh_token == new["refresh_token"]
    assert not LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.REFRESHED).exists()


@pytest.mark.django_db(transaction=True)
def test_a_refusal_of_a_token_replaced_meanwhile_marks_nothing(standin, install):
    """invalid_refresh_token answers for the token we sent; if a reinstall replaced it
    meanwhile, the workspace does not need a reinstall."""
    workspace, _ = install(rotation=True)
    make_due(workspace)
    standin.fail_next("oauth.v2.access", error="invalid_refresh_token", delay=1.0)
    results: list = []
    worker = in_thread(
        lambda: refresh_workspace(workspace, actor="command:t", within_minutes=120), results
    )
    wait_for_refresh_call(standin)
    fresh, new = install(rotation=True)
    worker.join(15)
    [outcome] = results
    assert not outcome.error
    fresh.refresh_from_db()
    assert fresh.refresh_failed_at is None and fresh.last_error == ""
    assert fresh.bot_refresh_token == new["refresh_token"]
    assert not LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.REFRESH_FAILED).exists()


@pytest.mark.django_db(transaction=True)
def test_re_encryption_while_slack_answers_keeps_the_refreshed_pair(standin, install, settings):
    """slack_reencrypt moves the spent refresh token to a new key while Slack answers: the
    stored envelope changed, the token did not, so the new pair is ours to store."""
    workspace, body = install(rotation=True, user_token=True)
    make_due(workspace)
    standin.fail_next("oauth.v2.access", delay=1.0)
    results: list = []
    worker = in_thread(
        lambda: refresh_workspace(workspace, actor="command:t", within_minutes=120), results
    )
    wait_for_refresh_call(standin)
    settings.TOKEN_ENCRYPTION_KEYS = (
        f"{generate_key_entry('next')},{settings.TOKEN_ENCRYPTION_KEYS}"
    )
    call_command("slack_reencrypt", stdout=io.StringIO())
    worker.join(15)
    [outcome] = results
    assert outcome.bot_refreshed and outcome.users_refreshed == 1 and not outcome.error
    assert len(refresh_calls(standin)) == 2
    assert_each_refresh_token_spent_once(standin, [workspace])
    assert workspace.bot_refresh_token != body["refresh_token"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("refused", [False, True], ids=["answered", "refused"])
def test_a_runner_whose_lease_ran_out_stores_its_answer_but_marks_nothing(
    standin, install, refused
):
    """Another runner took the claim over while Slack held our answer (our lease expired). Slack
    honours the refresh token once: an answer we got is the only live pair, so it is stored
    (and the other runner's claim left alone); a refusal we got decides nothing."""
    workspace, body = install(rotation=True)
    make_due(workspace)
    error = {"error": "invalid_refresh_token"} if refused else {}
    standin.fail_next("oauth.v2.access", delay=1.0, **error)
    results: list = []
    worker = in_thread(
        lambda: refresh_workspace(workspace, actor="command:t", within_minutes=120), results
    )
    wait_for_refresh_call(standin)
    theirs = timezone.now() + timedelta(seconds=90)
    Workspace.objects.filter(pk=workspace.pk).update(bot_refresh_claimed_until=theirs)
    worker.join(15)
    [outcome] = results
    workspace.refresh_from_db()
    assert workspace.bot_refresh_claimed_until == theirs
    assert workspace.refresh_failed_at is None and not outcome.error
    assert outcome.bot_refreshed is not refused
    changed = workspace.bot_refresh_token != body["refresh_token"]
    assert changed is not refused


def needs_reinstall_line(team_id: str) -> str:
    """The workspace's line in ``slack_installations --needs-reinstall`` ("" when not listed)."""
    out = io.StringIO()
    with contextlib.suppress(SystemExit):  # exit status 1 when a workspace is listed
        call_command("slack_installations", "--needs-reinstall", stdout=out)
    return next((line for line in out.getvalue().splitlines() if team_id in line), "")


@pytest.mark.parametrize(
    "patch",
    [{"expires_in": "43200"}, {"expires_in": 43200.0}, {"ok": "true"}, {"refresh_token": None}],
    ids=["expires_in-text", "expires_in-float", "ok-text", "refresh_token-null"],
)
def test_an_unusable_answer_that_spent_the_refresh_token_marks_a_reinstall_at_once(
    standin, install, patch
):
    """Slack answered the refresh with new tokens (so the refresh token sent is spent), in an
    answer we cannot use: the tokens it carried are revoked, and the workspace needs a
    reinstall now, as when Slack refuses the refresh token, not after the next run."""
    workspace, body = install(rotation=True)
    make_due(workspace)
    assert "Token refresh failed" not in needs_reinstall_line(workspace.team_id)
    standin.fail_next("oauth.v2.access", patch=patch)
    [outcome] = refresh_due(within_minutes=120, actor="command:t")
    assert outcome.error == "unusable_refresh_answer" and "(reinstall needed)" in outcome.message
    issued = standin.issued[-1]
    for name in ("access_token", "refresh_token"):
        if name not in patch:  # a token the answer did not carry cannot be revoked
            assert not is_live(standin, issued[name])
    assert not is_live(standin, body["refresh_token"])  # spent by the refresh
    workspace.refresh_from_db()
    assert workspace.refresh_failed_at is not None
    assert workspace.last_error == "unusable_refresh_answer"
    assert workspace.bot_refresh_claimed_until is None
    event = LifecycleEvent.objects.get(kind=LifecycleEvent.Kind.REFRESH_FAILED)
    assert "Slack spent the refresh token" in event.detail and "reinstall needed" in event.detail
    assert "Token refresh failed" in needs_reinstall_line(workspace.team_id)
    assert refresh_due(within_minutes=120, actor="command:t") == []  # not tried again
    assert len(refresh_calls(standin)) == 1


def test_an_unusable_user_refresh_answer_ends_that_users_tokens(standin, install):
    workspace, body = install(rotation=True, user_token=True)
    standin.fail_next("oauth.v2.access")  # the bot's refresh: an error that spends nothing
    standin.fail_next("oauth.v2.access", patch={"expires_in": "43200"})
    outcome = refresh_workspace(workspace, actor="command:t")
    assert not outcome.bot_refreshed and outcome.error == "internal_error"
    row = Installation.objects.get(workspace=workspace)
    assert row.user_token is None and row.user_refresh_token is None
    assert row.user_token_revoked_at is not None
    workspace.refresh_from_db()
    assert workspace.refresh_failed_at is None  # the bot's refresh token is still good
    assert workspace.bot_refresh_token == body["refresh_token"]
    failed = LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.REFRESH_FAILED)
    assert [e.detail.split(":")[0] for e in failed.order_by("pk")] == [
        "bot",
        f"user {body['authed_user']['id']}",
    ]
