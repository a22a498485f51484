"""Forgetting a workspace (``slack_forget_workspace``, the admin's Forget action) and the
retention purge (``slack_purge_history``): nothing of the target is left in any table."""

from __future__ import annotations

import io
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Generator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.utils import timezone

from installations import checks
from installations.encryption.keyring import generate_key_entry
from installations.lifecycle.erasure import PurgeOutcome, purge_history
from installations.lifecycle.staff_actions import revoke_workspace
from installations.models import (
    ForgottenWorkspace,
    Installation,
    LifecycleEvent,
    Workspace,
)
from installations.reporting.enterprises import enterprise_choices
from installations.signin.models import SlackIdentity
from slackstandin import SlackStandIn
from tests.support.lifecycle import envelope
from tests.support.standin import is_live, known_token, live_and_unkept

pytestmark = pytest.mark.django_db(transaction=True)


def every_table_as_text() -> str:
    """Every row of every table of the database, as text: what a dump would show."""
    parts: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            parts.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(parts)


def raw_columns(workspace: Workspace) -> list[str]:
    """The stored envelopes of the workspace's tokens, exactly as the database holds them."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT bot_token FROM installations_workspace WHERE id = %s", [workspace.pk.hex]
            if connection.vendor == "sqlite" else [workspace.pk],
        )  # fmt: skip
        return [value for (value,) in cursor.fetchall() if value]


def signed_in_user(team_id: str, team_name: str) -> tuple[Any, SlackIdentity]:
    """A member of the workspace who signed in with Slack: the account sign-in made."""
    user_id = "U0MEMBER" + secrets.token_hex(3).upper()
    user = get_user_model().objects.create(
        username=f"slack-{team_id}-{user_id}".lower(),
        email=f"member-{user_id.lower()}@example.test",
        first_name="Ada" + user_id[-4:],
        last_name="Member" + user_id[-4:],
    )
    identity = SlackIdentity.objects.create(
        user=user, home=team_id, slack_user_id=user_id, team_id=team_id,
        email=user.email, name=f"Ada {user_id}", team_name=team_name,
    )  # fmt: skip
    return user, identity


def needles(workspace: Workspace, user: Any, identity: SlackIdentity) -> list[str]:
    installs = list(Installation.objects.filter(workspace=workspace))
    found = [
        workspace.team_id, workspace.team_name, workspace.bot_user_id, workspace.bot_id,
        workspace.installer_user_id, user.username, user.email, user.first_name,
        identity.slack_user_id, identity.name, *raw_columns(workspace),
        *(i.user_id for i in installs), *(i.incoming_webhook_channel_id for i in installs),
    ]  # fmt: skip
    return [needle for needle in found if needle and len(needle) > 4]


def test_forget_revokes_at_slack_and_leaves_nothing_in_any_table(
    standin: SlackStandIn,
    install: Any,
    saved_workspace: Any,
    post_event: Any,
    django_user_model: Any,
) -> None:
    workspace, body = install(user_token=True, webhook=True)
    other = saved_workspace(  # another workspace, sharing none of the first one's ids
        team_id="T0KEEPME01", team_name="Kept team", app_id="A0STANDIN", bot_id="B0KEPT0001",
        bot_user_id="U0KEPTBOT1", user_id="U0KEPTUSER", enterprise_id=None, enterprise_name=None,
    )  # fmt: skip
    staff = django_user_model.objects.create_user("staffer", password="x" * 20, is_staff=True)
    LogEntry.objects.log_actions(
        user_id=staff.pk, queryset=[workspace], action_flag=CHANGE, change_message="Verify"
    )
    user, identity = signed_in_user(workspace.team_id, workspace.team_name)
    looked_for = needles(workspace, user, identity)
    tokens = [body["access_token"], body["authed_user"]["access_token"]]
    assert all(is_live(standin, token) for token in tokens)
    assert any(needle in every_table_as_text() for needle in looked_for)

    out = io.StringIO()
    call_command("slack_forget_workspace", workspace.team_id, "--noinput", stdout=out)

    assert not any(is_live(standin, token) for token in tokens)
    dump = every_table_as_text()
    assert [needle for needle in looked_for if needle in dump] == []
    assert ForgottenWorkspace.objects.count() == 1
    assert str(ForgottenWorkspace.objects.get().pk) in out.getvalue()
    assert "Tokens revoked at Slack: 2." in out.getvalue()
    user.refresh_from_db()
    assert not user.is_active and user.username.startswith("forgotten-")
    assert staff.username in dump  # staff who acted keep their own account
    kept = Workspace.objects.get(pk=other.pk)
    assert kept.bot_token and Installation.objects.filter(workspace=kept).exists()

    # Slack's events about the forgotten workspace: acknowledged, and nothing is written.
    events = LifecycleEvent.objects.count()
    answer = post_event({
        "type": "event_callback", "team_id": workspace.team_id, "api_app_id": "A0STANDIN",
        "event_id": "Ev0FORGOTTEN", "event_time": 1, "event": {"type": "app_uninstalled"},
    })  # fmt: skip
    assert answer.status_code == 200
    assert LifecycleEvent.objects.count() == events
    assert [n for n in looked_for if n in every_table_as_text()] == []


def test_forget_an_org_erases_every_workspace_of_it(standin: SlackStandIn, install: Any) -> None:
    org, _ = install(org_wide=True, enterprise_id="E0FORGETORG")
    out = io.StringIO()
    call_command("slack_forget_workspace", "E0FORGETORG", "--noinput", stdout=out)
    assert not Workspace.objects.filter(pk=org.pk).exists()
    assert "E0FORGETORG" not in every_table_as_text()


def test_forget_asks_for_the_id_again(standin: SlackStandIn, install: Any) -> None:
    workspace, _ = install()
    with pytest.raises(CommandError, match="not confirmed"):
        call_command(
            "slack_forget_workspace", workspace.team_id, stdin=io.StringIO("T0SOMETHINGELSE\n"),
            stdout=io.StringIO(),
        )  # fmt: skip
    assert Workspace.objects.filter(pk=workspace.pk).exists()
    call_command(
        "slack_forget_workspace", workspace.team_id,
        stdin=io.StringIO(workspace.team_id + "\n"), stdout=io.StringIO(),
    )  # fmt: skip
    assert not Workspace.objects.filter(pk=workspace.pk).exists()


@pytest.mark.parametrize(
    "target", ["", "T", "x" * 200, "T0abc", "U0ABCDEF", "T0ABC' OR 1=1", "T0\x00ABC"]
)
def test_forget_refuses_what_is_not_an_id(target: str) -> None:
    with pytest.raises(CommandError, match="is not a workspace"):
        call_command("slack_forget_workspace", target, "--noinput", stdout=io.StringIO())


def test_forget_of_an_unknown_id_says_so(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="installations.lifecycle.erasure")
    with pytest.raises(CommandError, match="nothing is stored about T0NOBODY"):
        call_command("slack_forget_workspace", "T0NOBODY", "--noinput", stdout=io.StringIO())
    assert not ForgottenWorkspace.objects.exists()
    said = [record.getMessage() for record in caplog.records]
    assert said == ["asked to forget a workspace or org by command:slack_forget_workspace: "
                    "nothing was stored"]  # fmt: skip


def test_forget_erases_when_slack_cannot_be_reached(
    standin: SlackStandIn, install: Any, settings: Any
) -> None:
    workspace, _ = install()
    settings.SLACK_API_URL = "http://127.0.0.1:9/api/"  # nothing listens there
    out = io.StringIO()
    call_command("slack_forget_workspace", workspace.team_id, "--noinput", stdout=out)
    assert "did not confirm every revocation (slack_unavailable)" in out.getvalue()
    assert workspace.team_id not in every_table_as_text()


def test_the_admin_forget_action_is_for_superusers_and_confirms_first(
    standin: SlackStandIn, install: Any, django_user_model: Any, client: Any
) -> None:
    workspace, _ = install()
    staff = django_user_model.objects.create_user("viewer", password="x" * 20, is_staff=True)
    for codename in ("view_workspace", "change_workspace", "revoke_workspace"):
        staff.user_permissions.add(
            ContentType.objects.get_for_model(Workspace).permission_set.get(codename=codename)
        )
    url = "/admin/installations/workspace/"
    client.force_login(staff)
    page = client.get(url, secure=True)
    assert b'value="forget"' not in page.content
    post = {"action": "forget", "_selected_action": [str(workspace.pk)]}
    assert client.post(url, post, secure=True).status_code in (200, 302)
    assert Workspace.objects.filter(pk=workspace.pk).exists()

    admin = django_user_model.objects.create_superuser("root", password="x" * 20)
    client.force_login(admin)
    confirm = client.post(url, post, secure=True)
    assert confirm.status_code == 200 and b"cannot be undone" in confirm.content
    assert Workspace.objects.filter(pk=workspace.pk).exists()
    done = client.post(url, {**post, "confirm": "yes"}, secure=True, follow=True)
    assert done.status_code == 200 and b"Forgot " in done.content
    assert not Workspace.objects.filter(pk=workspace.pk).exists()
    assert workspace.team_id not in every_table_as_text()


# --- retention ------------------------------------------------------------------------------------


def test_retention_erases_what_is_older_in_batches_that_can_stop_and_resume(
    saved_workspace: Any,
) -> None:
    now = timezone.now()
    old_gone = [saved_workspace(team_id=f"T0OLDGONE{n}", team_name=f"Old {n}") for n in range(3)]
    recent_gone = saved_workspace(team_id="T0RECENTGONE", team_name="Recent")
    active = saved_workspace(team_id="T0ACTIVE01", team_name="Active")
    Workspace.objects.filter(pk__in=[w.pk for w in old_gone]).update(
        uninstalled_at=now - timedelta(days=40)
    )
    Workspace.objects.filter(pk=recent_gone.pk).update(uninstalled_at=now - timedelta(days=5))
    LifecycleEvent.objects.filter(workspace=active).update(occurred_at=now - timedelta(days=31))
    fresh = LifecycleEvent.objects.create(workspace=active, kind="verified", actor="test")
    first = Installation.objects.get(workspace=active)
    Installation.objects.filter(pk=first.pk).update(  # replaced by a newer flow, as saving does
        is_current=False,
        installed_at=now - timedelta(days=35),
        user_token=None,
        user_refresh_token=None,
    )

    run = purge_history(30, now=now, batch_size=1)
    assert isinstance(run, Generator)  # so it can be stopped between batches
    assert next(run).workspaces_forgotten == 1  # one batch, committed; then stopped
    run.close()
    assert Workspace.objects.filter(team_id__startswith="T0OLDGONE").count() == 2

    totals = list(purge_history(30, now=now, batch_size=1))[-1]  # a new run carries on
    assert totals.workspaces_forgotten == 2 and totals.installations_deleted == 1
    assert not Workspace.objects.filter(team_id__startswith="T0OLDGONE").exists()
    assert "T0OLDGONE" not in every_table_as_text() and "Old 1" not in every_table_as_text()
    assert ForgottenWorkspace.objects.count() == 3
    assert set(Workspace.objects.values_list("team_id", flat=True)) == {
        "T0RECENTGONE", "T0ACTIVE01",
    }  # fmt: skip
    assert list(LifecycleEvent.objects.filter(workspace=active)) == [fresh]
    assert not Installation.objects.filter(pk=first.pk).exists()

    later = now + timedelta(days=26)  # the clock moves on: the recent one is now old too
    list(purge_history(30, now=later))
    assert not Workspace.objects.filter(team_id="T0RECENTGONE").exists()
    assert Workspace.objects.filter(team_id="T0ACTIVE01").exists()


def test_purge_history_keeps_everything_when_retention_is_unset(
    saved_workspace: Any, settings: Any
) -> None:
    settings.SLACK_RETENTION_DAYS = None
    workspace = saved_workspace(team_id="T0KEEP0001")
    Workspace.objects.filter(pk=workspace.pk).update(
        uninstalled_at=timezone.now() - timedelta(days=4000)
    )
    out = io.StringIO()
    call_command("slack_purge_history", stdout=out)
    assert Workspace.objects.filter(pk=workspace.pk).exists()
    assert out.getvalue().splitlines()[-1].startswith("slack_purge_history: workspaces_forgotten=0")
    assert "status=ok" in out.getvalue()


def test_purge_history_follows_the_setting(saved_workspace: Any, settings: Any) -> None:
    settings.SLACK_RETENTION_DAYS = 30
    workspace = saved_workspace(team_id="T0OLD00001")
    Workspace.objects.filter(pk=workspace.pk).update(
        uninstalled_at=timezone.now() - timedelta(days=31)
    )
    out = io.StringIO()
    call_command("slack_purge_history", stdout=out)
    assert not Workspace.objects.filter(pk=workspace.pk).exists()
    assert "workspaces_forgotten=1" in out.getvalue()


# --- what the target leaves in other rows and caches ----------------------------------------------


def test_forget_a_workspace_an_org_covers_leaves_its_id_in_no_history(
    post_event: Any, saved_workspace: Any
) -> None:
    org = saved_workspace(enterprise_id="E0ORGKEEP7", team_id=None, is_enterprise_install=True)
    auth = [{"enterprise_id": "E0ORGKEEP7", "team_id": None, "is_enterprise_install": True}]
    granted = {"type": "team_access_granted", "team_ids": ["T0GONE7", "T0GONE77"]}
    answer = post_event(envelope(granted, team_id=None, authorizations=auth))
    assert answer.status_code == 200
    assert re.search(r"\bT0GONE7\b", every_table_as_text())

    out = io.StringIO()
    call_command("slack_forget_workspace", "T0GONE7", "--noinput", stdout=out)

    dump = every_table_as_text()
    assert not re.search(r"\bT0GONE7\b", dump)
    assert "T0GONE77" in dump  # another workspace whose id merely starts the same is kept
    assert Workspace.objects.filter(pk=org.pk).exists()
    assert LifecycleEvent.objects.filter(workspace=org, kind="team_access_granted").exists()
    assert "2 mention(s) in an org's records removed" in out.getvalue()  # coverage, history


def test_a_forgotten_org_leaves_the_admin_filter_at_once(saved_workspace: Any) -> None:
    saved_workspace(enterprise_id="E0FILTERGONE", enterprise_name="Forgettable Org",
                    team_id=None, is_enterprise_install=True)  # fmt: skip
    assert "E0FILTERGONE" in dict(enterprise_choices())  # now cached

    call_command("slack_forget_workspace", "E0FILTERGONE", "--noinput", stdout=io.StringIO())

    assert "E0FILTERGONE" not in dict(enterprise_choices())
    assert "Forgettable Org" not in repr(enterprise_choices())


def test_forget_revokes_user_tokens_that_outlived_the_bot(
    standin: SlackStandIn, install: Any, post_event: Any
) -> None:
    workspace, body = install(user_token=True)
    bot_gone = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [workspace.bot_user_id]}}
    assert post_event(envelope(bot_gone, team_id=workspace.team_id)).status_code == 200
    user_token = body["authed_user"]["access_token"]
    assert is_live(standin, user_token)

    out = io.StringIO()
    call_command("slack_forget_workspace", workspace.team_id, "--noinput", stdout=out)

    assert not is_live(standin, user_token)
    assert "Tokens revoked at Slack: 1." in out.getvalue()


def every_token(body: dict[str, Any]) -> list[str]:
    user = body.get("authed_user") or {}
    values = [body.get("refresh_token"), user.get("refresh_token")]
    values += [body.get("access_token"), user.get("access_token")]
    return [token for token in values if token]


def test_forget_revokes_refresh_tokens_whose_access_tokens_expired(
    standin: SlackStandIn, install: Any
) -> None:
    """An expired access token is dead at Slack, its refresh token is not: forgetting the
    workspace revokes the refresh tokens, so nothing it stored can mint new tokens."""
    workspace, body = install(rotation=True, user_token=True)
    standin.expire_token(body["access_token"])
    assert [is_live(standin, token) for token in every_token(body)] == [True, True, False, True]

    out = io.StringIO()
    call_command("slack_forget_workspace", workspace.team_id, "--noinput", stdout=out)

    assert [is_live(standin, token) for token in every_token(body)] == [False] * 4
    assert "Tokens revoked at Slack: 3." in out.getvalue()
    assert [c.token for c in standin.calls_to("auth.revoke")] == every_token(body)


def test_forget_revokes_a_refresh_token_stored_without_its_access_token(
    standin: SlackStandIn, install: Any
) -> None:
    workspace, body = install(rotation=True)
    Workspace.objects.filter(pk=workspace.pk).update(bot_token=None)

    out = io.StringIO()
    call_command("slack_forget_workspace", workspace.team_id, "--noinput", stdout=out)

    assert known_token(standin, body["refresh_token"])["revoked"] is True
    assert "Tokens revoked at Slack: 1." in out.getvalue()


@pytest.mark.parametrize("team_id", ["T1", "X0OTHERFORM"])
def test_the_admin_forgets_a_row_whatever_id_it_was_stored_with(
    saved_workspace: Any, django_user_model: Any, client: Any, team_id: str
) -> None:
    workspace = saved_workspace(team_id=team_id, team_name="Odd id team")
    client.force_login(django_user_model.objects.create_superuser("root", password="x" * 20))
    post = {"action": "forget", "_selected_action": [str(workspace.pk)], "confirm": "yes"}
    done = client.post("/admin/installations/workspace/", post, secure=True, follow=True)
    assert done.status_code == 200 and b"Forgot " in done.content
    assert not Workspace.objects.filter(pk=workspace.pk).exists()
    assert "Odd id team" not in every_table_as_text()


@pytest.mark.parametrize("days", [-1, -30, 0.5, "30", "thirty", True, 10**9, 999_999_999])
def test_a_retention_setting_that_is_no_number_of_days_erases_nothing(
    saved_workspace: Any, settings: Any, days: object
) -> None:
    gone = saved_workspace(team_id="T0GONEYESTERDAY")
    Workspace.objects.filter(pk=gone.pk).update(uninstalled_at=timezone.now() - timedelta(days=1))
    events = LifecycleEvent.objects.count()
    settings.SLACK_RETENTION_DAYS = days
    with pytest.raises(CommandError, match="SLACK_RETENTION_DAYS must be a whole number of days"):
        call_command("slack_purge_history", stdout=io.StringIO())
    assert Workspace.objects.filter(pk=gone.pk).exists()
    assert LifecycleEvent.objects.count() == events
    assert [e.id for e in checks.check_retention_setting()] == ["installations.E016"]


@pytest.mark.parametrize("days", ["1000000000", "999999999", "0", "-3"])
def test_a_days_option_out_of_range_is_one_clear_line(days: str) -> None:
    with pytest.raises(CommandError, match="--days"):
        call_command("slack_purge_history", f"--days={days}", stdout=io.StringIO())


# --- forget and purge against what arrives meanwhile ---------------------------------------------


def test_forget_by_a_process_missing_a_key_erases_nothing_and_says_so(
    standin: SlackStandIn, install: Any, settings: Any
) -> None:
    """A key this process lacks is its own configuration error: nothing revoked or erased, so
    the tokens can still be revoked by a process that has the key."""
    workspace, body = install(user_token=True)
    settings.TOKEN_ENCRYPTION_KEYS = generate_key_entry("other")
    with pytest.raises(CommandError) as refused:
        call_command("slack_forget_workspace", workspace.team_id, "--noinput", stdout=io.StringIO())
    assert "cannot be decrypted" in str(refused.value) and "nothing was revoked or erased" in str(
        refused.value
    )
    assert "\n" not in str(refused.value)
    assert Workspace.objects.filter(pk=workspace.pk).exists()
    assert standin.calls_to("auth.revoke") == []
    assert is_live(standin, body["access_token"])


def until(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.mark.postgres
def test_forget_revokes_an_install_that_arrived_while_it_revoked(
    standin: SlackStandIn, install: Any
) -> None:
    """The install's tokens were stored between the revocations and the erase: they are
    revoked in another round, never erased while Slack still honours them."""
    workspace, _ = install(user_token=True)
    standin.fail_next("auth.revoke", delay=1.0)  # the first revocation is slow
    out = io.StringIO()

    def forget() -> None:
        try:
            call_command("slack_forget_workspace", workspace.team_id, "--noinput", stdout=out)
        finally:
            connection.close()

    forgetting = threading.Thread(target=forget)
    forgetting.start()
    until(lambda: len(standin.calls_to("auth.revoke")) > 0)
    again, _ = install(user_token=True)  # the same team, installed again meanwhile
    assert again.pk == workspace.pk
    forgetting.join(30)
    assert not Workspace.objects.filter(team_id=workspace.team_id).exists()
    assert live_and_unkept(standin, set()) == []
    assert "Tokens revoked at Slack: 4." in out.getvalue()


@pytest.mark.postgres
def test_the_purge_keeps_a_workspace_reinstalled_while_it_ran(
    standin: SlackStandIn, install: Any
) -> None:
    """The reinstall holds the row while the purge waits for it: once it commits, the row is no
    longer an old uninstall, and the purge leaves it."""
    workspace, _ = install()
    long_ago = timezone.now() - timedelta(days=40)
    Workspace.objects.filter(pk=workspace.pk).update(uninstalled_at=long_ago, bot_token=None)
    purged: list[PurgeOutcome] = []

    def purge() -> None:
        try:
            purged.extend(purge_history(30))
        finally:
            connection.close()

    purging = threading.Thread(target=purge)
    with transaction.atomic():
        Workspace.objects.select_for_update().get(pk=workspace.pk)  # a reinstall under way
        purging.start()
        until(lambda: waiting_for_a_lock() > 0 or not purging.is_alive())
        _, fresh = install()  # runs inside this transaction: saving locks the same row
    purging.join(30)
    assert Workspace.objects.filter(pk=workspace.pk).exists()
    kept = Workspace.objects.get(pk=workspace.pk)
    assert kept.uninstalled_at is None and kept.bot_token == fresh["access_token"]
    assert purged[-1].workspaces_forgotten == 0


def waiting_for_a_lock() -> int:
    """Backends of this database waiting for a row or table lock (PostgreSQL). Inside a
    transaction PostgreSQL keeps showing its first view of the activity unless told not to."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


