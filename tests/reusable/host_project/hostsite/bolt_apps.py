"""The host's Bolt apps behind /slack/events: a sync ``App`` (the [bolt] extra, no aiohttp) and
an ``AsyncApp`` (the [bolt-async] extra). Each answers a mention in the mention's channel."""

from typing import Any


def sync_app() -> Any:
    from installations.bolt.request_url import new_bolt_app

    app = new_bolt_app()

    @app.event("app_mention")
    def mention(event: dict[str, Any], say: Any) -> None:
        say("hello from the host's App")

    return app


def async_app() -> Any:
    from installations.bolt.request_url import new_async_bolt_app

    app = new_async_bolt_app()

    @app.event("app_mention")
    async def mention(event: dict[str, Any], say: Any) -> None:
        await say("hello from the host's AsyncApp")

    return app
