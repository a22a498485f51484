"""No admin page, export or log entry holds a token, a refresh token or a webhook URL.

Rows are saved through persistence.save_installation with fake tokens known to the test; then
every admin page reachable by links (and every action's confirmation page) is scanned for each
token and for its last characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.urls import reverse
from pytest_django import Settings

from installations.models import Health, Workspace
from tests.support.admin import past

pytestmark = pytest.mark.django_db

HREF = re.compile(r'href="(/admin/[^"#]*)"')
SKIP = ("/admin/logout/", "/admin/password_change/", "/admin/auth/")


def crawl(client: Client, start: str, limit: int = 400) -> dict[str, str]:
    """GET every /admin/ page reachable from ``start`` by links: {url: unescaped html}."""
    seen: dict[str, str] = {}
    queue = [start]
    while queue and len(seen) < limit:
        url = unescape(queue.pop())
        if url in seen or url.startswith(SKIP):
            continue
        response = client.get(url)
        assert response.status_code in (200, 302), (url, response.status_code)
        body = response.content.decode()
        seen[url] = unescape(body)
        queue.extend(HREF.findall(body))
    return seen


def assert_clean(pages: dict[str, str], secrets: list[str]) -> None:
    assert secrets
    for url, text in pages.items():
        for secret in secrets:
            assert secret not in text, url
            assert secret[-8:] not in text, url
        assert not re.search(r"xox[abpe]", text), url
        assert "hooks.example.invalid" not in text, url


@pytest.fixture
def populated(audit_workspace: Callable, settings: Settings) -> list[Workspace]:
    settings.SLACK_USER_SCOPES = "search:read"
    rows = [
        audit_workspace(user_scopes="search:read", webhook=True, rotation=True),
        audit_workspace(org_wide=True, enterprise_id="E0LEAK", enterprise_name="Leak Org"),
        audit_workspace(enterprise_id="E0LEAK", health=Health.DEAD, rotation=True),
        audit_workspace(uninstalled_at=past(hours=1), user_scopes="search:read"),
        audit_workspace(bot_token_expires_at=past(hours=1)),
    ]
    # A second flow by another user: history with a superseded and a kept user token.
    audit_workspace(team_id=rows[0].team_id, user_id="U0OTHER", user_scopes="search:read")
    broken = rows[-1]
    field = Workspace._meta.get_field("bot_token")
    Workspace.objects.filter(pk=broken.pk).update(bot_token=field.seal("xoxb-x", rows[0].pk))
    return rows


def test_no_admin_page_contains_a_token(
    admin_client: Client, populated: list[Workspace], audit_secrets: list[str]
) -> None:
    pages = crawl(admin_client, "/admin/")
    for ws in populated:
        assert reverse("admin:installations_workspace_change", args=[ws.pk]) in pages
    assert any("/admin/installations/lifecycleevent/" in url for url in pages)
    for params in ("?status=needs_reinstall", "?reason=expired", "?q=T0", "?user_tokens=yes"):
        response = admin_client.get(reverse("admin:installations_workspace_changelist") + params)
        pages[params] = unescape(response.content.decode())
    assert_clean(pages, audit_secrets)


def test_confirmation_pages_export_and_log_contain_no_token(
    admin_client: Client, populated: list[Workspace], audit_secrets: list[str]
) -> None:
    pages: dict[str, str] = {}
    selected = [ws.pk for ws in populated]
    changelist = reverse("admin:installations_workspace_changelist")
    for action in ("verify_now", "refresh_now", "revoke", "export_csv"):
        response = admin_client.post(changelist, {"action": action, ACTION_CHECKBOX_NAME: selected})
        assert response.status_code == 200
        pages[action] = response.content.decode()
    assert LogEntry.objects.count() == len(populated)  # the export is logged per workspace
    pages["log"] = " ".join(str(e.change_message) + e.object_repr for e in LogEntry.objects.all())
    pages.update(crawl(admin_client, "/admin/"))  # recent actions on the index page too
    assert_clean(pages, audit_secrets)
