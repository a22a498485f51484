"""Admin actions against the Slack stand-in: confirm, act, report, log; never a token shown."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from installations.encryption.keyring import generate_key_entry
from installations.models import Health, LifecycleEvent, Workspace
from slackstandin import SlackStandIn
from tests.support.lifecycle import stored_state

pytestmark = pytest.mark.django_db

LIST = reverse("admin:installations_workspace_changelist")


def ask(client: Client, action: str, *workspaces: Workspace) -> Any:
    return client.post(LIST, {"action": action, ACTION_CHECKBOX_NAME: [w.pk for w in workspaces]})


def confirm(client: Client, action: str, *workspaces: Workspace) -> Any:
    data = {"action": action, ACTION_CHECKBOX_NAME: [w.pk for w in workspaces], "confirm": "yes"}
    return client.post(LIST, data, follow=True)


def texts(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def log_for(ws: Workspace) -> list[LogEntry]:
    return list(LogEntry.objects.filter(object_id=str(ws.pk)).order_by("pk"))


def assert_no_secret(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text
        assert secret[-8:] not in text


def test_verify_asks_for_confirmation_first(
    operator: Client, standin: SlackStandIn, standin_install: Callable
) -> None:
    ws = standin_install()
    response = ask(operator, "verify_now", ws)
    assert response.status_code == 200
    text = response.content.decode()
    assert "Verify these workspaces now?" in text
    assert str(ws) in text
    assert 'name="confirm" value="yes"' in text
    assert standin.calls_to("auth.test") == []


def test_verify_now_updates_health_and_scopes_and_logs(
    operator: Client,
    standin: SlackStandIn,
    standin_install: Callable,
    audit_secrets: list[str],
) -> None:
    ws = standin_install()
    token = Workspace.objects.get(pk=ws.pk).bot_token
    assert token is not None
    standin.set_scopes(token, "commands,chat:write,users:read")
    response = confirm(operator, "verify_now", ws)
    assert response.status_code == 200
    assert len(standin.calls_to("auth.test")) == 1
    ws.refresh_from_db()
    assert ws.health == Health.OK
    assert ws.bot_scope_list == ["commands", "chat:write", "users:read"]
    assert ws.last_verified_at is not None
    [message] = texts(response)
    assert str(ws) in message and "works" in message
    [entry] = log_for(ws)
    assert entry.user.username == response.wsgi_request.user.username
    assert entry.get_change_message().startswith("Verify (admin action)")
    event = LifecycleEvent.objects.filter(workspace=ws, kind="verified").get()
    assert event.actor == f"staff:{entry.user.username}"
    assert_no_secret(response.content.decode() + entry.change_message, audit_secrets)


def test_verify_of_a_revoked_token_shows_needs_reinstall(
    operator: Client, standin: SlackStandIn, standin_install: Callable
) -> None:
    ws = standin_install()
    token = Workspace.objects.get(pk=ws.pk).bot_token
    assert token is not None
    standin.revoke_token(token)
    response = confirm(operator, "verify_now", ws)
    [message] = texts(response)
    assert "revoked" in message
    assert [m.level_tag for m in response.context["messages"]] == ["warning"]
    ws.refresh_from_db()
    assert ws.health == Health.DEAD
    page = operator.get(reverse("admin:installations_workspace_change", args=[ws.pk]))
    assert "Token dead at last verification" in page.content.decode()


def test_refresh_now_rotates_the_tokens(
    operator: Client, standin: SlackStandIn, standin_install: Callable, audit_secrets: list[str]
) -> None:
    ws = standin_install(rotation=True)
    before = Workspace.objects.get(pk=ws.pk).bot_token
    exchanges = len(standin.calls_to("oauth.v2.access"))
    assert ask(operator, "refresh_now", ws).status_code == 200
    assert len(standin.calls_to("oauth.v2.access")) == exchanges  # nothing before confirming
    response = confirm(operator, "refresh_now", ws)
    refreshes = standin.calls_to("oauth.v2.access")[exchanges:]
    assert len(refreshes) == 1
    assert refreshes[0].params.get("grant_type") == "refresh_token"
    after = Workspace.objects.get(pk=ws.pk).bot_token
    assert after is not None and after != before
    assert standin.token_info(after) is not None
    [message] = texts(response)
    assert str(ws) in message
    assert log_for(ws)[-1].get_change_message().startswith("Refresh (admin action)")
    assert_no_secret(response.content.decode(), [*audit_secrets, after])


def test_revoke_calls_auth_revoke_and_erases_tokens(
    operator: Client, standin: SlackStandIn, standin_install: Callable, audit_secrets: list[str]
) -> None:
    ws = standin_install(user_token=True)
    bot_token = Workspace.objects.get(pk=ws.pk).bot_token
    assert ask(operator, "revoke", ws).status_code == 200
    assert standin.calls_to("auth.revoke") == []
    response = confirm(operator, "revoke", ws)
    revoked = {call.token for call in standin.calls_to("auth.revoke")}
    assert bot_token in revoked
    assert len(revoked) == 2  # bot token and the installer's user token
    ws = Workspace.objects.get(pk=ws.pk)
    assert ws.bot_token is None
    assert ws.installations.filter(user_token__isnull=False).count() == 0
    [message] = texts(response)
    assert "revoked" in message
    [entry] = log_for(ws)
    assert entry.get_change_message().startswith("Revoke (admin action)")
    assert entry.object_repr == str(ws)
    text = response.content.decode()
    assert_no_secret(text + entry.change_message, audit_secrets)
    page = operator.get(reverse("admin:installations_workspace_change", args=[ws.pk]))
    assert "Needs reinstall" in page.content.decode()


def test_revoke_when_slack_is_down_keeps_the_tokens(
    operator: Client, standin: SlackStandIn, standin_install: Callable
) -> None:
    ws = standin_install()
    standin.fail_next("auth.revoke", status=500, times=5)
    response = confirm(operator, "revoke", ws)
    assert Workspace.objects.get(pk=ws.pk).bot_token is not None
    [message] = texts(response)
    assert "nothing was erased" in message
    assert [m.level_tag for m in response.context["messages"]] == ["warning"]


def test_actions_from_the_workspace_page(
    operator: Client, standin: SlackStandIn, standin_install: Callable
) -> None:
    ws = standin_install(rotation=True)  # refreshing needs a refresh token
    page = operator.get(reverse("admin:installations_workspace_change", args=[ws.pk]))
    text = page.content.decode()
    for action in ("verify_now", "refresh_now", "revoke"):
        assert f'name="action" value="{action}"' in text
    assert f'name="_selected_action" value="{ws.pk}"' in text


def test_export_csv_has_audit_columns_and_no_secrets(
    viewer: Client, audit_workspace: Callable, audit_secrets: list[str], settings: Any
) -> None:
    settings.SLACK_SCOPES = "commands,chat:write"
    good = audit_workspace(team_name="Good", user_scopes="search:read", webhook=True)
    bad = audit_workspace(team_name="=cmd()", bot_scopes="commands", rotation=True)
    response = viewer.post(LIST, {"action": "export_csv", ACTION_CHECKBOX_NAME: [good.pk, bad.pk]})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    body = response.content.decode()
    assert_no_secret(body, audit_secrets)
    assert "xox" not in body
    rows = list(csv.DictReader(io.StringIO(body)))
    by_team = {row["Team id"]: row for row in rows}
    assert set(by_team) == {good.team_id, bad.team_id}
    assert by_team[good.team_id]["Status"] == "Active"
    assert by_team[bad.team_id]["Status"] == "Needs reinstall"
    assert by_team[bad.team_id]["Missing scopes"] == "chat:write"
    assert by_team[bad.team_id]["Workspace"].startswith("'=")  # no spreadsheet formula
    assert len(log_for(good)) == 1 and "CSV" in log_for(good)[0].change_message


@pytest.mark.parametrize("action", ["verify_now", "refresh_now", "revoke"])
def test_an_outdated_keyring_is_shown_as_a_key_problem_and_changes_nothing(
    operator: Client,
    standin: SlackStandIn,
    standin_install: Callable,
    audit_secrets: list[str],
    settings: Any,
    action: str,
) -> None:
    """Issue 11 class 1: the server's keys cannot open the tokens (a new key went first and the
    values were re-encrypted, this process still has the old keyring): staff are told it is a
    key configuration problem; nothing is verified, refreshed, revoked, erased or flagged."""
    ws = standin_install(rotation=True, user_token=True)
    outdated = settings.TOKEN_ENCRYPTION_KEYS
    settings.TOKEN_ENCRYPTION_KEYS = f"{generate_key_entry('rot2')},{outdated}"
    call_command("slack_reencrypt", stdout=io.StringIO())
    settings.TOKEN_ENCRYPTION_KEYS = outdated
    before, calls = stored_state(), len(standin.calls)
    response = confirm(operator, action, ws)
    assert response.status_code == 200
    [message] = response.context["messages"]
    assert message.level_tag == "error"
    assert "key configuration problem" in str(message) and "TOKEN_ENCRYPTION_KEYS" in str(message)
    assert "needs key id rot2; configured: test1" in str(message)
    assert "reinstall" not in str(message).lower()
    assert stored_state() == before
    assert len(standin.calls) == calls  # Slack was not asked anything
    assert_no_secret(response.content.decode() + log_for(ws)[-1].change_message, audit_secrets)
