""" "My workspaces": exactly this Slack user's installs, with status, reasons and reinstall."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from installations.models import Workspace
from tests.support.factories import saved_workspace

pytestmark = pytest.mark.django_db


def test_lists_only_this_persons_installs_with_reasons(client_signin: Any) -> None:
    mine = saved_workspace(team_id="T0MINE1", team_name="Mine Active", user_id="U0STANDINUSR")
    broken = saved_workspace(team_id="T0MINE2", team_name="Mine Broken", user_id="U0STANDINUSR")
    Workspace.objects.filter(pk=broken.pk).update(uninstalled_at=timezone.now())
    saved_workspace(team_id="T0THEIRS", team_name="Someone Else's", user_id="U0STANDIN2")
    saved_workspace(team_id="T0MINE3", team_name="Same Id Other Team", user_id="U0STANDINUSR")

    client = Client()
    # Signed in as U0STANDINUSR of T0MINE1 (installs are matched per workspace outside Grid).
    client_signin(client, team_id="T0MINE1")
    page = client.get("/slack/signin/workspaces").content.decode()
    assert "Mine Active" in page and "Active" in page
    assert "Mine Broken" not in page  # another workspace: another Slack identity
    assert "Someone Else" not in page and "Same Id Other Team" not in page
    assert mine.team_id in page
    assert "xoxb" not in page and "xoxp" not in page

    asked = client_signin(client, team_id="T0MINE2")  # a second identity, for the same user:
    assert asked["Location"] == "/slack/signin/link"
    client.post("/slack/signin/link", {"action": "link"})  # linked once confirmed
    page = client.get("/slack/signin/workspaces").content.decode()
    assert "Mine Active" in page and "Mine Broken" in page
    assert "App uninstalled" in page and "Needs reinstall" in page
    assert "/slack/install?team=T0MINE2" in page
    assert "/slack/install?team=T0MINE1" not in page
    assert "Someone Else" not in page


def test_grid_identity_sees_installs_across_the_org(client_signin: Any) -> None:
    saved_workspace(
        team_id="T0GRIDA", team_name="Grid A", enterprise_id="E0GRID1", user_id="W0GRIDUSER"
    )
    saved_workspace(
        team_id="T0GRIDX", team_name="Grid X", enterprise_id="E0OTHER", user_id="W0GRIDUSER"
    )
    client = Client()
    client_signin(client, user_id="W0GRIDUSER", team_id="T0GRIDB", enterprise_id="E0GRID1")
    page = client.get("/slack/signin/workspaces").content.decode()
    assert "Grid A" in page and "Grid X" not in page


def test_requires_sign_in(signin: Any, client: Client) -> None:
    response = client.get("/slack/signin/workspaces")
    assert response.status_code == 302 and response["Location"].startswith("/slack/signin?next=")
