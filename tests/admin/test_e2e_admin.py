"""Staff meet the admin in a real Chromium: log in, find the workspace, verify it now."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest

from installations.models import Workspace
from installations.reporting import health
from slackstandin import SlackStandIn

pytestmark = pytest.mark.browser


@pytest.fixture
def staff_login(django_user_model: Any) -> tuple[str, str]:
    password = secrets.token_urlsafe(16)
    django_user_model.objects.create_superuser("ops", "ops@example.invalid", password)
    return "ops", password


def test_staff_logs_in_sees_the_workspace_and_verifies_it(
    site: Any,
    standin: SlackStandIn,
    standin_install: Callable[..., Workspace],
    staff_login: tuple[str, str],
    page: Any,
) -> None:
    workspace = standin_install()
    before = len(standin.calls_to("auth.test"))

    page.goto(site.url + "/admin/")
    page.get_by_label("Username").fill(staff_login[0])
    page.get_by_label("Password").fill(staff_login[1])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(site.url + "/admin/")

    page.get_by_role("link", name="Workspaces").first.click()
    page.wait_for_url(site.url + "/admin/installations/workspace/")
    row = page.locator("#result_list tbody tr", has_text="T0STANDIN1")
    assert row.count() == 1
    text = row.inner_text()
    assert "Stand-in Workspace" in text
    assert "commands" in text and "chat:write" in text  # granted scopes
    assert health.ACTIVE in text and health.NEEDS_REINSTALL not in text  # status

    row.get_by_role("link", name="Stand-in Workspace (T0STANDIN1)").click()
    page.wait_for_url(f"{site.url}/admin/installations/workspace/{workspace.pk}/change/")
    assert page.locator("#scopes").is_visible()
    page.get_by_role("button", name="Verify now").click()
    page.get_by_role("button", name="Yes, I\u2019m sure").click()

    message = page.locator("ul.messagelist li").first
    assert "T0STANDIN1" in message.inner_text() or "Stand-in" in message.inner_text()
    assert "success" in (message.get_attribute("class") or "")
    assert len(standin.calls_to("auth.test")) == before + 1
    workspace.refresh_from_db()
    assert workspace.last_verified_at is not None
    assert page.console_errors == []  # the admin works under our CSP
