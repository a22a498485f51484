"""A refresh run that meets a database outage, a stop signal or a rate limit: the new pair Slack
issued is stored (a spent refresh token never costs a reinstall for those), and a workspace's
health never speaks of a token it no longer holds.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from django.core.management import call_command
from django.db import Error, connection

from installations.lifecycle.rotation import (
    CLAIM_LEASE,
    RATE_LIMIT_RETRIES,
    REQUEST_SAVE_PATIENCE_SECONDS,
    RefreshFailed,
    refresh_due,
    refresh_for_request,
    refresh_workspace,
)
from installations.lifecycle.verification import verify_workspace
from installations.models import Health, LifecycleEvent, Workspace
from installations.reporting.health import filter_status, with_health
from installations.slack.api import PATIENT_RETRY_AFTER_SECONDS
from tests.support.lifecycle import make_due, refresh_calls
from tests.support.project_copy import ROOT
from tests.support.standin import is_live

pytestmark = pytest.mark.django_db


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def assert_stored_live_pair(standin: Any, workspace: Workspace, old_refresh: str) -> None:
    """The row holds a new pair, live at Slack; nothing asks for a reinstall."""
    workspace.refresh_from_db()
    assert workspace.bot_refresh_token not in (None, old_refresh)
    assert workspace.bot_token is not None and is_live(standin, workspace.bot_token)
    assert is_live(standin, workspace.bot_refresh_token)
    assert workspace.refresh_failed_at is None and workspace.bot_refresh_claimed_until is None
    failed = LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.REFRESH_FAILED)
    assert not failed.filter(detail__contains="reinstall").exists()


# --- a database outage while Slack answers ---------------------------------------------------


@contextmanager
def admin_connection() -> Iterator[psycopg.Connection[Any]]:
    """A connection of the test's own to the server, outside Django and the test database (a
    database cannot refuse connections while its own session alters it)."""
    conf = connection.settings_dict
    with psycopg.connect(
        host=conf["HOST"], port=conf["PORT"], user=conf["USER"], password=conf["PASSWORD"],
        dbname="postgres", autocommit=True,
    ) as admin:  # fmt: skip
        yield admin


@contextmanager
def database_refusing_connections(admin: psycopg.Connection[Any]) -> Iterator[None]:
    """The test database stops accepting connections and drops every one it has (what a
    restart or a failover looks like to a client), until the block ends."""
    name = connection.settings_dict["NAME"]
    admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
    try:
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (name,),
        )
        yield
    finally:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_database_outage_while_slack_answers_loses_no_new_pair(standin, install):
    """Slack spends the refresh token and answers late; meanwhile the database drops every
    connection (the run's too) and refuses new ones for seconds. The store waits it out on a
    new connection: the new pair is stored, nobody needs a reinstall."""
    made = sorted((install(rotation=True, team_id=f"T0OUT{i}") for i in range(2)),
                  key=lambda installed: installed[0].pk)  # fmt: skip
    for workspace, _ in made:
        make_due(workspace)
    standin.fail_next("oauth.v2.access", delay=2)  # the first refresh is answered late
    outage_over = threading.Event()

    def outage() -> None:
        with admin_connection() as admin:
            wait_for(lambda: bool(refresh_calls(standin)), "the run called Slack")
            with database_refusing_connections(admin):
                time.sleep(3.5)  # beyond Slack's answer: the store meets the outage
            outage_over.set()

    thread = threading.Thread(target=outage)
    thread.start()
    try:
        outcomes = refresh_due(within_minutes=120, actor="command:t", concurrency=1)
    finally:
        thread.join(60)
    assert outage_over.is_set()
    assert [o.error for o in outcomes] == ["", ""]
    assert all(o.bot_refreshed for o in outcomes)
    for workspace, body in made:
        assert_stored_live_pair(standin, workspace, body["refresh_token"])
    assert len(refresh_calls(standin)) == 2
    assert refresh_due(within_minutes=120, actor="command:t") == []  # nothing left to redo


# --- SIGTERM in the middle of a run ---------------------------------------------------------


def database_url() -> str:
    conf = connection.settings_dict
    return (
        f"postgres://{conf['USER']}:{conf['PASSWORD']}@{conf['HOST']}:{conf['PORT']}/{conf['NAME']}"
    )


def start_refresh_command(standin: Any, *, concurrency: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SLACK_API_URL": standin.api_url,
        "SLACK_AUTHORIZE_URL": standin.authorize_url,
    }
    command = [sys.executable, "manage.py", "slack_refresh_tokens", "--within", "120",
               "--concurrency", str(concurrency)]  # fmt: skip
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_sigterm_mid_run_stores_the_pairs_in_flight_and_says_what_is_left(standin, install):
    """Two refreshes wait on Slack (two threads), a third is claimed but not sent, when the run
    gets SIGTERM: the two pairs are stored, the third token is released untouched, and the run
    exits 1 with one line saying it was stopped and what is left."""
    made = [install(rotation=True, team_id=f"T0TERM{i}") for i in range(3)]
    for workspace, _ in made:
        make_due(workspace)
    standin.fail_next("oauth.v2.access", delay=3, times=2)
    run = start_refresh_command(standin, concurrency=2)
    try:
        wait_for(lambda: len(refresh_calls(standin)) == 2 or run.poll() is not None,
                 "two refreshes reached Slack")  # fmt: skip
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 1, out + err
    sent = set(refresh_calls(standin))
    assert len(sent) == 2, out + err
    by_refresh = {body["refresh_token"]: (workspace, body) for workspace, body in made}
    for token in sent:
        assert_stored_live_pair(standin, by_refresh[token][0], token)
    [(left, left_body)] = [pair for token, pair in by_refresh.items() if token not in sent]
    left.refresh_from_db()
    assert left.bot_refresh_token == left_body["refresh_token"]
    assert is_live(standin, left_body["refresh_token"])
    assert left.bot_refresh_claimed_until is None  # due again at once
    lines = err.strip().splitlines()
    assert lines[-1] == (
        "CommandError: stopped by SIGTERM: the refreshes already sent to Slack were finished; "
        "nothing more was started; 1 workspace(s) left for the next run"
    ), err
    assert out.strip().splitlines()[-1].startswith("slack_refresh_tokens: due=")
    assert "status=failed" in out.strip().splitlines()[-1]
    [outcome] = refresh_due(within_minutes=120, actor="command:t")  # the next run
    assert outcome.bot_refreshed and not outcome.error


# --- health: a verdict about the old token ----------------------------------------------------


def test_a_refresh_clears_a_dead_verdict_about_the_token_it_replaced(standin, install):
    """auth.test on the old token (already revoked at Slack by the refresh) says dead; the new
    pair stored after it works, so the workspace is not shown as needing a reinstall."""
    workspace, body = install(rotation=True)
    make_due(workspace)
    standin.revoke_token(body["access_token"])  # what the refresh does to the old token
    verified = verify_workspace(Workspace.objects.get(pk=workspace.pk), actor="command:x")
    assert verified.health == Health.DEAD
    [outcome] = refresh_due(within_minutes=120, actor="command:t")
    assert outcome.bot_refreshed
    workspace.refresh_from_db()
    assert workspace.health == Health.UNKNOWN and workspace.verify_failures == 0
    shown = with_health(Workspace.objects.filter(pk=workspace.pk))
    assert not filter_status(shown, "needs_reinstall").exists()  # what the admin shows
    verified = verify_workspace(workspace, actor="command:x")  # the next verify: the new token
    assert verified.health == Health.OK


def test_a_verdict_about_the_old_token_after_the_refresh_is_not_recorded(standin, install):
    """A verify that read the row before the refresh stored the new pair: its verdict is about a
    token the row no longer holds, so it is not recorded."""
    workspace, body = install(rotation=True)
    make_due(workspace)
    read_before = Workspace.objects.get(pk=workspace.pk)
    [outcome] = refresh_due(within_minutes=120, actor="command:t")
    assert outcome.bot_refreshed
    standin.revoke_token(body["access_token"])
    verified = verify_workspace(read_before, actor="command:x")
    assert verified.error == "changed_meanwhile"
    workspace.refresh_from_db()
    assert workspace.health == Health.UNKNOWN and workspace.verify_failures == 0
    assert not LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.VERIFY_FAILED).exists()


# --- a rate limit -----------------------------------------------------------------------------


def test_the_command_waits_out_a_rate_limit_a_request_thread_does_not(standin, install):
    """A 429 means Slack did not act: the command waits a Retry-After longer than a request
    may, then sends the same refresh token again, which Slack spends once. The Bolt request
    path stays short: it gives up on that 429 at once."""
    workspace, body = install(rotation=True)
    make_due(workspace)
    standin.fail_next("oauth.v2.access", status=429, retry_after="4")
    started = time.monotonic()
    result = refresh_for_request(
        client_id=workspace.client_id, enterprise_id=workspace.enterprise_id,
        team_id=workspace.team_id, user_id=None, bot=True, minutes=120, actor="bolt",
    )  # fmt: skip
    assert result.bot == RefreshFailed("ratelimited") and time.monotonic() - started < 3
    standin.fail_next("oauth.v2.access", status=429, retry_after="4")
    started = time.monotonic()
    out = io.StringIO()
    call_command("slack_refresh_tokens", "--within", "120", stdout=out)
    assert time.monotonic() - started >= 4
    assert refresh_calls(standin) == [body["refresh_token"]] * 3
    assert_stored_live_pair(standin, workspace, body["refresh_token"])
    assert Workspace.objects.get(pk=workspace.pk).last_error == ""
    assert "refreshed=1" in out.getvalue()


def test_the_claim_lease_outlasts_a_run_waiting_out_rate_limits(settings):
    """While a command waits out 429s no other runner may take the token over."""
    tries = RATE_LIMIT_RETRIES + 1
    waiting = timedelta(
        seconds=tries * settings.SLACK_HTTP_TIMEOUT_SECONDS
        + RATE_LIMIT_RETRIES * PATIENT_RETRY_AFTER_SECONDS
    )
    assert CLAIM_LEASE > waiting


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_request_thread_does_not_wait_out_a_long_outage(standin, install):
    """An event's or a staff action's refresh gives up on the database within seconds: Slack
    wants its answer sooner, and a worker's threads must not all wait out the outage."""
    workspace, _ = install(rotation=True)
    make_due(workspace)
    standin.fail_next("oauth.v2.access", delay=2)
    outage_over = threading.Event()

    def outage() -> None:
        with admin_connection() as admin:
            wait_for(lambda: bool(refresh_calls(standin)), "the refresh called Slack")
            with database_refusing_connections(admin):
                time.sleep(REQUEST_SAVE_PATIENCE_SECONDS * 4)
            outage_over.set()

    thread = threading.Thread(target=outage)
    thread.start()
    try:
        with pytest.raises(Error):
            refresh_workspace(workspace, actor="staff:t", within_minutes=120)
        assert not outage_over.is_set()  # it gave up while the database was still away
    finally:
        thread.join(60)
        connection.close()
