"""The developer's listeners call Slack over kept-alive connections (installations/bolt/
request_url.py, installations/slack/kept_alive.py), with slack_sdk's behaviour otherwise.

Signed events are posted to /slack/events with Django's test client; the listener runs before
the answer (``process_before_response``), in this thread, so its calls share this thread's
connection to the stand-in, which counts the connections it accepts. Before this change Bolt's
per-request ``WebClient`` opened one per ``say``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from http.client import RemoteDisconnected
from typing import Any

import pytest
from slack_bolt import App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from installations.bolt import request_url
from installations.conf import slack_config
from installations.slack import transport
from installations.slack.kept_alive import KeptAliveWebClient
from slackstandin import SlackStandIn, messaging
from slackstandin import events as standin_events

pytestmark = pytest.mark.django_db

TEAM = "T0STANDIN1"
LARGE = 2 * 1024 * 1024  # over transport.MAX_ANSWER_BYTES, the cap on our own calls


class Seen:
    """What the test's listener saw, per event."""

    def __init__(self) -> None:
        self.clients: list[Any] = []
        self.say_clients: list[Any] = []
        self.bolt_clients: list[Any] = []  # Bolt's own per-request client, before ours
        self.errors: list[BaseException] = []
        self.history_sizes: list[int] = []


SEEN = Seen()
RETRY_HANDLERS: list[RetryHandler] | None = None  # None: slack_sdk's default, as Bolt copies it
READ_HISTORY = False


def remember_bolts_client(context: BoltContext, next: Callable[[], Any]) -> Any:
    SEEN.bolt_clients.append(context.client)  # before_authorize: Bolt's WebClient, no token yet
    return next()


def build_app() -> App:
    client = KeptAliveWebClient(base_url=slack_config().api_url, retry_handlers=RETRY_HANDLERS)
    app: App = request_url.new_bolt_app(
        process_before_response=True, client=client, before_authorize=remember_bolts_client
    )

    @app.event("app_mention")
    def answer(context: BoltContext, client: WebClient, say: Any) -> None:
        SEEN.clients.append(client)
        SEEN.say_clients.append(say.client)
        try:
            if READ_HISTORY:
                history = client.conversations_history(channel=messaging.DEFAULT_CHANNEL)
                SEEN.history_sizes.append(len(history["padding"]))
            say("seen")
        except (SlackApiError, OSError) as exc:
            SEEN.errors.append(exc)

    return app


FACTORY_CALLS: list[int] = []


def slow_factory() -> App:
    FACTORY_CALLS.append(1)
    time.sleep(0.05)  # long enough for every racing thread to arrive
    app: App = request_url.new_bolt_app()
    return app


@pytest.fixture
def serve(settings: Any) -> Callable[..., Any]:
    """serve(retry_handlers=None, read_history=False) -> the developer's app, configured."""

    def configure(
        retry_handlers: list[RetryHandler] | None = None, read_history: bool = False
    ) -> Any:
        global SEEN, RETRY_HANDLERS, READ_HISTORY
        SEEN, RETRY_HANDLERS, READ_HISTORY = Seen(), retry_handlers, read_history
        settings.SLACK_BOLT_APP = f"{__name__}.build_app"
        return request_url.configured_app()

    return configure


@pytest.fixture(autouse=True)
def _no_connection_left() -> Iterator[None]:
    transport.close_idle_connections()
    yield
    transport.close_idle_connections()


@pytest.fixture
def mention(post_event: Callable[..., Any]) -> Callable[[], None]:
    def send() -> None:
        payload = standin_events.envelope(
            messaging.mention_event("hello"),
            team_id=TEAM,
            enterprise_id=None,
            is_enterprise_install=False,
            event_id=None,
            event_time=None,
        )
        response = post_event(payload)
        assert response.status_code == 200 and response.content == b""

    return send


def test_every_listeners_call_shares_this_threads_connection(
    standin: SlackStandIn,
    install: Callable[..., Any],
    serve: Callable[..., Any],
    mention: Callable[[], None],
) -> None:
    install()
    serve()
    transport.close_idle_connections()
    before = standin.state.connections
    for _ in range(8):
        mention()
    assert len(standin.messages) == 8 and SEEN.errors == []
    assert standin.state.connections - before == 1  # slack_sdk's own client: 8


