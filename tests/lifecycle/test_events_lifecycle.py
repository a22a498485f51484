"""Lifecycle events through POST /slack/events: uninstall, revocation, org access, ordering.

docs/security.md, "§6 The Events API"; docs.slack.dev/reference/events/app_uninstalled,
/tokens_revoked, /team_access_granted, /team_access_revoked.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from installations.models import (
    Health,
    Installation,
    LifecycleEvent,
    OrgTeamAccess,
    ProcessedSlackEvent,
    Workspace,
)
from tests.support.factories import fake_token
from tests.support.lifecycle import envelope

pytestmark = pytest.mark.django_db


def at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def past(seconds: int) -> int:
    return int(timezone.now().timestamp()) - seconds


def test_app_uninstalled_erases_every_token_and_keeps_history(post_event, saved_workspace):
    workspace = saved_workspace(
        user_refresh_token=fake_token("xoxe"),
        bot_refresh_token=fake_token("xoxe"),
        installed_at=timezone.now() - timedelta(minutes=5),
    )
    event_time = past(5)
    payload = envelope({"type": "app_uninstalled"}, event_time=event_time)
    response = post_event(payload)
    assert response.status_code == 200
    workspace = Workspace.objects.get(pk=workspace.pk)
    assert workspace.uninstalled_at == at(event_time)
    assert workspace.bot_token is None and workspace.bot_refresh_token is None
    assert workspace.health == Health.DEAD
    row = Installation.objects.get(workspace=workspace)  # history kept
    assert row.user_token is None and row.user_refresh_token is None
    assert row.incoming_webhook_url is None
    assert row.deleted_at == at(event_time) and row.user_token_revoked_at == at(event_time)
    event = LifecycleEvent.objects.get(workspace=workspace, kind=LifecycleEvent.Kind.UNINSTALLED)
    assert event.actor == "slack" and event.slack_event_id == payload["event_id"]
    assert event.occurred_at == at(event_time)


def test_tokens_revoked_erases_listed_user_and_bot_tokens_only(post_event, saved_workspace):
    saved_workspace(user_id="U1")
    workspace = saved_workspace(user_id="U2", installed_at=timezone.now() + timedelta(seconds=1))
    event = {"type": "tokens_revoked", "tokens": {"oauth": ["U1"], "bot": ["U0STANDINBOT"]}}
    assert post_event(envelope(event, event_time=past(0) + 5)).status_code == 200
    workspace.refresh_from_db()
    assert workspace.bot_token is None and workspace.bot_revoked_at is not None
    assert workspace.uninstalled_at is None
    u1 = Installation.objects.get(workspace=workspace, user_id="U1")
    u2 = Installation.objects.get(workspace=workspace, user_id="U2")
    assert u1.user_token is None and u1.user_token_revoked_at is not None
    assert u2.user_token is not None and u2.user_token_revoked_at is None
    kinds = set(LifecycleEvent.objects.filter(workspace=workspace).values_list("kind", flat=True))
    assert {LifecycleEvent.Kind.USER_REVOKED, LifecycleEvent.Kind.BOT_REVOKED} <= kinds


def test_tokens_revoked_for_users_only_keeps_the_bot(post_event, saved_workspace):
    workspace = saved_workspace(user_id="U1")
    event = {"type": "tokens_revoked", "tokens": {"oauth": ["U1"], "bot": []}}
    assert post_event(envelope(event)).status_code == 200
    workspace.refresh_from_db()
    assert workspace.bot_token is not None and workspace.bot_revoked_at is None
    assert Installation.objects.get(workspace=workspace).user_token is None


def test_tokens_revoked_without_enterprise_id_finds_a_grid_workspace(post_event, saved_workspace):
    # The documented tokens_revoked example has neither authorizations nor enterprise_id.
    workspace = saved_workspace(enterprise_id="E0GRID1", team_id="T0GRID1")
    event = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["U0STANDINBOT"]}}
    assert post_event(envelope(event, team_id="T0GRID1")).status_code == 200
    workspace.refresh_from_db()
    assert workspace.bot_token is None


@pytest.mark.parametrize("kind", ["app_uninstalled", "tokens_revoked"])
def test_event_for_an_unknown_team_is_a_quiet_no_op(post_event, saved_workspace, kind):
    workspace = saved_workspace()
    event = {"type": kind, "tokens": {"oauth": ["U0STANDINUSR"], "bot": ["U0STANDINBOT"]}}
    assert post_event(envelope(event, team_id="T0NOBODY")).status_code == 200
    workspace.refresh_from_db()
    assert workspace.bot_token is not None and workspace.uninstalled_at is None
    assert not LifecycleEvent.objects.exclude(kind=LifecycleEvent.Kind.INSTALLED).exists()


def test_tokens_revoked_after_app_uninstalled_is_a_no_op(post_event, saved_workspace):
    workspace = saved_workspace()
    assert post_event(envelope({"type": "app_uninstalled"})).status_code == 200
    count = LifecycleEvent.objects.count()
    event = {"type": "tokens_revoked", "tokens": {"oauth": ["U0STANDINUSR"], "bot": ["U0X"]}}
    assert post_event(envelope(event)).status_code == 200
    assert LifecycleEvent.objects.count() == count
    workspace.refresh_from_db()
    assert workspace.uninstalled_at is not None


def test_uninstall_older_than_a_reinstall_keeps_the_reinstall(post_event, saved_workspace):
    t0 = timezone.now() - timedelta(minutes=10)
    saved_workspace(installed_at=t0)
    stale = envelope({"type": "app_uninstalled"}, event_time=int(t0.timestamp()) + 60)  # t1
    workspace = saved_workspace(installed_at=timezone.now() - timedelta(minutes=2))  # t2
    assert post_event(stale, headers={"HTTP_X_SLACK_RETRY_NUM": "3"}).status_code == 200
    workspace.refresh_from_db()
    assert workspace.uninstalled_at is None and workspace.bot_token is not None
    assert Installation.objects.get(workspace=workspace, is_current=True).user_token is not None
    assert not LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.UNINSTALLED).exists()


def test_retried_event_applies_once(post_event, saved_workspace):
    workspace = saved_workspace()
    payload = envelope({"type": "app_uninstalled"})
    del payload["event_time"]  # without a time, only the event id protects the reinstall
    assert post_event(payload).status_code == 200
    reinstall = saved_workspace()  # fresh tokens after the uninstall
    retry = {"HTTP_X_SLACK_RETRY_NUM": "1", "HTTP_X_SLACK_RETRY_REASON": "http_timeout"}
    assert post_event(payload, headers=retry).status_code == 200
    reinstall.refresh_from_db()
    assert reinstall.pk == workspace.pk
    assert reinstall.uninstalled_at is None and reinstall.bot_token is not None
    assert LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.UNINSTALLED).count() == 1
    assert ProcessedSlackEvent.objects.filter(event_id=payload["event_id"]).count() == 1


def test_processed_event_ids_are_pruned_after_a_day(post_event, saved_workspace):
    saved_workspace()
    old = ProcessedSlackEvent.objects.create(
        event_id="EvOLD", received_at=timezone.now() - timedelta(days=2)
    )
    assert post_event(envelope({"type": "app_uninstalled"})).status_code == 200
    assert not ProcessedSlackEvent.objects.filter(pk=old.pk).exists()


def test_event_for_another_app_is_ignored(post_event, saved_workspace):
    workspace = saved_workspace()
    payload = envelope({"type": "app_uninstalled"}, api_app_id="A0SOMEONEELSE")
    assert post_event(payload).status_code == 200
    workspace.refresh_from_db()
    assert workspace.uninstalled_at is None


def test_org_wide_uninstall_marks_the_org_row(post_event, saved_workspace):
    org = saved_workspace(enterprise_id="E0ORG1", team_id=None, is_enterprise_install=True)
    payload = envelope(
        {"type": "app_uninstalled"},
        team_id=None,
        enterprise_id="E0ORG1",
        authorizations=[
            {"enterprise_id": "E0ORG1", "team_id": None, "is_enterprise_install": True}
        ],
    )
    assert post_event(payload).status_code == 200
    org.refresh_from_db()
    assert org.team_id == "" and org.uninstalled_at is not None and org.bot_token is None


def test_team_access_granted_flat_and_revoked_nested(post_event, saved_workspace):
    org = saved_workspace(enterprise_id="E0ORG1", team_id=None, is_enterprise_install=True)
    grant = {"type": "team_access_granted", "team_ids": ["T0A", "T0B"], "event_ts": "1"}
    auth = [{"enterprise_id": "E0ORG1", "team_id": "T0A", "is_enterprise_install": False}]
    now = past(0)
    assert (
        post_event(envelope(grant, team_id="T0A", authorizations=auth, event_time=now)).status_code
        == 200
    )
    assert set(OrgTeamAccess.objects.filter(workspace=org, revoked_at=None).values_list(
        "team_id", flat=True)) == {"T0A", "T0B"}  # fmt: skip
    nested = {
        "team_id": None,
        "enterprise_id": "E0ORG1",
        "api_app_id": "A0STANDIN",
        "event": {"type": "team_access_revoked", "team_ids": ["T0B"]},
    }
    payload = envelope(nested, team_id="T0A", authorizations=auth, event_time=now + 1)
    assert post_event(payload).status_code == 200
    revoked = OrgTeamAccess.objects.get(workspace=org, team_id="T0B")
    assert revoked.revoked_at == at(now + 1)
    assert OrgTeamAccess.objects.get(workspace=org, team_id="T0A").revoked_at is None
    kinds = list(LifecycleEvent.objects.filter(workspace=org).values_list("kind", flat=True))
    assert LifecycleEvent.Kind.TEAM_ACCESS_GRANTED in kinds
    assert LifecycleEvent.Kind.TEAM_ACCESS_REVOKED in kinds


def test_late_team_access_granted_does_not_undo_a_newer_revoke(post_event, saved_workspace):
    org = saved_workspace(enterprise_id="E0ORG1", team_id=None, is_enterprise_install=True)
    auth = [{"enterprise_id": "E0ORG1", "team_id": None, "is_enterprise_install": True}]
    now = past(0) + 2
    revoke = {"type": "team_access_revoked", "team_ids": ["T0A"]}
    grant = {"type": "team_access_granted", "team_ids": ["T0A"]}
    post_event(envelope(revoke, team_id=None, authorizations=auth, event_time=now))
    post_event(envelope(grant, team_id=None, authorizations=auth, event_time=now - 1))
    assert OrgTeamAccess.objects.get(workspace=org, team_id="T0A").revoked_at == at(now)


@pytest.mark.parametrize("payload_type", ["event_callback", "app_rate_limited"])
def test_other_events_are_acknowledged_and_ignored(post_event, saved_workspace, payload_type):
    workspace = saved_workspace()
    payload = envelope({"type": "message", "text": secrets.token_hex(4)}, type=payload_type)
    response = post_event(payload)
    assert response.status_code == 200
    workspace.refresh_from_db()
    assert workspace.bot_token is not None
    assert not ProcessedSlackEvent.objects.exists()
