"""Acknowledged means recorded, behind SLACK_BOLT_APP: on every path, Slack's 200 comes after the
lifecycle event's effects are committed.

Slack never resends an acknowledged event, so an uninstall applied after ``ack()`` is lost for
good if the worker dies in between. The view records the event before the developer's app sees
the request (installations/views.py); these tests prove it on each path (sync ``App`` and
``AsyncApp``, ``process_before_response`` off and on), through the real URL and view:
- the uninstall is already in the database when Bolt starts on the request (a global middleware
  of the app reads it, before any listener or ack), and the developer's own listener still runs;
- a database that refuses the write gets a non-2xx answer, Bolt never sees the request, nothing
  changes, and Slack's retry of the same event is then applied once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from installations.bolt import request_url
from installations.models import LifecycleEvent, ProcessedSlackEvent
from tests.bolt import request_url_apps
from tests.support.db_faults import refuse_writes
from tests.support.factories import saved_workspace
from tests.support.lifecycle import envelope, sign

# Transactional: the async paths read the database from the listener loop's own connection.
pytestmark = pytest.mark.django_db(transaction=True)

PATHS = {
    "sync-acking-first": "observing_sync_acking_first",
    "sync-processing-first": "observing_sync_processing_first",
    "async-acking-first": "observing_async_acking_first",
    "async-processing-first": "observing_async_processing_first",
}


@pytest.fixture(params=list(PATHS.values()), ids=list(PATHS))
def bolt_path(request: pytest.FixtureRequest, settings: Any) -> Iterator[str]:
    settings.SLACK_BOLT_APP = f"tests.bolt.request_url_apps.{request.param}"
    request_url_apps.SEEN.clear()
    yield str(request.param)
    request_url_apps.SEEN.clear()


def deliver(payload: dict[str, Any], **headers: Any) -> Any:
    body = json.dumps(payload).encode()
    client = Client(raise_request_exception=False)
    return client.post(
        "/slack/events", data=body, content_type="application/json", **sign(body), **headers
    )


def wait_for_listener() -> list[tuple[str, Any]]:
    """What the app saw, once the developer's listener ran (after the answer, when acking
    first: Bolt runs the rest of the listener after it)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any(kind == "listener" for kind, _ in request_url_apps.SEEN):
            return list(request_url_apps.SEEN)
        time.sleep(0.02)
    raise AssertionError(f"the developer's listener never ran: {request_url_apps.SEEN}")


def test_an_acknowledged_uninstall_is_already_recorded_when_bolt_starts(bolt_path: str) -> None:
    workspace = saved_workspace()

    response = deliver(envelope({"type": "app_uninstalled"}))

    assert response.status_code == 200, response.content
    assert request_url.configured_app() is not None
    seen = wait_for_listener()
    assert seen == [("before bolt", 1), ("listener", "app_uninstalled")]
    workspace.refresh_from_db()
    assert workspace.uninstalled_at is not None and workspace.bot_token is None
    assert LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.UNINSTALLED).count() == 1


def test_a_write_the_database_refuses_is_not_acknowledged_and_the_retry_applies(
    bolt_path: str,
) -> None:
    workspace = saved_workspace()
    payload = envelope({"type": "app_uninstalled"})
    lift = refuse_writes("installations_processedslackevent")
    try:
        refused = deliver(payload)
    finally:
        lift()

    assert refused.status_code == 503, refused.content
    assert request_url_apps.SEEN == []  # the developer's app never saw it: nothing acknowledged
    workspace.refresh_from_db()
    assert workspace.uninstalled_at is None and workspace.bot_token is not None
    assert not ProcessedSlackEvent.objects.exists()

    retried = deliver(payload, HTTP_X_SLACK_RETRY_NUM="1")  # Slack resends the same event
    assert retried.status_code == 200
    workspace.refresh_from_db()
    assert workspace.uninstalled_at is not None
    assert deliver(payload, HTTP_X_SLACK_RETRY_NUM="2").status_code == 200  # applied once
    assert LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.UNINSTALLED).count() == 1


@pytest.mark.parametrize("kind", ["tokens_revoked", "team_access_granted", "team_access_revoked"])
def test_every_lifecycle_event_is_recorded_before_bolt_starts(
    bolt_path: str, kind: str, standin: Any
) -> None:
    """The other members of the class: each lifecycle event the app records. (Bolt's authorize
    asks the stand-in's auth.test about the org's token before the developer's listeners run.)"""
    org = saved_workspace(enterprise_id="E0ORG1", team_id=None, is_enterprise_install=True)
    auth = [{"enterprise_id": "E0ORG1", "team_id": None, "is_enterprise_install": True}]
    event: dict[str, Any] = {"type": kind, "team_ids": ["T0A"]}
    if kind == "tokens_revoked":
        event = {"type": kind, "tokens": {"bot": ["U0BOT"]}}
    org_event = envelope(event, team_id=None, enterprise_id="E0ORG1", authorizations=auth)
    lift = refuse_writes("installations_processedslackevent")
    try:
        refused = deliver(org_event)
    finally:
        lift()
    assert refused.status_code == 503
    assert request_url_apps.SEEN == []

    if kind == "team_access_revoked":  # revoking needs a grant to revoke
        granted = {"type": "team_access_granted", "team_ids": ["T0A"]}
        deliver(envelope(granted, team_id=None, enterprise_id="E0ORG1", authorizations=auth))
    before = LifecycleEvent.objects.filter(workspace=org).count()
    request_url_apps.SEEN.clear()
    # a new delivery, later than the grant (an older revocation would change nothing)
    later = {"event_id": org_event["event_id"] + "R", "event_time": int(time.time()) + 1}
    response = deliver({**org_event, **later})
    assert response.status_code == 200
    assert LifecycleEvent.objects.filter(workspace=org).count() == before + 1


def test_with_atomic_requests_the_uninstall_is_committed_before_bolt_starts(
    bolt_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A host project with ATOMIC_REQUESTS: the view's writes would commit only after it
    returned, so the developer's app (an AsyncApp reads on its own connection) would start on
    the old rows, and a failed commit would follow Bolt's answer. The events view is
    non-atomic: its lifecycle transaction commits before Bolt starts."""
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)
    saved_workspace()

    response = deliver(envelope({"type": "app_uninstalled"}))

    assert response.status_code == 200, response.content
    assert wait_for_listener()[0] == ("before bolt", 1)
