"""Bolt apps for the tests of the one Request URL (SLACK_BOLT_APP names these factories).

``observing_*``: what the database says when Bolt starts on a request (a global middleware,
before any listener or ack), and which events the developer's own ``app_uninstalled`` listener
saw; one factory per path: sync ``App`` / ``AsyncApp``, ``process_before_response`` off / on.
``matching_*``: listeners with regular-expression matchers for every kind of request (events,
messages, commands, actions, views, shortcuts, options, functions), so that every field Bolt
searches with a pattern is read.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async

from installations.bolt.request_url import new_async_bolt_app, new_bolt_app
from installations.models import Workspace

# What the apps saw, in order: ("before bolt", <uninstalled rows>) / ("listener", <event type>).
SEEN: list[tuple[str, Any]] = []
ANY = re.compile(".*")


def uninstalled_rows() -> int:
    return Workspace.objects.filter(uninstalled_at__isnull=False).count()


def _observing_sync(process_before_response: bool) -> Any:
    app = new_bolt_app(process_before_response=process_before_response)

    @app.middleware
    def before_bolt(next: Callable[[], Any]) -> Any:
        SEEN.append(("before bolt", uninstalled_rows()))
        return next()

    @app.event("app_uninstalled")
    def developer_listener(ack: Callable[[], None], event: dict[str, Any]) -> None:
        ack()
        SEEN.append(("listener", event["type"]))

    return app


def _observing_async(process_before_response: bool) -> Any:
    app = new_async_bolt_app(process_before_response=process_before_response)

    @app.middleware
    async def before_bolt(next: Callable[[], Awaitable[Any]]) -> Any:
        SEEN.append(("before bolt", await sync_to_async(uninstalled_rows)()))
        return await next()

    @app.event("app_uninstalled")
    async def developer_listener(ack: Callable[[], Awaitable[None]], event: dict[str, Any]) -> None:
        await ack()
        SEEN.append(("listener", event["type"]))

    return app


def observing_sync_acking_first() -> Any:
    return _observing_sync(process_before_response=False)


def observing_sync_processing_first() -> Any:
    return _observing_sync(process_before_response=True)


def observing_async_acking_first() -> Any:
    return _observing_async(process_before_response=False)


def observing_async_processing_first() -> Any:
    return _observing_async(process_before_response=True)


def _register_matchers(app: Any, listener: Callable[..., Any]) -> None:
    for register in (app.event, app.message, app.command, app.action, app.view, app.shortcut,
                     app.options, app.function):  # fmt: skip
        register(ANY)(listener)
    app.action({"type": "block_actions", "block_id": ANY, "action_id": ANY})(listener)
    app.event({"type": ANY, "subtype": ANY})(listener)


def matching_sync() -> Any:
    app = new_bolt_app(process_before_response=True)

    def acknowledge(ack: Callable[[], None]) -> None:
        ack()

    _register_matchers(app, acknowledge)
    return app


def matching_async() -> Any:
    app = new_async_bolt_app(process_before_response=True)

    async def acknowledge(ack: Callable[[], Awaitable[None]]) -> None:
        await ack()

    _register_matchers(app, acknowledge)
    return app