def test_the_listener_gets_bolts_client_with_every_setting_on_our_transport(
    standin: SlackStandIn,
    install: Callable[..., Any],
    serve: Callable[..., Any],
    mention: Callable[[], None],
) -> None:
    """Pins what request_url relies on in Bolt (App._init_context): a plain WebClient per
    request, carrying the App client's settings and, once authorized, the workspace's token."""
    _, body = install()
    app = serve(retry_handlers=[RateLimitErrorRetryHandler()])
    mention()
    (bolts,), (ours,) = SEEN.bolt_clients, SEEN.clients
    assert type(bolts) is WebClient  # what Bolt builds; a change here must be looked at
    assert type(ours) is KeptAliveWebClient and SEEN.say_clients == [ours]
    assert vars(ours) == vars(bolts)  # every attribute, whatever Bolt sets
    assert ours.token == body["access_token"] and ours.base_url == standin.api_url
    assert ours.timeout == app.client.timeout and ours.retry_handlers == app.client.retry_handlers
    assert ours is not app.client  # still one client per request: its token is this one's


def test_a_refusal_is_slack_sdks_error_in_the_listener(
    standin: SlackStandIn,
    install: Callable[..., Any],
    serve: Callable[..., Any],
    mention: Callable[[], None],
) -> None:
    install()
    serve()
    standin.fail_next("chat.postMessage", error="channel_not_found")
    mention()
    (error,) = SEEN.errors
    assert isinstance(error, SlackApiError) and error.response["error"] == "channel_not_found"


def test_a_rate_limit_is_waited_out_by_the_apps_retry_handler(
    standin: SlackStandIn,
    install: Callable[..., Any],
    serve: Callable[..., Any],
    mention: Callable[[], None],
) -> None:
    install()
    serve(retry_handlers=[ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler()])
    standin.fail_next("chat.postMessage", status=429, retry_after="0")
    mention()
    assert SEEN.errors == []
    assert len(standin.calls_to("chat.postMessage")) == 2 and len(standin.messages) == 1


def test_a_reset_connection_is_retried_on_a_fresh_one(
    standin: SlackStandIn,
    install: Callable[..., Any],
    serve: Callable[..., Any],
    mention: Callable[[], None],
) -> None:
    install()
    serve()  # slack_sdk's default handlers: ConnectionErrorRetryHandler
    transport.close_idle_connections()
    before = standin.state.connections
    mention()
    standin.fail_next("chat.postMessage", drop=True)
    mention()  # the kept connection is hung up on: retried on a new one
    mention()
    assert SEEN.errors == [] and len(standin.messages) == 3
    assert standin.state.connections - before == 2


def test_after_a_fault_the_next_listeners_call_opens_a_fresh_connection(
    standin: SlackStandIn,
    install: Callable[..., Any],
    serve: Callable[..., Any],
    mention: Callable[[], None],
) -> None:
    install()
    serve(retry_handlers=[])  # no retry: the listener sees the fault as slack_sdk raises it
    transport.close_idle_connections()
    before = standin.state.connections
    mention()
    standin.fail_next("chat.postMessage", drop=True)
    mention()
    (error,) = SEEN.errors
    assert isinstance(error, RemoteDisconnected)
    mention()
    assert len(standin.messages) == 2
    assert standin.state.connections - before == 2


def test_a_large_answer_reaches_the_listener(
    standin: SlackStandIn,
    install: Callable[..., Any],
    serve: Callable[..., Any],
    mention: Callable[[], None],
) -> None:
    install()
    serve(read_history=True)
    standin.fail_next("conversations.history", huge=LARGE)
    mention()
    assert SEEN.errors == []
    assert SEEN.history_sizes and SEEN.history_sizes[0] > transport.MAX_ANSWER_BYTES
    assert len(standin.messages) == 1


def test_no_token_in_logs(
    standin: SlackStandIn,
    install: Callable[..., Any],
    serve: Callable[..., Any],
    mention: Callable[[], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, body = install()
    serve()
    with (
        caplog.at_level(logging.DEBUG),
        caplog.at_level(logging.DEBUG, logger="slack_sdk.web.base_client"),
    ):
        mention()
        standin.fail_next("chat.postMessage", drop=True, times=2)
        mention()
        standin.fail_next("chat.postMessage", error="not_in_channel")
        mention()
    assert len(SEEN.errors) == 2
    assert "Received the following response" in caplog.text
    assert body["access_token"] not in caplog.text


def test_the_async_app_keeps_slack_sdks_async_client() -> None:
    app = request_url.new_async_bolt_app()
    assert type(app.client) is AsyncWebClient


def test_racing_first_requests_load_the_app_once(settings: Any) -> None:
    """A worker's threads all start on its first requests: the factory runs once (each load
    was also ~0.4 s of CPU at a worker's start)."""
    FACTORY_CALLS.clear()
    settings.SLACK_BOLT_APP = f"{__name__}.slow_factory"
    barrier = threading.Barrier(6)
    apps: list[Any] = []

    def first_request() -> None:
        barrier.wait()
        apps.append(request_url.configured_app())

    threads = [threading.Thread(target=first_request) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(FACTORY_CALLS) == 1
    assert len(apps) == 6 and all(app is apps[0] for app in apps)
