"""Every install shape over real HTTP against the stand-in (docs/slack-protocol.md §2a to §2e).

Bot only, with the installer's user token, org-wide, incoming webhook, token rotation; reinstall;
granted scopes are what Slack returned; two flows for one team at once.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from installations.models import Installation, LifecycleEvent, Workspace
from tests.support.flow import Flow


def raw_row(table: str) -> str:
    """Every column of every row of ``table`` as the database holds it (bypassing the model)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")
        return repr(cursor.fetchall())


def test_bot_only(flow: Flow) -> None:
    assert flow.install().status_code == 302
    issued = flow.standin.issued[0]
    workspace = Workspace.objects.get()
    assert (workspace.team_id, workspace.team_name) == ("T0STANDIN1", "Stand-in Workspace")
    assert workspace.enterprise_id == "" and not workspace.is_enterprise_install
    assert workspace.app_id == "A0STANDIN"
    assert workspace.bot_id == "B0STANDIN"  # from auth.test: oauth.v2.access has no bot_id
    assert workspace.bot_user_id == "U0STANDINBOT"
    assert workspace.bot_scopes == "commands,chat:write"
    assert workspace.bot_token == issued["access_token"]
    assert workspace.bot_refresh_token is None and workspace.bot_token_expires_at is None
    row = Installation.objects.get()
    assert row.source == "oauth" and row.is_current
    assert row.user_id == "U0STANDINUSR" and row.user_token is None
    assert issued["access_token"] not in raw_row("installations_workspace")
    assert "xox" not in raw_row("installations_workspace")
    kinds = list(LifecycleEvent.objects.values_list("kind", "actor"))
    assert kinds == [("installed", "slack")]


def test_with_user_token(flow: Flow, settings: Any) -> None:
    settings.SLACK_USER_SCOPES = "search:read,users:read"
    assert flow.install(user_token=True).status_code == 302
    issued = flow.standin.issued[0]
    row = Installation.objects.get()
    assert row.user_token == issued["authed_user"]["access_token"]
    assert row.user_scopes == "search:read,users:read"
    assert "xox" not in raw_row("installations_installation")


def test_user_scopes_only(flow: Flow, settings: Any) -> None:
    """docs/slack-protocol.md §2c: no bot scopes, no top-level token; auth.test uses the user's."""
    settings.SLACK_SCOPES = ""
    settings.SLACK_USER_SCOPES = "search:read"
    assert flow.install(user_token=True).status_code == 302
    workspace = Workspace.objects.get()
    assert workspace.bot_token is None and workspace.bot_id == ""
    row = Installation.objects.get()
    assert row.user_token == flow.standin.issued[0]["authed_user"]["access_token"]


def test_org_wide(flow: Flow) -> None:
    response = flow.install(org_wide=True)
    assert response.status_code == 302
    workspace = Workspace.objects.get()
    assert workspace.team_id == "" and workspace.enterprise_id == "E0STANDIN1"
    assert workspace.is_enterprise_install
    assert workspace.enterprise_name == "Stand-in Org"
    assert workspace.enterprise_url == "https://stand-in-org.enterprise.slack.com/"
    assert Installation.objects.get().is_enterprise_install
    page = flow.client.get(response["Location"], secure=True).content.decode()
    assert "Stand-in Org" in page
    admin = "https://app.slack.com/manage/E0STANDIN1/integrations/profile/A0STANDIN/workspaces/add"
    assert f'href="{admin}" rel="noreferrer"' in page
    assert "slack://" not in page


def test_workspace_in_a_grid(flow: Flow) -> None:
    assert flow.install(enterprise_id="E0GRID0001").status_code == 302
    workspace = Workspace.objects.get()
    assert (workspace.team_id, workspace.enterprise_id) == ("T0STANDIN1", "E0GRID0001")
    assert not workspace.is_enterprise_install and workspace.enterprise_url == ""


