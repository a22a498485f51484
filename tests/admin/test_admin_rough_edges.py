"""What a newcomer tripped over on the workspace pages: actions that could do nothing, two empty
marks, a red empty cell, and a chart and counts that seemed to disagree."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from installations.models import Workspace
from tests.support.factories import fake_token
from tests.support.lifecycle import envelope

pytestmark = pytest.mark.django_db

LIST = reverse("admin:installations_workspace_changelist")
BUTTON = re.compile(r'name="action" value="(\w+)"')


def detail(client: Client, workspace: Workspace) -> str:
    response = client.get(reverse("admin:installations_workspace_change", args=[workspace.pk]))
    assert response.status_code == 200
    return html.unescape(response.content.decode())


def offered(text: str) -> list[str]:
    """The action buttons above the workspace page's fields."""
    tools = text.split('class="object-tools"', 1)[1].split("</ul>", 1)[0]
    return BUTTON.findall(tools)


def uninstalled(post_event: Callable[..., Any], workspace: Workspace) -> Workspace:
    """Through Slack's own app_uninstalled event: every token erased."""
    response = post_event(envelope({"type": "app_uninstalled"}, team_id=workspace.team_id))
    assert response.status_code == 200
    return Workspace.objects.get(pk=workspace.pk)


def test_an_uninstalled_workspace_offers_no_action_and_says_why(
    operator: Client, saved_workspace: Callable[..., Workspace], post_event: Callable[..., Any]
) -> None:
    workspace = uninstalled(
        post_event, saved_workspace(team_id="T0STANDIN1", bot_refresh_token=fake_token("xoxe"))
    )
    assert workspace.bot_token is None
    text = detail(operator, workspace)
    assert offered(text) == []
    absent = text.split('id="actions-absent"', 1)[1].split("</div>", 1)[0]
    assert "Verify now: no bot token is stored" in absent
    assert "Refresh tokens now: no refresh token is stored" in absent
    assert "Revoke: no token is stored" in absent


def test_a_working_workspace_offers_what_its_tokens_allow(
    operator: Client, audit_workspace: Callable[..., Workspace]
) -> None:
    rotating = detail(operator, audit_workspace(rotation=True))
    assert offered(rotating) == ["verify_now", "refresh_now", "revoke"]
    assert 'id="actions-absent"' not in rotating

    plain = detail(operator, audit_workspace())
    assert offered(plain) == ["verify_now", "revoke"]
    assert "Refresh tokens now: no refresh token is stored (no token rotation)" in plain


def test_a_rotating_user_token_alone_is_still_refreshable(
    operator: Client, saved_workspace: Callable[..., Workspace]
) -> None:
    workspace = saved_workspace(user_refresh_token=fake_token("xoxe"), bot_refresh_token=None)
    assert offered(detail(operator, workspace)) == ["verify_now", "refresh_now", "revoke"]


def test_the_reasons_list_only_the_actions_this_person_may_run(
    audit_staff: Callable[..., Client],
    saved_workspace: Callable[..., Workspace],
    post_event: Callable[..., Any],
) -> None:
    workspace = uninstalled(post_event, saved_workspace(team_id="T0STANDIN1"))
    revoker = detail(audit_staff("view_workspace", "revoke_workspace"), workspace)
    assert "Revoke: no token is stored" in revoker
    assert "Verify now:" not in revoker
    viewer = detail(audit_staff("view_workspace"), workspace)
    assert 'id="actions-absent"' not in viewer


def test_every_empty_value_on_the_page_is_the_same_mark(
    viewer: Client, audit_workspace: Callable[..., Workspace]
) -> None:
    text = detail(viewer, audit_workspace())
    last_error = text.split("Last error:</label>", 1)[1].split("</div>", 2)[0]
    assert '<div class="readonly">—</div>' in last_error + "</div>"
    assert '<div class="readonly">-</div>' not in text


def test_the_event_page_uses_the_same_empty_mark(admin_client: Any) -> None:
    from installations.lifecycle.saving import record_event
    from installations.models import LifecycleEvent

    event = record_event(None, LifecycleEvent.Kind.INSTALLED, actor="test")
    response = admin_client.get(
        reverse("admin:installations_lifecycleevent_change", args=[event.pk])
    )
    text = html.unescape(response.content.decode())
    assert '<div class="readonly">-</div>' not in text and '<div class="readonly">—</div>' in text


def test_only_a_missing_scope_is_red(
    viewer: Client, audit_workspace: Callable[..., Workspace], settings: Any
) -> None:
    settings.SLACK_SCOPES = "commands,chat:write"
    complete = detail(viewer, audit_workspace(bot_scopes="commands,chat:write"))
    assert "ws-missing" not in complete.split('id="scopes"', 1)[1]
    lacking = detail(viewer, audit_workspace(bot_scopes="commands"))
    assert '<td class="ws-missing">chat:write</td>' in lacking


def test_the_chart_and_the_counts_say_what_each_counts(
    viewer: Client, audit_workspace: Callable[..., Workspace], settings: Any
) -> None:
    audit_workspace(bot_scopes="commands")
    settings.SLACK_SCOPES = "commands,chat:write"  # a scope change: no event, one reinstall need
    response = viewer.get(LIST)
    text = html.unescape(response.content.decode())
    counts = text.split('id="status-counts"', 1)[1].split("</p>", 1)[0]
    assert "Workspaces now:" in counts
    assert re.search(r"Needs reinstall: <a[^>]*>1</a>", counts)
    caption = text.split('id="activity-chart-title"', 1)[1].split("</figcaption>", 1)[0]
    assert caption.startswith(">Events per week")
    assert "wants more scopes had no event: it is counted above (workspaces now)" in caption
    week = response.context["activity_chart"].weeks[-1]
    assert week.reinstall_needed == 0  # the chart counts events, and there was none
