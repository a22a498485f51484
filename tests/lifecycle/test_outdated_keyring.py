"""A process whose TOKEN_ENCRYPTION_KEYS is outdated changes nothing (issue 11, class 1).

The deploy that bites: a new key goes first, ``slack_reencrypt`` moves every value under it, and
a cron host not yet restarted still has only the old key. Its ``slack_refresh_tokens`` and
``slack_verify`` must report the key ids loudly and exit non-zero, and leave every row exactly
as it was, so the next run on the right keys finds everything still due and refreshes it.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from installations.encryption.fields import EncryptedDataError, unreadable_summary
from installations.encryption.keyring import generate_key_entry
from installations.encryption.models import encrypted_fields
from installations.lifecycle.rotation import due_workspaces, refresh_due
from installations.lifecycle.staff_actions import refresh_workspace, verify_workspace
from installations.models import Health, Installation, LifecycleEvent, Workspace
from tests.support.lifecycle import make_due, refresh_calls, stored_state

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
NEW_KID = "rot2"


def rotate_keys(settings) -> tuple[str, str]:
    """Put a new key first and re-encrypt everything; returns (outdated keyring, current)."""
    old = settings.TOKEN_ENCRYPTION_KEYS  # the test keyring: key id test1
    current = f"{generate_key_entry(NEW_KID)},{old}"
    settings.TOKEN_ENCRYPTION_KEYS = current
    call_command("slack_reencrypt", stdout=io.StringIO())
    return old, current


def expected_line(count: int) -> str:
    return (
        f"{count} value(s) could not be decrypted with this process's keys "
        f"(needs key id {NEW_KID}; configured: test1): check TOKEN_ENCRYPTION_KEYS; "
        "nothing was changed"
    )


def secrets_of(*bodies: dict) -> list[str]:
    found = []
    for body in bodies:
        user = body.get("authed_user") or {}
        found += [body["access_token"], body.get("refresh_token")]
        found += [user.get("access_token"), user.get("refresh_token")]
    return [s for s in found if s]


def assert_every_value_readable() -> None:
    """Every stored token opens with the keyring now configured (nothing lost or mangled)."""
    for model in (Workspace, Installation):
        for row in model.objects.all():
            for field in encrypted_fields(model):
                getattr(row, field.name)  # raises EncryptedDataError if unreadable


def test_the_summary_names_the_key_ids_and_never_a_value(settings):
    settings.TOKEN_ENCRYPTION_KEYS = f"{generate_key_entry('k2')},{generate_key_entry('k1')}"
    assert unreadable_summary(["k9", "k9", "k8"]) == (
        "3 value(s) could not be decrypted with this process's keys (needs key id k8, k9; "
        "configured: k2, k1): check TOKEN_ENCRYPTION_KEYS; nothing was changed"
    )


def test_outdated_refresher_changes_nothing_and_a_correct_run_refreshes_everything(
    standin, install, settings, caplog
):
    made = [install(rotation=True, user_token=True, team_id=f"T0KEYS{i}") for i in range(2)]
    for workspace, _ in made:
        make_due(workspace)
    outdated, current = rotate_keys(settings)
    settings.TOKEN_ENCRYPTION_KEYS = outdated
    before = stored_state()
    out = io.StringIO()
    with caplog.at_level("INFO"), pytest.raises(CommandError) as failed:
        call_command("slack_refresh_tokens", "--within", "120", stdout=out, stderr=io.StringIO())
    assert stored_state() == before  # nothing erased, flagged, claimed or recorded
    assert str(failed.value) == expected_line(4)  # 2 bot + 2 user refresh tokens
    assert refresh_calls(standin) == []
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 4
    assert all(NEW_KID in text and "test1" in text for text in errors)
    logged = "\n".join(r.getMessage() for r in caplog.records) + out.getvalue()
    for secret in secrets_of(*(body for _, body in made)):
        assert secret not in logged
    assert len(due_workspaces(120)) == 2  # still due for the next run

    settings.TOKEN_ENCRYPTION_KEYS = current
    call_command("slack_refresh_tokens", "--within", "120", stdout=io.StringIO())
    assert len(refresh_calls(standin)) == 4 == len(set(refresh_calls(standin)))
    assert due_workspaces(120) == []
    for workspace, _ in made:
        workspace.refresh_from_db()
        assert workspace.refresh_failed_at is None and workspace.last_error == ""
        assert standin.token_info(workspace.bot_token)["revoked"] is False
        row = workspace.installations.get()
        assert row.user_token_revoked_at is None
        assert standin.token_info(row.user_token)["revoked"] is False


def test_outdated_staff_refresh_says_it_is_a_key_problem(standin, install, settings):
    workspace, _ = install(rotation=True, user_token=True)
    outdated, _ = rotate_keys(settings)
    settings.TOKEN_ENCRYPTION_KEYS = outdated
    before = stored_state()
    outcome = refresh_workspace(workspace, actor="staff:alice")
    assert outcome.unreadable == (NEW_KID, NEW_KID) and not outcome.refreshed
    assert "TOKEN_ENCRYPTION_KEYS" in outcome.message and "reinstall" not in outcome.message
    assert f"needs key id {NEW_KID}; configured: test1" in outcome.message
    assert stored_state() == before and refresh_calls(standin) == []


def test_outdated_verifier_changes_nothing_and_exits_non_zero(standin, install, settings, caplog):
    workspace, body = install()
    verify_workspace(workspace, actor="command:slack_verify")  # health ok, before the rotation
    outdated, current = rotate_keys(settings)
    settings.TOKEN_ENCRYPTION_KEYS = outdated
    before, calls = stored_state(), len(standin.calls_to("auth.test"))
    with caplog.at_level("ERROR"), pytest.raises(CommandError) as failed:
        call_command("slack_verify", "--concurrency", "1", stdout=io.StringIO())
    assert str(failed.value) == expected_line(1)
    assert stored_state() == before and len(standin.calls_to("auth.test")) == calls
    [error] = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert NEW_KID in error and "test1" in error and body["access_token"] not in error
    outcome = verify_workspace(Workspace.objects.get(pk=workspace.pk), actor="staff:alice")
    assert outcome.unreadable == (NEW_KID,) and outcome.health == Health.OK
    assert "key configuration problem" in outcome.message
    assert stored_state() == before

    settings.TOKEN_ENCRYPTION_KEYS = current
    call_command("slack_verify", "--concurrency", "1", stdout=io.StringIO())


def test_outdated_verifier_of_an_expired_token_records_nothing(standin, install, settings):
    """auth.test says token_expired; the refresh token needs a key this process lacks."""
    workspace, body = install(rotation=True)
    standin.expire_token(body["access_token"])
    field = Workspace._meta.get_field("bot_refresh_token")
    settings.TOKEN_ENCRYPTION_KEYS = (
        f"{generate_key_entry(NEW_KID)},{settings.TOKEN_ENCRYPTION_KEYS}"
    )
    sealed = field.seal(body["refresh_token"], workspace.pk)  # only the refresh token moves
    Workspace.objects.filter(pk=workspace.pk).update(bot_refresh_token=sealed)
    settings.TOKEN_ENCRYPTION_KEYS = settings.TOKEN_ENCRYPTION_KEYS.split(",", 1)[1]
    before = stored_state()
    outcome = verify_workspace(Workspace.objects.get(pk=workspace.pk), actor="command:x")
    assert outcome.error == "undecryptable" and outcome.unreadable == (NEW_KID,)
    assert stored_state() == before and refresh_calls(standin) == []


def test_a_lost_key_is_reported_the_same_way(standin, install, settings):
    """Same key id, other key bytes (a mistyped entry): still this process's problem."""
    workspace, _ = install(rotation=True)
    make_due(workspace)
    settings.TOKEN_ENCRYPTION_KEYS = generate_key_entry("test1")
    before = stored_state()
    [outcome] = refresh_due(within_minutes=120, actor="command:t")
    assert outcome.unreadable == ("test1",) and outcome.error == "undecryptable"
    assert stored_state() == before
    with pytest.raises(EncryptedDataError) as caught:
        Workspace.objects.get(pk=workspace.pk).bot_token  # noqa: B018
    assert caught.value.key_problem == "needs key id test1; configured: test1"


