"""The admin answers in ten seconds: reasons that agree with each other and the facts, counts that
are right after any change, times to the second with the zone, harmless actions that do not look
dangerous, events that link to their workspace, a link to the app on Slack, and the weekly chart
in one query."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.messages import INFO
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from installations.admin.site import WorkspaceAdmin
from installations.lifecycle import revocation
from installations.lifecycle.saving import record_event
from installations.models import Health, LifecycleEvent, Workspace
from installations.reporting import chart, health
from tests.support.admin import health_row, past

pytestmark = pytest.mark.django_db

LIST = reverse("admin:installations_workspace_changelist")
TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z][A-Za-z0-9+-]*")
GONE = {"reason_uninstalled", "reason_revoked_by_staff", "reason_bot_revoked"}


def true_reasons(workspace: Workspace) -> set[str]:
    row = health_row(workspace)
    return {name for name in health.REASONS if getattr(row, name)}


def target(ws: Workspace) -> dict[str, Any]:
    return {"client_id": ws.client_id, "enterprise_id": ws.enterprise_id, "team_id": ws.team_id}


# --- reasons agree with each other and with the facts -------------------------------------------


def test_an_uninstall_is_uninstalled_not_a_dead_or_revoked_token(
    audit_workspace: Callable, settings: Any
) -> None:
    settings.SLACK_SCOPES = "commands,chat:write"
    ws = audit_workspace(bot_scopes="commands")  # short of a scope before it went
    revocation.mark_uninstalled(**target(ws), actor="slack")
    ws.refresh_from_db()
    assert ws.health == Health.DEAD and ws.bot_revoked_at is not None  # the stored facts
    assert true_reasons(ws) == {"reason_uninstalled"}
    [reason] = health.reason_details(health_row(ws))
    assert reason.words == "App uninstalled"
    assert TIME.search(reason.detail)


def test_a_staff_revoke_says_who_and_when(audit_workspace: Callable) -> None:
    ws = audit_workspace()
    revocation.mark_revoked_by_staff(
        ws, actor="staff:alice", detail="1 token(s) revoked", revoked=revocation.live_tokens(ws)
    )
    assert true_reasons(ws) == {"reason_revoked_by_staff"}
    [reason] = health.reason_details(health_row(ws))
    assert reason.words == "Revoked by staff"
    assert reason.detail.startswith("by alice at ")
    assert TIME.search(reason.detail)


def test_slack_revoking_the_bot_token_is_not_a_staff_revoke(audit_workspace: Callable) -> None:
    ws = audit_workspace()
    revocation.mark_bot_revoked(**target(ws), actor="slack")
    assert true_reasons(ws) == {"reason_bot_revoked"}
    assert health.reason_details(health_row(ws))[0].detail.startswith("by Slack at ")


def test_a_staff_revoke_before_the_latest_install_no_longer_counts(
    audit_workspace: Callable,
) -> None:
    ws = audit_workspace(installed_at=past(days=2))
    record_event(ws, LifecycleEvent.Kind.REVOKED, "staff:bob", occurred_at=past(days=3))
    Workspace.objects.filter(pk=ws.pk).update(bot_revoked_at=past(hours=1))  # Slack, later
    assert true_reasons(ws) == {"reason_bot_revoked"}


def test_dead_only_after_a_verification(audit_workspace: Callable) -> None:
    never_verified = audit_workspace(health=Health.DEAD)
    verified = audit_workspace(
        health=Health.DEAD, last_verified_at=past(minutes=3), last_error="invalid_auth"
    )
    assert true_reasons(never_verified) == set()
    assert true_reasons(verified) == {"reason_token_dead"}
    [reason] = health.reason_details(health_row(verified))
    assert reason.detail.startswith("auth.test answered invalid_auth, ")


moments = st.one_of(st.none(), st.integers(min_value=1, max_value=500))  # hours ago


@hsettings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    uninstalled=moments,
    bot_revoked=moments,
    refresh_failed=moments,
    verified=moments,
    expired=moments,
    dead=st.booleans(),
    staff=st.booleans(),
    short_of_scopes=st.booleans(),
)
def test_reasons_never_contradict_each_other_or_the_facts(
    audit_workspace: Callable,
    settings: Any,
    uninstalled: int | None,
    bot_revoked: int | None,
    refresh_failed: int | None,
    verified: int | None,
    expired: int | None,
    dead: bool,
    staff: bool,
    short_of_scopes: bool,
) -> None:
    settings.SLACK_SCOPES = "commands,chat:write"
    hours = lambda n: None if n is None else past(hours=n)  # noqa: E731
    ws = audit_workspace(
        bot_scopes="commands" if short_of_scopes else "commands,chat:write",
        installed_at=past(days=30),
        uninstalled_at=hours(uninstalled),
        bot_revoked_at=hours(bot_revoked),
        refresh_failed_at=hours(refresh_failed),
        last_verified_at=hours(verified),
        bot_token_expires_at=hours(expired),
        health=Health.DEAD if dead else Health.OK,
    )
    if staff:
        record_event(ws, LifecycleEvent.Kind.REVOKED, "staff:carol", occurred_at=past(hours=1))
    row = health_row(ws)
    found = {name for name in health.REASONS if getattr(row, name)}
    assert row.needs_reinstall == bool(found)  # the status and its reasons agree
    assert len(found & GONE) <= 1  # one story of how the token went
    if found & GONE:
        assert found <= GONE  # a token that is gone is not also dead, expired or short
    if "reason_token_dead" in found:
        assert row.last_verified_at is not None
    if "reason_revoked_by_staff" in found:
        assert staff and row.bot_revoked_at is not None and row.uninstalled_at is None
    assert len(health.reason_details(row)) == len(found)


# --- counts are right after any change ------------------------------------------------------------


def test_counts_change_with_the_change_not_a_minute_later(
    audit_workspace: Callable, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        first, second = audit_workspace(), audit_workspace()
    assert health.status_counts(Workspace.objects.all())["needs_reinstall"] == 0  # now cached
    with django_capture_on_commit_callbacks(execute=True):
        revocation.mark_uninstalled(**target(first), actor="slack")
    assert health.status_counts(Workspace.objects.all())["needs_reinstall"] == 1
    with django_capture_on_commit_callbacks(execute=True):
        revocation.mark_revoked_by_staff(
            second, actor="staff:dan", detail="revoked", revoked=revocation.live_tokens(second)
        )
    assert health.status_counts(Workspace.objects.all()) == {
        "total": 2,
        "needs_reinstall": 2,
        "unreadable": 0,
        "active": 0,
    }


def test_counts_on_the_list_page_follow_a_change(
    viewer: Client, audit_workspace: Callable, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        ws = audit_workspace()
    assert viewer.get(LIST).context["status_counts"]["needs_reinstall"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        revocation.mark_uninstalled(**target(ws), actor="slack")
    assert viewer.get(LIST).context["status_counts"]["needs_reinstall"] == 1


# --- the list and the page ------------------------------------------------------------------------


def test_the_list_leads_with_workspace_status_type_installed_verified() -> None:
    assert WorkspaceAdmin.list_display[:5] == (
        "name_and_id",
        "status_and_reasons",
        "install_type_display",
        "installed_when",
        "last_verified_when",
    )


def test_times_show_seconds_and_the_zone(
    viewer: Client, audit_workspace: Callable, settings: Any
) -> None:
    settings.TIME_ZONE = "Europe/Paris"
    ws = audit_workspace(last_verified_at=timezone.now() - timedelta(seconds=7))
    text = html.unescape(viewer.get(LIST).content.decode())
    local = timezone.localtime(ws.last_verified_at)
    assert local.strftime("%Y-%m-%d %H:%M:%S %Z") in text
    assert local.strftime("%Z") in ("CET", "CEST")
    page = html.unescape(
        viewer.get(reverse("admin:installations_workspace_change", args=[ws.pk])).content.decode()
    )
    assert timezone.localtime(ws.installed_at).strftime("%Y-%m-%d %H:%M:%S %Z") in page


def test_the_badge_lists_reasons_in_words(viewer: Client, audit_workspace: Callable) -> None:
    ws = audit_workspace()
    revocation.mark_revoked_by_staff(
        ws, actor="staff:erin", detail="revoked", revoked=revocation.live_tokens(ws)
    )
    page = html.unescape(viewer.get(LIST).content.decode())
    text = page.split('id="result_list"', 1)[1].split("</table>", 1)[0]  # not the filters
    assert '<strong class="ws-status ws-needs-reinstall">Needs reinstall</strong>' in text
    assert "Revoked by staff" in text and "by erin at " in text
    assert "Token dead" not in text and "Bot token revoked" not in text


def test_the_list_loads_its_stylesheet_from_this_origin(viewer: Client) -> None:
    text = viewer.get(LIST).content.decode()
    assert '<link rel="stylesheet" href="/static/installations/admin_workspaces.css">' in text


def test_verify_is_not_confirmed_like_a_deletion_but_revoke_is(
    operator: Client, audit_workspace: Callable
) -> None:
    ws = audit_workspace()
    for action, dangerous in (("verify_now", False), ("refresh_now", False), ("revoke", True)):
        page = operator.post(LIST, {"action": action, "_selected_action": [str(ws.pk)]})
        assert page.status_code == 200
        assert ("delete-confirmation" in page.content.decode()) is dangerous, action


def test_nothing_due_is_neutral_news(operator: Client, audit_workspace: Callable) -> None:
    ws = audit_workspace()  # no token rotation: nothing to refresh, no call to Slack
    response = operator.post(
        LIST,
        {"action": "refresh_now", "_selected_action": [str(ws.pk)], "confirm": "yes"},
        follow=True,
    )
    [message] = list(response.context["messages"])
    assert "nothing was due" in message.message
    assert message.level == INFO


def test_lifecycle_events_link_to_their_workspace(
    viewer: Client, audit_workspace: Callable, django_user_model: Any
) -> None:
    ws = audit_workspace()
    user = django_user_model.objects.create_superuser("boss", "b@example.invalid", None)
    client = Client()
    client.force_login(user)
    text = client.get(reverse("admin:installations_lifecycleevent_changelist")).content.decode()
    assert f'href="{reverse("admin:installations_workspace_change", args=[ws.pk])}"' in text
    assert TIME.search(html.unescape(text))


@pytest.mark.parametrize(
    ("org_wide", "expected"),
    [
        (False, "https://app.slack.com/apps-manage/T0LINK/integrations/profile/A0AUDIT"),
        (True, "https://app.slack.com/manage/E0LINK/integrations/profile/A0AUDIT"),
    ],
)
def test_a_link_to_the_app_on_slack(
    viewer: Client, audit_workspace: Callable, org_wide: bool, expected: str
) -> None:
    ws = audit_workspace(team_id="T0LINK", enterprise_id="E0LINK", org_wide=org_wide)
    page = viewer.get(reverse("admin:installations_workspace_change", args=[ws.pk]))
    assert f'href="{expected}"' in page.content.decode()


# --- the weekly chart -----------------------------------------------------------------------------


def test_the_chart_costs_one_query(
    audit_workspace: Callable, django_assert_num_queries: Any
) -> None:
    for _ in range(3):
        audit_workspace()
    with django_assert_num_queries(1):
        weeks = chart.weekly_activity()
    assert len(weeks) == chart.WEEKS
    assert sum(week.installs for week in weeks) == 3


def test_the_chart_counts_by_week(audit_workspace: Callable) -> None:
    now = timezone.now()
    ws = audit_workspace()
    kind = LifecycleEvent.Kind
    record_event(ws, kind.UNINSTALLED, "slack", occurred_at=now - timedelta(weeks=3))
    record_event(ws, kind.REVOKED, "staff:x", occurred_at=now - timedelta(weeks=3))
    record_event(ws, kind.BOT_REVOKED, "slack", occurred_at=now - timedelta(weeks=3))
    record_event(ws, kind.REFRESH_FAILED, "c", "bot: invalid_refresh_token; reinstall needed")
    record_event(ws, kind.REFRESH_FAILED, "c", "bot: slack_unavailable")  # passing: not counted
    record_event(ws, kind.INSTALLED, "t", occurred_at=now - timedelta(weeks=40))  # too old
    weeks = chart.weekly_activity(now=now)
    three_ago = weeks[-4]
    assert (three_ago.uninstalls, three_ago.reinstall_needed) == (1, 1)  # one workspace
    assert weeks[-1].installs == 1 and weeks[-1].reinstall_needed == 1
    assert sum(week.installs for week in weeks) == 1


@pytest.mark.django_db(transaction=True)  # the cache moves on when a change commits
def test_the_chart_is_cached_until_the_history_changes(
    audit_workspace: Callable, django_assert_num_queries: Any
) -> None:
    ws = audit_workspace()
    first = chart.activity_chart()
    with django_assert_num_queries(0):
        assert chart.activity_chart() == first
    record_event(ws, LifecycleEvent.Kind.UNINSTALLED, "slack")
    assert chart.activity_chart().weeks[-1].uninstalls == 1  # at once, not a minute later


def test_the_chart_is_svg_with_a_table_on_the_list(
    viewer: Client, audit_workspace: Callable
) -> None:
    audit_workspace()
    text = viewer.get(LIST).content.decode()
    assert '<figure class="ws-chart" id="activity-chart"' in text
    assert "<svg" in text and "<rect" in text
    assert '<div class="ws-visually-hidden"><table id="activity-chart-table">' in text
    assert "<script" not in text.split('id="activity-chart"', 1)[1].split("</figure>", 1)[0]
