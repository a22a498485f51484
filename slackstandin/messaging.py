"""What a Slack app built with Bolt needs from the stand-in: mentions, slash commands, replies.

* ``mention_event``: an ``app_mention`` event (docs.slack.dev/reference/events/app_mention),
  delivered like any event (``events.envelope`` + signature) to the app's one Request URL.
* ``command_form``: a slash command invocation, form-encoded and signed like Slack's
  (docs.slack.dev/interactivity/implementing-slash-commands), with a ``response_url`` that
  points back at the stand-in (``/response/<id>``), where ``respond()`` lands and is recorded.
* ``post_message``: ``chat.postMessage`` (docs.slack.dev/reference/methods/chat.postMessage):
  needs a live token, records the message with the token's workspace, answers like Slack.

Recorded messages keep a fingerprint of the token (never the token), so tests can tell which
workspace's token posted without the stand-in's page ever showing one.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from .state import BOT_USER_ID, INSTALLER_USER_ID, Call, new_hex

DEFAULT_CHANNEL = "C0STANDIN1"


def fingerprint(token: str) -> str:
    """What is kept of a token that posted: enough to compare, nothing to use."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Message:
    """A message an app posted (chat.postMessage) or sent to a response_url (respond)."""

    via: str  # "chat.postMessage" or "response_url"
    team_id: str | None
    channel: str
    text: str
    token_fingerprint: str = ""
    posted_at: float = field(default_factory=time.time)


class Outbox:
    """Messages the app sent, and the response URLs the stand-in handed out."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[Message] = []
        self.response_urls: dict[str, tuple[str | None, str]] = {}  # id -> (team, channel)

    def add(self, message: Message) -> None:
        with self.lock:
            self.messages.append(message)

    def all(self) -> list[Message]:
        with self.lock:
            return list(self.messages)


def mention_event(text: str, *, channel: str = DEFAULT_CHANNEL, user: str = "") -> dict[str, Any]:
    """An app_mention event: someone wrote ``<@bot> text`` in ``channel``."""
    ts = f"{time.time():.6f}"
    return {
        "type": "app_mention",
        "user": user or INSTALLER_USER_ID,
        "text": f"<@{BOT_USER_ID}> {text}".strip(),
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
    }


def command_form(
    outbox: Outbox,
    base_url: str,
    *,
    command: str,
    text: str,
    team_id: str | None,
    enterprise_id: str | None,
    app_id: str,
    channel: str = DEFAULT_CHANNEL,
    user: str = "",
) -> bytes:
    """The form body Slack POSTs for a slash command, with a response_url back to us."""
    response_id = new_hex(8)
    with outbox.lock:
        outbox.response_urls[response_id] = (team_id, channel)
    fields = {
        "token": new_hex(12),  # the deprecated verification token: random, never checked
        "team_id": team_id or "",
        "team_domain": "standin",
        "enterprise_id": enterprise_id or "",
        "channel_id": channel,
        "channel_name": "general",
        "user_id": user or INSTALLER_USER_ID,
        "user_name": "standin-installer",
        "command": command,
        "text": text,
        "api_app_id": app_id,
        "is_enterprise_install": "false",
        "response_url": f"{base_url}/response/{response_id}",
        "trigger_id": f"{new_hex(4)}.{new_hex(4)}",
    }
    return urlencode(fields).encode("ascii")


def post_message(team_id: str | None, call: Call, outbox: Outbox) -> dict[str, Any]:
    """chat.postMessage for a live token (the caller checked it); Slack's answer shape."""
    channel = call.params.get("channel", "")
    if not channel:
        return {"ok": False, "error": "channel_not_found"}
    text = call.params.get("text", "")
    if not text and not call.params.get("blocks"):
        return {"ok": False, "error": "no_text"}
    outbox.add(Message("chat.postMessage", team_id, channel, text, fingerprint(call.token or "")))
    ts = f"{time.time():.6f}"
    return {
        "ok": True,
        "channel": channel,
        "ts": ts,
        "message": {"type": "message", "text": text, "user": BOT_USER_ID, "ts": ts},
    }


def receive_response(outbox: Outbox, response_id: str, payload: dict[str, Any]) -> bool:
    """A POST to a response_url we handed out; False for one we did not."""
    with outbox.lock:
        found = outbox.response_urls.get(response_id)
    if found is None:
        return False
    team_id, channel = found
    outbox.add(Message("response_url", team_id, channel, str(payload.get("text", ""))))
    return True