# --- the race on PostgreSQL: an outdated refresher against slack_reencrypt ------------------------


def database_url() -> str:
    """The test database, for a subprocess (its settings read DATABASE_URL)."""
    conf = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{conf['NAME']}"
    return (
        f"postgres://{conf['USER']}:{conf['PASSWORD']}@{conf['HOST']}:{conf['PORT']}/{conf['NAME']}"
    )


def start_refresher(standin, keys: str) -> subprocess.Popen[str]:
    """slack_refresh_tokens in its own process, with its own TOKEN_ENCRYPTION_KEYS."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "TOKEN_ENCRYPTION_KEYS": keys,
        "SLACK_API_URL": standin.api_url,
        "SLACK_AUTHORIZE_URL": standin.authorize_url,
    }
    return subprocess.Popen(
        # One refresh at a time: the race below holds exactly one refresh at Slack.
        [
            sys.executable,
            "manage.py",
            "slack_refresh_tokens",
            "--within",
            "120",
            "--concurrency",
            "1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_outdated_refresher_racing_slack_reencrypt_loses_nothing(standin, install, settings):
    """The refresher (old key only) holds one refresh at Slack while slack_reencrypt (new key
    first) moves every value, that one's spent refresh token included, under the new key."""
    made = [install(rotation=True, user_token=True, team_id=f"T0RACE{i}") for i in range(3)]
    for workspace, _ in made:
        make_due(workspace)
    outdated = settings.TOKEN_ENCRYPTION_KEYS
    current = f"{generate_key_entry(NEW_KID)},{outdated}"
    standin.fail_next("oauth.v2.access", delay=1.5)  # the first refresh waits at Slack
    refresher = start_refresher(standin, outdated)
    try:
        deadline = time.monotonic() + 30
        while not refresh_calls(standin):
            assert refresher.poll() is None, refresher.communicate()
            assert time.monotonic() < deadline, "the refresher never called Slack"
            time.sleep(0.02)
        settings.TOKEN_ENCRYPTION_KEYS = current
        call_command("slack_reencrypt", stdout=io.StringIO())  # while that answer is pending
        out, err = refresher.communicate(timeout=60)
    finally:
        if refresher.poll() is None:
            refresher.kill()
    assert_every_value_readable()  # under "new, old": no token lost
    assert not Workspace.objects.filter(refresh_failed_at__isnull=False).exists()
    assert not Installation.objects.filter(user_token_revoked_at__isnull=False).exists()
    assert not LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.REFRESH_FAILED).exists()
    assert set(Workspace.objects.values_list("last_error", flat=True)) == {""}
    assert refresher.returncode != 0, out + err
    # The first workspace's tokens were claimed (read under the old key) before the move:
    # both were refreshed and stored. The run's page had read the other two bots before the
    # move too: their claims found the envelopes moved and were skipped, nothing spent. Those
    # workspaces' two user tokens, read after the move, were unreadable.
    assert expected_line(2) in err
    assert "skipped=2" in out
    assert "bot token refreshed; 1 user token(s) refreshed" in out

    outcomes = refresh_due(within_minutes=120, actor="command:t")  # the next, correct run
    assert not [o.error for o in outcomes if o.error]
    assert sum(o.bot_refreshed for o in outcomes) == 2
    assert sum(o.users_refreshed for o in outcomes) == 2
    sent = refresh_calls(standin)
    assert len(sent) == 6 == len(set(sent))  # each refresh token spent once
    assert due_workspaces(120) == []
    for workspace, _ in made:
        workspace.refresh_from_db()
        assert standin.token_info(workspace.bot_token)["revoked"] is False
        assert standin.token_info(workspace.bot_refresh_token)["used"] is False
        row = workspace.installations.get()
        assert standin.token_info(row.user_refresh_token)["used"] is False
    call_command("slack_reencrypt", stdout=io.StringIO())
    call_command("slack_reencrypt", "--check", stdout=io.StringIO())  # the old key can go