def test_incoming_webhook(flow: Flow, settings: Any) -> None:
    settings.SLACK_SCOPES = "commands,incoming-webhook"
    assert flow.install(webhook=True, webhook_channel="#alerts").status_code == 302
    hook = flow.standin.issued[0]["incoming_webhook"]
    row = Installation.objects.get()
    assert row.incoming_webhook_url == hook["url"]
    assert row.incoming_webhook_channel == "#alerts"
    assert row.incoming_webhook_channel_id == hook["channel_id"]
    assert row.incoming_webhook_configuration_url == hook["configuration_url"]
    assert "hooks.slack.com" not in raw_row("installations_installation")


def test_token_rotation(flow: Flow, settings: Any) -> None:
    settings.SLACK_USER_SCOPES = "search:read"
    assert flow.install(rotation=True, user_token=True).status_code == 302
    issued = flow.standin.issued[0]
    workspace = Workspace.objects.get()
    assert workspace.bot_token == issued["access_token"]
    assert workspace.bot_token is not None and workspace.bot_token.startswith("xoxe.xoxb-")
    assert workspace.bot_refresh_token == issued["refresh_token"]
    expected = timezone.now() + timedelta(seconds=issued["expires_in"])
    assert workspace.bot_token_expires_at is not None
    assert abs(workspace.bot_token_expires_at - expected) < timedelta(seconds=30)
    row = Installation.objects.get()
    assert row.user_refresh_token == issued["authed_user"]["refresh_token"]
    assert row.user_token_expires_at is not None
    assert "xoxe" not in raw_row("installations_workspace") + raw_row("installations_installation")


def test_reinstall_updates_the_workspace_and_adds_history(flow: Flow) -> None:
    assert flow.install().status_code == 302
    first = Workspace.objects.get()
    time.sleep(0.01)  # installed_at must differ between the two flows
    assert flow.install().status_code == 302
    workspace = Workspace.objects.get()
    assert workspace.pk == first.pk
    assert workspace.bot_token == flow.standin.issued[1]["access_token"]
    assert workspace.installed_at > first.installed_at
    rows = list(Installation.objects.order_by("installed_at"))
    assert len(rows) == 2
    assert [r.is_current for r in rows] == [False, True]
    kinds = list(LifecycleEvent.objects.order_by("occurred_at").values_list("kind", flat=True))
    assert kinds == ["installed", "reinstalled"]


def test_granted_scopes_are_what_slack_returned(flow: Flow) -> None:
    """Optional scopes can be declined (docs/slack-protocol.md §1): store what Slack granted."""
    url = flow.start()
    granted = url.replace("scope=commands,chat%3Awrite", "scope=commands")
    assert granted != url
    assert flow.back(flow.standin.approve(granted)).status_code == 302
    assert Workspace.objects.get().bot_scopes == "commands"


def test_team_hint_installs_into_that_workspace(flow: Flow) -> None:
    assert flow.back(flow.standin.approve(flow.start(team="T0OTHER01"))).status_code == 302
    assert Workspace.objects.get().team_id == "T0OTHER01"


# --- two flows for one team at once --------------------------------------


def two_flows_at_once(flow: Flow) -> None:
    browsers = [Flow(flow.standin, Client()) for _ in range(2)]
    redirects = [b.standin.approve(b.start()) for b in browsers]
    barrier = threading.Barrier(2)
    statuses: list[int] = []

    def finish(browser: Flow, redirect: str) -> None:
        try:
            barrier.wait()
            statuses.append(browser.back(redirect).status_code)
        finally:
            connection.close()

    pairs = zip(browsers, redirects, strict=True)
    threads = [threading.Thread(target=finish, args=pair) for pair in pairs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [302, 302]
    assert Workspace.objects.count() == 1
    assert Installation.objects.count() == 2
    assert Installation.objects.filter(is_current=True).count() == 1
    tokens = {body["access_token"] for body in flow.standin.issued}
    assert Workspace.objects.get().bot_token in tokens


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_flows_for_one_team_at_once_on_postgres(flow_tx: Flow) -> None:
    two_flows_at_once(flow_tx)


@pytest.mark.django_db(transaction=True)
def test_two_flows_for_one_team_at_once(flow_tx: Flow) -> None:
    """The same on whichever database this run uses (SQLite: IMMEDIATE transactions)."""
    two_flows_at_once(flow_tx)
