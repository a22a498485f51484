"""A minimal AsyncApp for the tests of the one Request URL's async path."""

from __future__ import annotations

from typing import Any

from installations.bolt.request_url import new_async_bolt_app


def build_async_app() -> Any:
    app = new_async_bolt_app()

    @app.event("app_mention")
    async def mention(ack: Any, say: Any) -> None:
        await ack()
        await say("you mentioned me (async)")

    return app
