"""The example's listeners: answer a mention in the channel, answer ``/hello`` to its caller.

``new_bolt_app()`` gives a Bolt ``App`` on slackinstall's encrypted installation store: each
workspace's listeners get that workspace's own bot token (``say`` posts with it), and the
uninstall / token-revocation events keep being recorded. ``SLACK_BOLT_APP`` names this factory.
"""

from __future__ import annotations

from typing import Any

from installations.bolt.request_url import new_bolt_app


def build_app() -> Any:
    app = new_bolt_app()

    @app.event("app_mention")
    def answer_mention(event: dict[str, Any], say: Any) -> None:
        # say() is chat.postMessage into the event's channel, with this workspace's bot token.
        say(f"Hi <@{event['user']}>, you mentioned me.")

    @app.command("/hello")
    def hello(ack: Any, respond: Any, command: dict[str, Any]) -> None:
        ack()  # within 3 seconds, or Slack shows the user an error
        respond(f"Hello, <@{command['user_id']}>!")

    return app
