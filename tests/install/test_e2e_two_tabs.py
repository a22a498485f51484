"""Two install tabs in one real browser (issue 11, class 9): both finish.

Django's test client ignores a cookie's Path; Chromium does not. This proves the binding value
reaches the install page (its own cookie) and the callback (``slack-app-oauth-state``) and no
other page, and that the older tab is not told it "started in another browser".
"""

from __future__ import annotations

from typing import Any

import pytest

from installations.install.cookie import COOKIE_NAME, INSTALL_COOKIE_NAME
from installations.models import Workspace
from slackstandin import SlackStandIn

pytestmark = pytest.mark.browser


def test_two_tabs_in_one_browser_both_install(site: Any, standin: SlackStandIn, page: Any) -> None:
    older = page
    older.goto(site.url + "/slack/install")
    newer = page.context.new_page()
    newer.goto(site.url + "/slack/install?team=T0SECOND1")

    jar = {c["name"]: c for c in page.context.cookies()}
    assert jar[COOKIE_NAME]["value"] == jar[INSTALL_COOKIE_NAME]["value"]
    assert jar[COOKIE_NAME]["path"] == "/slack/oauth_redirect"
    assert jar[INSTALL_COOKIE_NAME]["path"] == "/slack/install"
    assert jar[COOKIE_NAME]["httpOnly"] and jar[COOKIE_NAME]["sameSite"] == "Lax"
    sent_elsewhere = page.context.cookies(site.url + "/slack/installed")
    assert sent_elsewhere == []

    for tab in (newer, older):  # the newer tab first: the older one used to fail after it
        tab.get_by_role("link", name="Add to Slack").click()
        tab.get_by_role("button", name="Allow").click()
        tab.wait_for_url(site.url + "/slack/installed**")
        assert tab.get_by_role("heading", level=1).inner_text().startswith("The app is installed")

    assert set(Workspace.objects.values_list("team_id", flat=True)) == {"T0STANDIN1", "T0SECOND1"}
    assert len(standin.calls_to("oauth.v2.access")) == 2
