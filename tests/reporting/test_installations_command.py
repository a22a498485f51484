"""``manage.py slack_installations``: the audit as a table or JSON, never a token."""

from __future__ import annotations

import json
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from installations.models import Health, Workspace
from tests.support.admin import past

pytestmark = pytest.mark.django_db


def run_with_status(*args: str) -> tuple[str, int]:
    """(stdout, exit status) as a shell would see them."""
    out = StringIO()
    try:
        call_command("slack_installations", *args, stdout=out)
    except SystemExit as exc:
        return out.getvalue(), int(exc.code or 0)
    return out.getvalue(), 0


def run(*args: str) -> str:
    return run_with_status(*args)[0]


@pytest.fixture
def two(audit_workspace: Callable, settings: Any) -> tuple[Workspace, Workspace]:
    settings.SLACK_SCOPES = "commands,chat:write"
    good = audit_workspace(team_id="T0GOOD", team_name="Good", user_scopes="search:read")
    bad = audit_workspace(
        team_id="T0BAD",
        team_name="Bad",
        bot_scopes="commands",
        health=Health.DEAD,
        last_verified_at=past(hours=2),
        rotation=True,
    )
    return good, bad


def test_table_lists_every_workspace_with_status_and_reasons(
    two: tuple[Workspace, Workspace],
) -> None:
    lines = run().splitlines()
    header = lines[0]
    for column in ("WORKSPACE", "TYPE", "STATUS", "MISSING SCOPES", "INSTALLED", "LAST VERIFIED"):
        assert column in header
    good_line = next(line for line in lines if "T0GOOD" in line)
    bad_line = next(line for line in lines if "T0BAD" in line)
    assert "Active" in good_line and "workspace" in good_line
    assert "Needs reinstall (Bot scopes missing: chat:write; Token dead at last verification)" in (
        bad_line
    )
    assert lines[-1] == "2 workspace(s)"


def test_needs_reinstall_filters_and_exits_1_for_monitoring(
    two: tuple[Workspace, Workspace],
) -> None:
    out, status = run_with_status("--needs-reinstall")
    assert "T0BAD" in out
    assert "T0GOOD" not in out
    assert out.splitlines()[-1] == "1 workspace(s)"
    assert status == 1
    assert run_with_status("--needs-reinstall", "--json")[1] == 1
    assert run_with_status()[1] == 0  # the full list is a report, not an alarm


def test_needs_reinstall_exits_0_when_nothing_needs_one(
    audit_workspace: Callable, settings: Any
) -> None:
    settings.SLACK_SCOPES = "commands,chat:write"
    audit_workspace(team_id="T0GOOD", team_name="Good")
    out, status = run_with_status("--needs-reinstall")
    assert (out.splitlines()[-1], status) == ("0 workspace(s)", 0)
    assert run_with_status("--needs-reinstall", "--json") == ("[]\n", 0)


def test_help_says_how_the_exit_status_works() -> None:
    from installations.management.commands.slack_installations import Command

    text = Command().create_parser("manage.py", "slack_installations").format_help()
    assert "exit status 1" in " ".join(text.split())


def test_json_for_scripts(two: tuple[Workspace, Workspace]) -> None:
    rows = json.loads(run("--json"))
    by_team = {row["team_id"]: row for row in rows}
    assert by_team["T0GOOD"]["status"] == "Active"
    assert by_team["T0GOOD"]["reasons"] == []
    bad = by_team["T0BAD"]
    assert bad["status"] == "Needs reinstall"
    assert bad["reasons"] == ["Bot scopes missing: chat:write", "Token dead at last verification"]
    assert bad["missing_scopes"] == ["chat:write"]
    assert bad["install_type"] == "workspace"
    assert bad["last_verified_at"]
    assert bad["token_expires_at"]
    only_bad = json.loads(run("--json", "--needs-reinstall"))
    assert [row["team_id"] for row in only_bad] == ["T0BAD"]


def test_a_scope_added_to_settings_shows_up(
    two: tuple[Workspace, Workspace], settings: Any
) -> None:
    settings.SLACK_SCOPES = "commands,chat:write,reactions:write"
    rows = {row["team_id"]: row for row in json.loads(run("--json"))}
    assert rows["T0GOOD"]["missing_scopes"] == ["reactions:write"]


def test_never_prints_a_token(two: tuple[Workspace, Workspace], audit_secrets: list[str]) -> None:
    output = run() + run("--json") + run("--needs-reinstall")
    assert audit_secrets
    for secret in audit_secrets:
        assert secret not in output
        assert secret[-8:] not in output
    assert "xox" not in output


def test_empty_database(db: Any) -> None:
    assert run().splitlines()[-1] == "0 workspace(s)"
    assert json.loads(run("--json")) == []
