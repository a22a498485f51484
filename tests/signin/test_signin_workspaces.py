""" "My workspaces": exactly this Slack user's installs, with status, reasons and reinstall."""

from __future__ import annotations

from html import unescape
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from installations.models import Workspace
from slackstandin import SlackStandIn
from tests.signin.conftest import local
from tests.support.factories import saved_workspace
from tests.support.flow import authorize_href

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


def test_reinstall_leads_back_here_with_a_confirmation(
    client_signin: Any, signin: SlackStandIn
) -> None:
    broken = saved_workspace(team_id="T0STANDIN1", team_name="Mine", user_id="U0STANDINUSR")
    Workspace.objects.filter(pk=broken.pk).update(uninstalled_at=timezone.now())
    client = Client()
    client_signin(client, team_id="T0STANDIN1")
    page = unescape(client.get("/slack/signin/workspaces").content.decode())
    link = "/slack/install?team=T0STANDIN1&next=%2Fslack%2Fsignin%2Fworkspaces"
    assert f'href="{link}">Reinstall in Mine</a>' in page

    install_page = client.get(link)
    text = unescape(install_page.content.decode())
    assert "Back to My workspaces" in text and "Installed it already?" not in text
    answer = client.get(local(signin.approve(authorize_href(install_page))))
    assert answer.status_code == 302 and answer["Location"] == "/slack/signin/workspaces"
    landed = unescape(client.get(answer["Location"]).content.decode())
    assert '<li class="success">The app is installed in Stand-in Workspace.</li>' in landed
    assert "App uninstalled" not in landed


def test_nothing_installed_yet_the_button_also_leads_back(client_signin: Any) -> None:
    client = Client()
    client_signin(client, team_id="T0NOTHING")
    page = client.get("/slack/signin/workspaces").content.decode()
    assert 'href="/slack/install?next=%2Fslack%2Fsignin%2Fworkspaces">Add to Slack</a>' in page


def test_sign_out_is_a_styled_button(client_signin: Any) -> None:
    client = Client()
    client_signin(client, team_id="T0NOTHING")
    page = client.get("/slack/signin/workspaces").content.decode()
    assert '<button type="submit" class="button button-secondary">Sign out</button>' in page
