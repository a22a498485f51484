"""Events delivered over real HTTP by the stand-in to the live server's /slack/events.

Issue 5 "done when": an uninstall sent from the stand-in marks the workspace uninstalled with
its time (the admin shows it from Workspace.uninstalled_at).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from installations.models import Installation, LifecycleEvent, Workspace
from tests.support.factories import install_through_standin

pytestmark = pytest.mark.django_db(transaction=True)


def test_uninstall_from_the_standin_marks_the_workspace_with_its_time(standin_with_events):
    workspace, body = install_through_standin(standin_with_events, user_token=True)
    before = time.time()  # no pause: an event in the install's second counts as after it
    status, text = standin_with_events.uninstall("T0STANDIN1")
    elapsed = time.time() - before
    assert (status, text) == (200, "ok")
    assert elapsed < 1.0  # well inside Slack's 3 seconds
    workspace.refresh_from_db()
    assert workspace.uninstalled_at is not None
    assert (
        abs(workspace.uninstalled_at - datetime.fromtimestamp(before, tz=UTC)).total_seconds() < 2
    )
    assert workspace.bot_token is None
    assert Installation.objects.get(workspace=workspace).user_token is None
    event = LifecycleEvent.objects.get(kind=LifecycleEvent.Kind.UNINSTALLED)
    assert event.actor == "slack" and event.slack_event_id.startswith("Ev")
    assert standin_with_events.token_info(body["access_token"])["revoked"] is True


def test_tokens_revoked_and_its_retry_from_the_standin(standin_with_events):
    workspace, _ = install_through_standin(standin_with_events, user_token=True)
    event = {"type": "tokens_revoked", "tokens": {"oauth": ["U0STANDINUSR"], "bot": []}}
    later = int(time.time()) + 2
    first = standin_with_events.send_event(
        event, team_id="T0STANDIN1", event_id="EvRETRY1", event_time=later
    )
    retry = standin_with_events.send_event(
        event, team_id="T0STANDIN1", event_id="EvRETRY1", event_time=later, retry_num=1
    )
    assert first == (200, "ok") and retry == (200, "ok")
    workspace.refresh_from_db()
    assert workspace.bot_token is not None
    assert Installation.objects.get(workspace=workspace).user_token is None
    assert LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.USER_REVOKED).count() == 1


def test_stale_uninstall_retry_never_undoes_a_reinstall(standin_with_events):
    install_through_standin(standin_with_events)
    uninstalled_at = int(time.time())
    time.sleep(1.1)
    workspace, _ = install_through_standin(standin_with_events)  # reinstall, fresh tokens
    status, _ = standin_with_events.send_event(
        {"type": "app_uninstalled"}, team_id="T0STANDIN1", event_time=uninstalled_at, retry_num=2
    )
    assert status == 200
    workspace = Workspace.objects.get(pk=workspace.pk)
    assert workspace.uninstalled_at is None and workspace.bot_token is not None


def test_event_signed_with_another_secret_is_refused(standin_with_events):
    workspace, _ = install_through_standin(standin_with_events)
    status, _ = standin_with_events.send_event(
        {"type": "app_uninstalled"}, team_id="T0STANDIN1", signing_secret="not-our-secret"
    )
    assert status == 401
    workspace.refresh_from_db()
    assert workspace.uninstalled_at is None
