"""The one listener both contestants run for the events benchmark (the example app's mention
answer, example_app/slack_app.py): ``say`` is chat.postMessage with the workspace's bot token."""

from __future__ import annotations

from typing import Any


def answer_mention(event: dict[str, Any], say: Any) -> None:
    say(f"Hi <@{event['user']}>, you mentioned me.")


def register(app: Any) -> Any:
    app.event("app_mention")(answer_mention)
    return app
