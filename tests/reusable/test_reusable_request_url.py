"""The one Request URL: the example Bolt app behind /slack/events, on our store, over real HTTP.

The stand-in delivers a signed app_mention and a signed, form-encoded /hello to the live server;
the example app answers with chat.postMessage (the workspace's own bot token) and respond();
app_uninstalled through the same URL still marks the workspace and keeps the history.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from installations.bolt import request_url
from installations.bolt.store import DjangoInstallationStore, DjangoOAuthStateStore
from installations.models import Installation, LifecycleEvent, Workspace
from slackstandin import SlackStandIn
from slackstandin.messaging import fingerprint
from tests.support.flow import Flow

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLE = "example_app.slack_app.build_app"


def wait_for(condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("timed out")


@pytest.fixture
def bolt_site(standin_with_events: SlackStandIn, settings: Any) -> Flow:
    settings.SLACK_BOLT_APP = EXAMPLE
    flow = Flow(standin=standin_with_events, client=Client())
    assert flow.install().status_code == 302
    return flow


def test_example_app_answers_a_mention_with_the_workspaces_own_token(bolt_site: Flow) -> None:
    standin = bolt_site.standin
    workspace = Workspace.objects.get()
    status, _ = standin.send_mention("hi there", team_id=workspace.team_id)
    assert status == 200
    posted = wait_for(lambda: [m for m in standin.messages if m.via == "chat.postMessage"])
    assert posted[0].token_fingerprint == fingerprint(workspace.bot_token or "")
    assert posted[0].team_id == workspace.team_id
    assert "you mentioned me" in posted[0].text


def test_example_app_answers_hello_through_the_response_url(bolt_site: Flow) -> None:
    standin = bolt_site.standin
    status, _ = standin.send_command("/hello", team_id="T0STANDIN1")
    assert status == 200
    answered = wait_for(lambda: [m for m in standin.messages if m.via == "response_url"])
    assert answered[0].text.startswith("Hello, <@")


def test_commands_url_serves_the_bolt_app_too(bolt_site: Flow, live_server: Any) -> None:
    standin = bolt_site.standin
    status, _ = standin.send_command(
        "/hello", team_id="T0STANDIN1", url=live_server.url + "/slack/commands"
    )
    assert status == 200
    wait_for(lambda: [m for m in standin.messages if m.via == "response_url"])


def test_an_unsigned_request_is_refused_by_bolt(bolt_site: Flow, live_server: Any) -> None:
    from slackstandin import events

    status, _ = events.post(
        live_server.url + "/slack/events", b"{}", {"Content-Type": "application/json"}
    )
    assert status == 401


def test_app_uninstalled_through_the_bolt_app_keeps_history(bolt_site: Flow) -> None:
    status, _ = bolt_site.standin.uninstall("T0STANDIN1")
    assert status == 200
    workspace = wait_for(lambda: Workspace.objects.filter(uninstalled_at__isnull=False).first())
    assert workspace.bot_token is None
    assert Installation.objects.filter(workspace=workspace).count() == 1  # history kept
    kinds = list(LifecycleEvent.objects.values_list("kind", flat=True))
    assert LifecycleEvent.Kind.UNINSTALLED in kinds


def test_without_a_bolt_app_the_builtin_endpoint_answers(
    standin_with_events: SlackStandIn, settings: Any
) -> None:
    settings.SLACK_BOLT_APP = ""
    assert request_url.configured_app() is None
    flow = Flow(standin=standin_with_events, client=Client())
    flow.install()
    status, _ = standin_with_events.uninstall("T0STANDIN1")
    assert status == 200
    assert Workspace.objects.get().uninstalled_at is not None
    assert Client().post("/slack/commands").status_code == 404


def test_a_factory_or_an_app_object_both_load(settings: Any) -> None:
    app = request_url.load_app(EXAMPLE)
    listeners = [str(listener.matchers) for listener in app._listeners]
    assert len(listeners) >= 6  # ours (4 lifecycle events) + the example's two
    # Bolt's own OAuth flow stays off: the one it has is on our stores, and never served
    assert isinstance(app.oauth_flow.settings.state_store, DjangoOAuthStateStore)
    assert isinstance(app.oauth_flow.settings.installation_store, DjangoInstallationStore)


def test_an_async_app_answers_a_mention_with_the_workspaces_own_token(
    standin_with_events: SlackStandIn, settings: Any
) -> None:
    settings.SLACK_BOLT_APP = "tests.reusable.async_app.build_async_app"
    flow = Flow(standin=standin_with_events, client=Client())
    assert flow.install().status_code == 302
    assert request_url.is_async()
    workspace = Workspace.objects.get()
    status, _ = standin_with_events.send_mention("hi there", team_id=workspace.team_id)
    assert status == 200
    posted = wait_for(
        lambda: [m for m in standin_with_events.messages if m.via == "chat.postMessage"]
    )
    assert posted[0].token_fingerprint == fingerprint(workspace.bot_token or "")
    assert "you mentioned me (async)" in posted[0].text


@pytest.mark.postgres
def test_an_async_app_keeps_answering_after_the_database_ends_its_sessions(
    standin_with_events: SlackStandIn, settings: Any
) -> None:
    """A database restart or failover ends every session; the async lookups' connection (on the
    listener loop's executor thread, outside Django's request cycle) must be renewed too."""
    settings.SLACK_BOLT_APP = "tests.reusable.async_app.build_async_app"
    flow = Flow(standin=standin_with_events, client=Client())
    assert flow.install().status_code == 302
    team = Workspace.objects.get().team_id

    def answers() -> list[Any]:
        return [m for m in standin_with_events.messages if m.via == "chat.postMessage"]

    assert standin_with_events.send_mention("before", team_id=team)[0] == 200
    wait_for(lambda: len(answers()) == 1)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert cursor.fetchall(), "the listener loop had no session to end"
    assert standin_with_events.send_mention("after", team_id=team)[0] == 200
    wait_for(lambda: len(answers()) == 2)
