"""slack_purge_states, slack_add_token and slack_install_url."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.utils import timezone
from slack_sdk import WebClient

from installations.install.flow import start_install
from installations.install.state import (
    StateCheck,
    consume_state,
    hash_state,
    issue_state,
    read_state,
)
from installations.models import Installation, OAuthState, Workspace
from slackstandin import SlackStandIn
from tests.support.flow import query_of

pytestmark = pytest.mark.django_db


def run(name: str, *args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out, **options)
    return out.getvalue()


# --- slack_purge_states ----------------------------------------------------------------------


def test_purge_deletes_expired_spent_states_and_prints_the_count() -> None:
    spent = [issue_state() for _ in range(4)]
    for state in spent:
        payload = read_state(state).payload
        assert payload is not None and consume_state(state, payload)
    OAuthState.objects.filter(state_hash__in=[hash_state(s) for s in spent[1:]]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert run("slack_purge_states").startswith("Deleted 3 ")
    assert list(OAuthState.objects.values_list("state_hash", flat=True)) == [hash_state(spent[0])]
    assert run("slack_purge_states").startswith("Deleted 0 ")


# --- slack_add_token ---------------------------------------------------------------------------


def bot_token_from(standin: SlackStandIn, **choices: Any) -> str:
    """A bot token the stand-in knows, obtained as a developer would from the app's settings."""
    redirect = standin.approve(start_install().authorize_url, **choices)
    answer = WebClient(base_url=standin.api_url).oauth_v2_access(
        client_id=django_settings.SLACK_CLIENT_ID,
        client_secret=django_settings.SLACK_CLIENT_SECRET,
        code=query_of(redirect)["code"],
        redirect_uri=django_settings.SLACK_REDIRECT_URI,
    )
    return str(answer["access_token"])


def test_add_token_from_the_environment(standin: SlackStandIn, monkeypatch: Any) -> None:
    token = bot_token_from(standin)
    monkeypatch.setenv("SLACK_BOT_TOKEN", token)
    out = run("slack_add_token")
    assert token not in out
    assert "B0STANDIN" in out and "T0STANDIN1" in out and "commands,chat:write" in out
    workspace = Workspace.objects.get()
    assert workspace.bot_token == token
    assert (workspace.bot_id, workspace.bot_user_id) == ("B0STANDIN", "U0STANDINBOT")
    assert workspace.team_name == "Stand-in Workspace"
    assert workspace.bot_scopes == "commands,chat:write"  # from x-oauth-scopes
    assert workspace.app_id == "A0STANDIN"
    row = Installation.objects.get()
    assert row.source == "manual"
    (test_call,) = standin.calls_to("auth.test")
    assert test_call.token == token


def test_add_token_from_stdin(standin: SlackStandIn, monkeypatch: Any) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    token = bot_token_from(standin)
    out = run("slack_add_token", stdin=io.StringIO(token + "\n"))
    assert token not in out
    assert Workspace.objects.get().bot_token == token


def test_add_token_for_an_org_wide_bot(standin: SlackStandIn, monkeypatch: Any) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", bot_token_from(standin, org_wide=True))
    run("slack_add_token")
    workspace = Workspace.objects.get()
    assert workspace.is_enterprise_install and workspace.team_id == ""
    assert workspace.enterprise_id == "E0STANDIN1"
    assert workspace.enterprise_url.endswith(".enterprise.slack.com/")


def test_add_token_refuses_a_token_on_the_command_line(monkeypatch: Any) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    with pytest.raises(CommandError) as caught:
        call_command("slack_add_token", "xoxb-looks-like-a-token")
    assert "xoxb-looks-like-a-token" not in str(caught.value)
    assert "command line" in str(caught.value)
    assert not Workspace.objects.exists()


def test_add_token_refuses_an_empty_token(monkeypatch: Any) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    with pytest.raises(CommandError, match="SLACK_BOT_TOKEN"):
        run("slack_add_token", stdin=io.StringIO(""))


@pytest.mark.parametrize("token", ["xoxp-user-token-123", "xoxe.xoxb-1-rotating", "nonsense"])
def test_add_token_refuses_what_is_not_a_long_lived_bot_token(token: str, monkeypatch: Any) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", token)
    with pytest.raises(CommandError, match="not a bot token") as caught:
        run("slack_add_token")
    assert token not in str(caught.value)


def test_add_token_reports_slacks_refusal(standin: SlackStandIn, monkeypatch: Any) -> None:
    token = bot_token_from(standin)
    standin.revoke_token(token)
    monkeypatch.setenv("SLACK_BOT_TOKEN", token)
    with pytest.raises(CommandError, match="token_revoked") as caught:
        run("slack_add_token")
    assert token not in str(caught.value)
    assert not Workspace.objects.exists()


