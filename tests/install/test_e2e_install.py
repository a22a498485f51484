"""The install flow as a user meets it: a real Chromium on our pages and the stand-in."""

from __future__ import annotations

from typing import Any

import pytest

from installations.models import Installation, Workspace
from slackstandin import SlackStandIn

pytestmark = pytest.mark.browser


def test_add_to_slack_allow_lands_on_the_success_page(
    site: Any, standin: SlackStandIn, page: Any
) -> None:
    page.goto(site.url + "/slack/install")
    assert page.title() == "Add to Slack"

    page.get_by_role("link", name="Add to Slack").click()
    page.wait_for_url(standin.url + "/**")  # Slack's authorize page (the stand-in)
    page.get_by_role("button", name="Allow").click()

    page.wait_for_url(site.url + "/slack/installed**")
    heading = page.get_by_role("heading", level=1)
    assert heading.inner_text() == "The app is installed in Stand-in Workspace"
    assert "code=" not in page.url and "state=" not in page.url
    assert page.get_by_role("link", name="Open Slack", exact=True).get_attribute("href")
    assert page.console_errors == []  # no CSP violation, no failed asset

    workspace = Workspace.objects.get(team_id="T0STANDIN1")
    assert workspace.team_name == "Stand-in Workspace"
    assert Installation.objects.filter(workspace=workspace).count() == 1
    assert len(standin.calls_to("oauth.v2.access")) == 1


def test_cancel_on_slack_lands_on_the_cancelled_page(
    site: Any, standin: SlackStandIn, page: Any
) -> None:
    page.goto(site.url + "/slack/install")
    page.get_by_role("link", name="Add to Slack").click()
    page.get_by_role("button", name="Cancel").click()

    page.wait_for_url(site.url + "/slack/oauth_redirect**")
    assert page.get_by_role("heading", level=1).inner_text() == "Installation cancelled"
    assert "error=access_denied" in page.url  # Slack's redirect; the page says nothing of it
    assert Workspace.objects.count() == 0
    assert standin.calls_to("oauth.v2.access") == []

    page.get_by_role("link", name="Start again").click()
    page.wait_for_url(site.url + "/slack/install")
    assert page.get_by_role("link", name="Add to Slack").is_visible()


def test_the_page_loads_nothing_from_another_site(
    site: Any, standin: SlackStandIn, page: Any
) -> None:
    foreign: list[str] = []
    page.on(
        "request",
        lambda request: (
            foreign.append(request.url) if not request.url.startswith((site.url, "data:")) else None
        ),
    )
    response = page.goto(site.url + "/slack/install")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    page.wait_for_load_state("networkidle")
    assert foreign == []
