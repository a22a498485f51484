"""A server started with a new key and old data: every status says the tokens are unreadable
here, names the key id they need and the ids configured, and nothing is written (the missing key
is a fact about the process). SQLite and PostgreSQL; the admin list also in a real browser."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from installations.encryption.fields import EnvelopeToWrite
from installations.encryption.keyring import generate_key_entry
from installations.models import Health, Workspace
from installations.reporting import health
from installations.signin.models import SlackIdentity
from installations.signin.workspaces import workspaces_of
from tests.reporting.test_installations_command import run_with_status
from tests.support.admin import past
from tests.support.lifecycle import stored_state

pytestmark = pytest.mark.django_db

LIST = reverse("admin:installations_workspace_changelist")
KEY_WORDS = "needs key id test1; configured: prod1"
SEALED_WITH = os.environ["TOKEN_ENCRYPTION_KEYS"]  # the test key (tests/support/testenv.py)


@pytest.fixture
def old_data(audit_workspace: Callable[..., Workspace], settings: Any) -> list[Workspace]:
    """Workspaces saved under the test key (``test1``); then the server gets a new key only."""
    settings.SLACK_SCOPES = "commands,chat:write"
    rows = [
        audit_workspace(team_id="T0OLD1", team_name="Old one"),
        audit_workspace(team_id="T0OLD2", team_name="Old two", rotation=True),
        audit_workspace(
            team_id="T0OLD3", bot_scopes="commands", health=Health.DEAD, last_verified_at=past()
        ),
    ]
    settings.TOKEN_ENCRYPTION_KEYS = generate_key_entry("prod1")
    return rows


def test_the_command_shows_the_key_problem_and_monitoring_sees_it(
    old_data: list[Workspace],
) -> None:
    before = stored_state()
    text, status = run_with_status()
    line = next(line for line in text.splitlines() if "T0OLD1" in line)
    assert f"Unreadable here (Tokens unreadable with this server's keys: {KEY_WORDS})" in line
    assert "Active" not in line
    dead = next(line for line in text.splitlines() if "T0OLD3" in line)
    assert "Needs reinstall" in dead and KEY_WORDS in dead  # both facts, the data's first
    listed, status = run_with_status("--needs-reinstall")
    assert status == 1
    assert all(team in listed for team in ("T0OLD1", "T0OLD2", "T0OLD3"))
    rows = {row["team_id"]: row for row in json.loads(run_with_status("--json")[0])}
    assert rows["T0OLD2"]["status"] == health.UNREADABLE
    assert rows["T0OLD2"]["needed_key_ids"] == ["test1"]
    assert rows["T0OLD2"]["configured_key_ids"] == ["prod1"]
    assert any(KEY_WORDS in reason for reason in rows["T0OLD2"]["reasons"])
    assert stored_state() == before  # nothing written


def test_with_the_key_back_everything_is_active_again(
    old_data: list[Workspace], settings: Any
) -> None:
    settings.TOKEN_ENCRYPTION_KEYS = f"{settings.TOKEN_ENCRYPTION_KEYS},{SEALED_WITH}"
    rows = {row["team_id"]: row for row in json.loads(run_with_status("--json")[0])}
    assert rows["T0OLD1"]["status"] == health.ACTIVE
    assert rows["T0OLD1"]["needed_key_ids"] == []


def test_a_value_that_is_no_envelope_is_unreadable_too(
    old_data: list[Workspace], settings: Any
) -> None:
    settings.TOKEN_ENCRYPTION_KEYS = SEALED_WITH
    Workspace.objects.filter(team_id="T0OLD1").update(bot_token=EnvelopeToWrite("not an envelope"))
    rows = {row["team_id"]: row for row in json.loads(run_with_status("--json")[0])}
    assert rows["T0OLD1"]["status"] == health.UNREADABLE
    assert rows["T0OLD1"]["needed_key_ids"] == ["unknown"]
    assert rows["T0OLD2"]["status"] == health.ACTIVE


def test_the_admin_list_detail_and_counts_show_it(
    old_data: list[Workspace], viewer: Client
) -> None:
    before = stored_state()
    page = viewer.get(LIST, secure=True).content.decode().replace("&#x27;", "'")
    assert page.count(health.UNREADABLE) >= 2 + 1  # two rows, the counts line
    assert KEY_WORDS in page
    counts = viewer.get(LIST, secure=True).context["status_counts"]
    assert counts == {"total": 3, "needs_reinstall": 1, "unreadable": 3, "active": 0}
    only = viewer.get(LIST + "?status=unreadable", secure=True).context["cl"].result_count
    assert only == 3
    assert viewer.get(LIST + "?status=active", secure=True).context["cl"].result_count == 0
    change = reverse("admin:installations_workspace_change", args=[old_data[0].pk])
    detail = viewer.get(change, secure=True).content.decode().replace("&#x27;", "'")
    assert health.UNREADABLE in detail and KEY_WORDS in detail
    assert stored_state() == before


def test_my_workspaces_shows_it(old_data: list[Workspace]) -> None:
    me = SlackIdentity(slack_user_id="U0INSTALLER", team_id="T0OLD1", enterprise_id="")
    [row] = workspaces_of([me])
    assert row.status == health.UNREADABLE
    assert any(KEY_WORDS in reason for reason in row.reasons)
    assert row.reinstall_url == ""  # the fix is the server's key, not a reinstall


@pytest.mark.browser
def test_the_admin_list_in_a_browser(
    old_data: list[Workspace], site: Any, page: Any, django_user_model: Any
) -> None:
    password = secrets.token_urlsafe(16)
    django_user_model.objects.create_superuser("ops", "ops@example.invalid", password)
    page.goto(site.url + "/admin/login/?next=" + LIST)
    page.get_by_label("Username").fill("ops")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(site.url + LIST)
    row = page.locator("#result_list tbody tr", has_text="T0OLD1")
    text = row.inner_text()
    assert health.UNREADABLE in text and KEY_WORDS in text
    assert health.ACTIVE not in text
    assert f"{health.UNREADABLE}: 3" in page.locator("#status-counts").inner_text()
