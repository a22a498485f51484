"""Command output for people and scripts: slack_reencrypt --check names a key id that is not
configured, and slack_add_token says which prefix it expected and which settings are missing,
never echoing the token."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from installations.encryption.keyring import generate_key_entry

pytestmark = pytest.mark.django_db


def check(*args: str) -> tuple[str, str]:
    out = StringIO()
    try:
        call_command("slack_reencrypt", "--check", *args, stdout=out)
    except CommandError as exc:
        return out.getvalue(), str(exc)
    return out.getvalue(), ""


def test_check_says_a_key_id_is_not_configured(
    settings: Any, audit_workspace: Callable[..., Any]
) -> None:
    settings.TOKEN_ENCRYPTION_KEYS = generate_key_entry("gone")
    audit_workspace()
    settings.TOKEN_ENCRYPTION_KEYS = generate_key_entry("new")  # "gone" dropped too early
    out, error = check()
    assert "gone (NOT CONFIGURED: not in TOKEN_ENCRYPTION_KEYS)" in out
    assert "key id(s) gone, which are not configured" in error
    assert "slack_reencrypt cannot move them" in error


def test_check_tells_old_configured_keys_from_unconfigured_ones(
    settings: Any, audit_workspace: Callable[..., Any]
) -> None:
    settings.TOKEN_ENCRYPTION_KEYS = generate_key_entry("old")
    audit_workspace()
    old = settings.TOKEN_ENCRYPTION_KEYS
    settings.TOKEN_ENCRYPTION_KEYS = generate_key_entry("new") + "," + old
    out, error = check()
    assert "old (decrypt only)" in out
    assert "still use key id(s) old: run slack_reencrypt" in error
    assert "not configured" not in error


def add_token(monkeypatch: pytest.MonkeyPatch, token: str) -> str:
    monkeypatch.setenv("SLACK_BOT_TOKEN", token)
    with pytest.raises(CommandError) as raised:
        call_command("slack_add_token", stdout=StringIO())
    message = str(raised.value)
    assert token not in message and token[8:] not in message  # never echoed
    return message


@pytest.mark.parametrize(
    ("prefix", "kind"),
    [
        ("xoxp-", "a user token"),
        ("xoxe.xoxb-", "a rotating bot token"),
        ("xapp-", "an app-level token"),
        ("xoxe-", "a refresh token"),
    ],
)
def test_add_token_names_the_expected_and_the_given_prefix(
    monkeypatch: pytest.MonkeyPatch, prefix: str, kind: str
) -> None:
    message = add_token(monkeypatch, prefix + "1-" + secrets.token_hex(12))
    assert "not a bot token: expected one that starts with xoxb-" in message
    assert f"this one starts with {prefix} ({kind})" in message


def test_add_token_says_when_nothing_looks_like_a_slack_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    message = add_token(monkeypatch, "not-a-token-" + secrets.token_hex(8))
    assert "does not start with any Slack token prefix" in message


def test_add_token_names_every_missing_setting(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    settings.SLACK_CLIENT_ID = ""
    settings.TOKEN_ENCRYPTION_KEYS = ""
    message = add_token(monkeypatch, "xoxb-1-" + secrets.token_hex(12))
    assert "set SLACK_CLIENT_ID, TOKEN_ENCRYPTION_KEYS first" in message


def test_add_token_without_a_token_names_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    with pytest.raises(CommandError, match="it starts with xoxb-"):
        call_command("slack_add_token", stdin=StringIO(""), stdout=StringIO())