@pytest.mark.parametrize(
    ("choices", "fault", "words"),
    [
        ({}, {"patch": {"team_id": None}}, "leaves out team_id"),
        ({"org_wide": True}, {"patch": {"enterprise_id": None}}, "leaves out enterprise_id"),
        ({}, {"patch": {"is_enterprise_install": True}}, "leaves out enterprise_id"),
    ],
)
def test_add_token_refuses_an_answer_that_does_not_say_whose_token_it_is(
    standin: SlackStandIn,
    monkeypatch: Any,
    choices: dict[str, Any],
    fault: dict[str, Any],
    words: str,
) -> None:
    token = bot_token_from(standin, **choices)
    monkeypatch.setenv("SLACK_BOT_TOKEN", token)
    standin.fail_next("auth.test", **fault)
    with pytest.raises(CommandError, match=words) as caught:
        run("slack_add_token")
    assert "\n" not in str(caught.value) and token not in str(caught.value)
    assert not Workspace.objects.exists() and not Installation.objects.exists()


def test_add_token_refuses_an_answer_without_the_fields_at_all(
    standin: SlackStandIn, monkeypatch: Any
) -> None:
    """An answer that lacks the keys altogether, as a body of its own (not set to null)."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", bot_token_from(standin))
    bare = {"ok": True, "url": "https://x.slack.com/", "user_id": "U0BOT", "bot_id": "B0BOT"}
    standin.fail_next("auth.test", body=bare)
    with pytest.raises(CommandError, match="leaves out team_id"):
        run("slack_add_token")
    assert not Workspace.objects.exists()


def test_add_token_takes_an_answer_without_an_app_id_as_slacks_example_has_it(
    standin: SlackStandIn, monkeypatch: Any, settings: Any
) -> None:
    """auth.test's documented answer for a bot token names no app: nothing to compare, and the
    row gets the app id this server knows."""
    settings.SLACK_APP_ID = "A0STANDIN"
    monkeypatch.setenv("SLACK_BOT_TOKEN", bot_token_from(standin))
    standin.fail_next("auth.test", patch={"app_id": None})
    run("slack_add_token")
    assert Workspace.objects.get().app_id == "A0STANDIN"


def test_add_token_refuses_another_apps_token(
    standin: SlackStandIn, monkeypatch: Any, settings: Any
) -> None:
    settings.SLACK_APP_ID = "A0STANDIN"
    monkeypatch.setenv("SLACK_BOT_TOKEN", bot_token_from(standin))
    standin.fail_next("auth.test", patch={"app_id": "A0OTHERAPP"})
    with pytest.raises(CommandError, match="another Slack app \\(A0OTHERAPP\\)"):
        run("slack_add_token")
    assert not Workspace.objects.exists()


def test_add_token_refuses_a_token_of_another_app_than_the_one_stored(
    standin: SlackStandIn, monkeypatch: Any
) -> None:
    """Without SLACK_APP_ID, the app id already stored for our client id is ours."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", bot_token_from(standin))
    run("slack_add_token")
    other = bot_token_from(standin, team_id="T0SECOND")
    monkeypatch.setenv("SLACK_BOT_TOKEN", other)
    standin.fail_next("auth.test", patch={"app_id": "A0OTHERAPP"})
    with pytest.raises(CommandError, match="token_rejected"):
        run("slack_add_token")
    assert list(Workspace.objects.values_list("team_id", flat=True)) == ["T0STANDIN1"]


# --- slack_install_url -------------------------------------------------------------------------


def test_install_url_prints_both_urls_and_issues_a_state() -> None:
    out = run("slack_install_url")
    lines = out.splitlines()
    assert lines[0] == "Install page: https://testserver/slack/install"
    authorize = lines[1].split(": ", 1)[1]
    assert authorize.startswith(django_settings.SLACK_AUTHORIZE_URL + "?")
    params = query_of(authorize)
    assert params["redirect_uri"] == django_settings.SLACK_REDIRECT_URI
    assert read_state(params["state"]).check is StateCheck.LIVE
    assert not OAuthState.objects.exists()  # issuing a state writes nothing
    assert django_settings.SLACK_CLIENT_SECRET not in out


def test_install_url_with_team() -> None:
    lines = run("slack_install_url", "--team", "T0ABC123").splitlines()
    assert lines[0] == "Install page: https://testserver/slack/install?team=T0ABC123"
    assert query_of(lines[1].split(": ", 1)[1])["team"] == "T0ABC123"


def test_install_url_refuses_a_bad_team() -> None:
    with pytest.raises(CommandError, match="invalid_team"):
        run("slack_install_url", "--team", "nope")
    assert not OAuthState.objects.exists()


def test_install_url_when_not_configured(settings: Any) -> None:
    settings.SLACK_CLIENT_ID = ""
    with pytest.raises(CommandError, match="SLACK_CLIENT_ID"):
        run("slack_install_url")
