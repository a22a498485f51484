"""Sign in with Slack in a real Chromium, against the live server and the stand-in."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from installations.models import Workspace
from installations.signin.models import SlackIdentity
from slackstandin import SlackStandIn
from tests.project.test_e2e_pages import (  # noqa: F401  (fixtures)
    VIEWPORTS,
    axe_script,
    check_page,
    scrollbars,
    serious_violations,
    sized,
)
from tests.support.factories import saved_workspace

pytestmark = pytest.mark.browser


@pytest.fixture
def live_signin(site: Any, signin: SlackStandIn) -> Any:
    return site


def sign_in(page: Any, standin: SlackStandIn, *, person: str = "Stand-in Installer") -> None:
    page.get_by_role("link", name="Sign in with Slack").click()
    page.wait_for_url(standin.url + "/openid/connect/authorize**")
    page.get_by_label(person, exact=False).check()
    page.get_by_role("button", name="Allow").click()


def test_first_sign_in_creates_the_user_and_shows_exactly_their_workspaces(
    live_signin: Any, signin: SlackStandIn, page: Any, browser: Any
) -> None:
    # The installer adds the app through the real install flow; someone else installs elsewhere.
    page.goto(live_signin.url + "/slack/install")
    page.get_by_role("link", name="Add to Slack").click()
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(live_signin.url + "/slack/installed**")
    saved_workspace(team_id="T0THEIRS", team_name="Their Workspace", user_id="U0STANDIN2")

    page.goto(live_signin.url + "/slack/signin")
    sign_in(page, signin)
    page.wait_for_url(live_signin.url + "/slack/signin/workspaces")
    assert page.get_by_role("heading", level=1).inner_text() == "My workspaces"
    rows = page.locator("li.workspace")
    assert rows.count() == 1
    assert "Stand-in Workspace" in rows.first.inner_text()
    assert rows.first.locator(".status").inner_text() == "Active"
    assert "Their Workspace" not in page.content()
    assert "code=" not in page.url and "state=" not in page.url
    assert page.console_errors == []
    assert get_user_model().objects.count() == 1
    user = SlackIdentity.objects.get().user

    # A second sign-in, in another browser, logs into the same user.
    other = browser.new_context().new_page()
    other.goto(live_signin.url + "/slack/signin")
    sign_in(other, signin)
    other.wait_for_url(live_signin.url + "/slack/signin/workspaces")
    assert get_user_model().objects.count() == 1
    assert SlackIdentity.objects.get().user == user


def test_a_workspace_that_needs_it_offers_a_reinstall(
    live_signin: Any, signin: SlackStandIn, page: Any
) -> None:
    from django.utils import timezone

    workspace = saved_workspace(team_id="T0STANDIN1", user_id="U0STANDINUSR")
    Workspace.objects.filter(pk=workspace.pk).update(uninstalled_at=timezone.now())
    page.goto(live_signin.url + "/slack/signin")
    sign_in(page, signin)
    page.wait_for_url(live_signin.url + "/slack/signin/workspaces")
    row = page.locator("li.workspace").first
    assert row.locator(".status").inner_text() == "Needs reinstall"
    assert "App uninstalled" in row.inner_text()
    row.get_by_role("link", name="Reinstall in Stand-in Workspace").click()
    page.wait_for_url(
        live_signin.url + "/slack/install?team=T0STANDIN1&next=%2Fslack%2Fsignin%2Fworkspaces"
    )
    assert page.get_by_role("link", name="Add to Slack").is_visible()


def test_staff_reach_the_admin_through_slack_with_password_login_off(
    live_signin: Any, signin: SlackStandIn, page: Any, settings: Any
) -> None:
    settings.SLACK_SIGNIN_STAFF_TEAMS = ["T0STANDIN1"]
    settings.SLACK_SIGNIN_STAFF_GROUP = "Slack staff"
    settings.SLACK_SIGNIN_PASSWORD_LOGIN = False
    page.goto(live_signin.url + "/admin/")
    page.wait_for_url(live_signin.url + "/admin/login/**")
    assert page.locator('input[name="password"]').count() == 0
    sign_in(page, signin)
    page.wait_for_url(live_signin.url + "/admin/")
    assert "Site administration" in page.content()
    assert SlackIdentity.objects.get().user.is_staff


def test_a_forged_token_shows_the_error_page_with_a_fresh_start(
    live_signin: Any, signin: SlackStandIn, page: Any
) -> None:
    signin.forge_next_id_token("bad_signature")
    page.goto(live_signin.url + "/slack/signin")
    sign_in(page, signin)
    page.wait_for_url(live_signin.url + "/slack/signin/callback**")
    assert page.get_by_role("heading", level=1).inner_text() == (
        "Slack's answer could not be verified"
    )
    assert "bad_signature" in page.content()
    page.get_by_role("link", name="Start the sign-in again").click()
    page.wait_for_url(live_signin.url + "/slack/signin")
    assert get_user_model().objects.count() == 0


@pytest.mark.parametrize(("size", "choice"), [("1280", "Link"), ("390", "Cancel")])
def test_linking_to_the_signed_in_account_asks_first(
    live_signin: Any,
    signin: SlackStandIn,
    browser: Any,
    request: pytest.FixtureRequest,
    size: str,
    choice: str,
) -> None:
    axe = request.getfixturevalue("axe_script")
    password = secrets.token_urlsafe(16)
    alice = get_user_model().objects.create_user("alice", password=password, is_staff=True)
    context = browser.new_context(viewport=VIEWPORTS[size], bypass_csp=True)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    tab.goto(live_signin.url + "/admin/login/")
    tab.get_by_label("Username").fill("alice")
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_url(live_signin.url + "/admin/")

    tab.goto(live_signin.url + "/slack/signin")
    sign_in(tab, signin, person="Second Person")
    tab.wait_for_url(live_signin.url + "/slack/signin/link")
    assert tab.get_by_role("heading", level=1).inner_text() == "Link this Slack account?"
    text = tab.locator("main").inner_text()
    assert "alice" in text and "Second Person" in text and "U0STANDIN2" in text
    assert not SlackIdentity.objects.exists()
    width = tab.evaluate("() => document.documentElement.scrollWidth")
    assert width <= VIEWPORTS[size]["width"], width
    assert serious_violations(tab, axe) == []

    tab.get_by_role("button", name=choice if choice == "Cancel" else "Link to alice").click()
    tab.wait_for_url(live_signin.url + "/slack/signin/workspaces")
    assert "Signed in as alice" in tab.content()
    if choice == "Link":
        assert SlackIdentity.objects.get().user == alice
    else:
        assert not SlackIdentity.objects.exists()
    tab.get_by_role("button", name="Sign out").click()  # the page's other POST form
    tab.wait_for_url(live_signin.url + "/slack/signin")
    assert "You are signed in" not in tab.content()
    context.close()


def test_reinstall_from_my_workspaces_comes_back_with_a_confirmation(
    live_signin: Any,
    signin: SlackStandIn,
    sized: tuple[str, Any],  # noqa: F811  (the fixture imported above)
    axe_script: Any,  # noqa: F811
) -> None:
    from django.utils import timezone

    size, tab = sized
    workspace = saved_workspace(team_id="T0STANDIN1", user_id="U0STANDINUSR")
    Workspace.objects.filter(pk=workspace.pk).update(uninstalled_at=timezone.now())
    tab.goto(live_signin.url + "/slack/signin")
    sign_in(tab, signin)
    tab.wait_for_url(live_signin.url + "/slack/signin/workspaces")
    sign_out = tab.get_by_role("button", name="Sign out")
    assert sign_out.evaluate("e => getComputedStyle(e).borderRadius") == "4px"  # the page's look
    check_page(tab, axe_script, "my-workspaces", size)

    tab.get_by_role("link", name="Reinstall in Stand-in Workspace").click()
    tab.wait_for_url(live_signin.url + "/slack/install?team=T0STANDIN1&next=**")
    assert tab.get_by_role("link", name="Back to My workspaces").is_visible()
    assert "Installed it already?" not in tab.content()
    check_page(tab, axe_script, "install-from-my-workspaces", size)

    tab.get_by_role("link", name="Add to Slack").click()
    tab.get_by_role("button", name="Allow").click()
    tab.wait_for_url(live_signin.url + "/slack/signin/workspaces")
    status = tab.get_by_role("status")
    assert status.inner_text() == "The app is installed in Stand-in Workspace."
    assert tab.locator("li.workspace .status").inner_text() == "Active"
    check_page(tab, axe_script, "my-workspaces-after-reinstall", size)