def late_flow_of_the_same_user(install: Any) -> tuple[Workspace, dict[str, Any]]:
    """Two flows of one user: the newer saved first, the older finishing late. The late one's
    token is live at Slack and stored on its own, not current, history row."""
    started = timezone.now() - timedelta(minutes=10)
    workspace, _ = install(user_token=True, installed_at=started + timedelta(minutes=5))
    _, late = install(user_token=True, installed_at=started)
    row = Installation.objects.get(is_current=False)
    assert row.user_token == late["authed_user"]["access_token"]
    return workspace, late


def test_forget_revokes_the_token_of_a_flow_that_finished_late(
    standin: SlackStandIn, install: Any
) -> None:
    workspace, late = late_flow_of_the_same_user(install)
    call_command("slack_forget_workspace", workspace.team_id, "--noinput", stdout=io.StringIO())
    assert not is_live(standin, late["authed_user"]["access_token"])
    assert "user" not in live_and_unkept(standin, set())


def test_the_purge_keeps_a_replaced_row_until_its_tokens_are_revoked(
    standin: SlackStandIn, install: Any
) -> None:
    workspace, late = late_flow_of_the_same_user(install)
    list(purge_history(1, now=timezone.now() + timedelta(days=5)))
    assert Installation.objects.filter(is_current=False).exists()
    revoke_workspace(Workspace.objects.get(pk=workspace.pk), actor="staff:t")
    assert not is_live(standin, late["authed_user"]["access_token"])
    list(purge_history(1, now=timezone.now() + timedelta(days=5)))
    assert not Installation.objects.filter(is_current=False).exists()
