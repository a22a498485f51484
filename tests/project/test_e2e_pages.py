"""Every page a person meets, in a real Chromium at a laptop's and a phone's size: the admin list's
first status badge is on the first screen, the weekly chart renders, no page scrolls sideways, and
axe-core finds no serious or critical accessibility violation. Screenshots go to
test-artifacts/screenshots/ (CI keeps them).

The pages are measured with classic scrollbars, as a desktop browser draws them: headless Chromium
hides scrollbars by default, and a page that fits only without its 15 px scrollbar would pass here
and scroll sideways on a laptop.

axe-core comes from npm (tests/e2e_assets: ``npm ci --prefix tests/e2e_assets``) and is injected
into each page; its context bypasses the Content-Security-Policy only for that injection (the
pages' own CSP behaviour is checked with the normal ``page`` fixture below).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from installations.lifecycle import revocation
from installations.models import Workspace
from slackstandin import SlackStandIn
from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS, browser_unavailable

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[1] / "e2e_assets/node_modules/axe-core/axe.min.js"
SCREENSHOTS = ARTIFACTS / "screenshots"
VIEWPORTS = {"1280": {"width": 1280, "height": 800}, "390": {"width": 390, "height": 844}}
BRAND = {
    "SLACK_APP_NAME": "Acme Standup",
    "SLACK_APP_DESCRIPTION": "Daily standups in your Slack channels.",
    "SLACK_APP_PRIVACY_URL": "https://acme.example/privacy",
    "SLACK_APP_SUPPORT_URL": "mailto:help@acme.example",
}


@pytest.fixture
def axe_script() -> Path:
    if not AXE.is_file():
        if os.environ.get("CI"):
            pytest.fail("axe-core is missing: run npm ci --prefix tests/e2e_assets", pytrace=False)
        pytest.skip("axe-core is not installed (npm ci --prefix tests/e2e_assets)")
    return AXE


@pytest.fixture
def scrollbars(browser: Any) -> Iterator[Any]:
    """A Chromium that draws classic scrollbars (Playwright hides them when headless)."""
    shown = browser.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_FLAGS,
        ignore_default_args=["--hide-scrollbars"],
    )
    try:
        yield shown
    finally:
        shown.close()


@pytest.fixture(params=sorted(VIEWPORTS))
def sized(request: pytest.FixtureRequest, scrollbars: Any) -> Iterator[tuple[str, Any]]:
    """A tab at one viewport size, scrollbars drawn, whose context lets the axe script in."""
    name = request.param
    context = scrollbars.new_context(viewport=VIEWPORTS[name], bypass_csp=True)
    context.set_default_timeout(15_000)
    try:
        yield name, context.new_page()
    finally:
        context.close()


@pytest.fixture
def staff(django_user_model: Any) -> tuple[str, str]:
    password = secrets.token_urlsafe(16)
    django_user_model.objects.create_superuser("pages", "pages@example.invalid", password)
    return "pages", password


def serious_violations(tab: Any, axe: Path) -> list[str]:
    tab.add_script_tag(path=str(axe))
    result = tab.evaluate(
        "() => axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result
        if v.get("impact") in ("serious", "critical")
    ]


def shoot(tab: Any, name: str, size: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"{name}-{size}.png"), full_page=True)


def sideways_scroll(tab: Any, selector: str = "html") -> int:
    """How far the element (the page by default) scrolls sideways, in CSS pixels."""
    return int(tab.locator(selector).first.evaluate("e => e.scrollWidth - e.clientWidth"))


def check_page(tab: Any, axe: Path, name: str, size: str) -> None:
    shoot(tab, name, size)
    assert sideways_scroll(tab) <= 0, f"{name} at {size} scrolls sideways"
    problems = serious_violations(tab, axe)
    assert problems == [], json.dumps(problems, indent=1)


def log_in(tab: Any, url: str, staff: tuple[str, str]) -> None:
    tab.goto(url + "/admin/login/")
    tab.get_by_label("Username").fill(staff[0])
    tab.get_by_label("Password").fill(staff[1])
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_url(url + "/admin/")


def test_install_success_and_error_pages(
    site: Any, standin: SlackStandIn, sized: tuple[str, Any], axe_script: Path
) -> None:
    size, tab = sized
    with override_settings(**BRAND):
        tab.goto(site.url + "/")  # the front door
        tab.wait_for_url(site.url + "/slack/install")
        assert tab.get_by_role("heading", level=1).inner_text() == "Add Acme Standup to Slack"
        check_page(tab, axe_script, "install", size)

        tab.get_by_role("link", name="Add to Slack").click()
        tab.wait_for_url(standin.url + "/**")
        tab.get_by_role("button", name="Allow").click()
        tab.wait_for_url(site.url + "/slack/installed**")
        assert "Acme Standup is installed in" in tab.get_by_role("heading", level=1).inner_text()
        check_page(tab, axe_script, "success", size)

        tab.goto(site.url + "/slack/oauth_redirect?state=forged&code=x")
        assert "help@acme.example" in tab.content()
        check_page(tab, axe_script, "error", size)


def test_the_success_page_of_an_unnamed_app(
    site: Any, standin: SlackStandIn, sized: tuple[str, Any], axe_script: Path
) -> None:
    size, tab = sized
    with override_settings(SLACK_APP_NAME=""):
        tab.goto(site.url + "/slack/install")
        tab.get_by_role("link", name="Add to Slack").click()
        tab.get_by_role("button", name="Allow").click()
        tab.wait_for_url(site.url + "/slack/installed**")
        text = tab.locator("main").inner_text()
        assert "The app is installed in Stand-in Workspace" in text
        assert "not installed" not in text
        check_page(tab, axe_script, "success-unnamed", size)


# Scopes as a busy app asks for them: the longest cell a workspace row has.
MANY_SCOPES = (
    "channels:history,channels:read,chat:write,chat:write.public,commands,groups:history,"
    "groups:read,im:history,im:read,mpim:history,reactions:read,users:read,users:read.email"
)


def busy_list(audit_workspace: Any) -> None:
    """The rows a real list holds: long names, many scopes, a Grid org, every kind of reason."""
    now = timezone.now()
    audit_workspace(
        team_name="A rather long workspace name for the Acme Corporation",
        bot_scopes=MANY_SCOPES,
        last_verified_at=now,
    )
    audit_workspace(
        enterprise_id="E0GRID0001",
        enterprise_name="Acme Global Enterprise Grid Organisation",
        team_name="Acme Sales EMEA",
        bot_scopes=MANY_SCOPES,
        uninstalled_at=now,
        bot_revoked_at=now,
        refresh_failed_at=now,
        last_verified_at=now,
        last_error="token_revoked",
        last_error_at=now,
    )
    audit_workspace(org_wide=True, enterprise_id="E0GRID0002", bot_scopes="commands")
    for _ in range(3):
        audit_workspace(bot_scopes="commands", last_verified_at=now, user_scopes="search:read")


def test_admin_list_and_detail(
    site: Any,
    standin: SlackStandIn,
    standin_install: Any,
    audit_workspace: Any,
    staff: tuple[str, str],
    sized: tuple[str, Any],
    axe_script: Path,
) -> None:
    size, tab = sized
    busy_list(audit_workspace)
    workspace: Workspace = standin_install()
    revocation.mark_revoked_by_staff(
        workspace, actor="staff:pages", detail="revoked", revoked=revocation.live_tokens(workspace)
    )
    with override_settings(**BRAND, SLACK_SCOPES=MANY_SCOPES.replace("users:read,", "")):
        log_in(tab, site.url, staff)
        tab.goto(site.url + "/admin/installations/workspace/")
        assert "Acme Standup installations" in tab.title()
        shoot(tab, "admin-list", size)  # before the checks, so a failure can be looked at

        badge = tab.locator("#result_list tbody tr").first.locator(".ws-status")
        box = badge.bounding_box()
        viewport = tab.viewport_size
        assert box is not None
        assert 0 <= box["x"] and box["x"] + box["width"] <= viewport["width"], box
        assert 0 <= box["y"] and box["y"] + box["height"] <= viewport["height"], box
        if size == "1280":  # on a laptop every column shows: the list does not scroll either
            assert sideways_scroll(tab, "#changelist-form .results") <= 0

        chart = tab.locator("#activity-chart svg")
        assert chart.is_visible()
        assert (chart.bounding_box() or {}).get("height", 0) > 40
        assert tab.locator("#activity-chart svg rect").count() >= 1
        assert tab.locator("#activity-chart-table tbody tr").count() == 26
        check_page(tab, axe_script, "admin-list", size)

        tab.goto(f"{site.url}/admin/installations/workspace/{workspace.pk}/change/")
        assert "Revoked by staff" in tab.content()
        assert tab.locator(".object-tools button").count() == 0  # no token: nothing to run
        assert "Verify now: no bot token is stored" in tab.locator("#actions-absent").inner_text()
        check_page(tab, axe_script, "admin-detail", size)

        tab.goto(site.url + "/admin/installations/workspace/")
        tab.locator("#result_list tbody tr").first.locator("input.action-select").check()
        tab.locator("select[name=action]").select_option("forget")
        tab.get_by_role("button", name="Go", exact=True).click()
        assert tab.get_by_role("heading", level=1).inner_text() == "Forget these workspaces?"
        check_page(tab, axe_script, "admin-forget-confirmation", size)


def test_the_list_and_chart_work_under_the_strict_csp(
    site: Any, standin_install: Any, staff: tuple[str, str], page: Any
) -> None:
    standin_install()
    log_in(page, site.url, staff)
    page.goto(site.url + "/admin/installations/workspace/")
    assert page.locator("#activity-chart svg rect").count() >= 1
    color = page.locator(".ws-status").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert color not in ("rgba(0, 0, 0, 0)", "transparent")  # the app's stylesheet applied
    assert page.console_errors == []  # no CSP violation, no failed asset


def test_the_browser_is_available() -> None:
    """Named so a missing Chromium shows up as one clear failure in CI, not only as skips."""
    if not os.access(os.environ.get("CHROMIUM", "/usr/bin/chromium"), os.X_OK):
        browser_unavailable("no Chromium")
