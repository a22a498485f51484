"""Fixtures for the local Slack stand-in: a real loopback HTTP server that plays slack.com.

``standin`` points SLACK_API_URL / SLACK_AUTHORIZE_URL at it (through pytest-django's
``settings``, so conf.slack_config() sees the change); ``standin_with_events`` also delivers
Events API callbacks to the live server's /slack/events, signed with SLACK_SIGNING_SECRET.
``elsewhere`` is another host:port for a redirect to name: it records whatever reaches it.
"""

from __future__ import annotations

import socketserver
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from slackstandin import SlackStandIn


def _start(settings: Any, events_url: str | None) -> SlackStandIn:
    standin = SlackStandIn(
        client_id=settings.SLACK_CLIENT_ID,
        client_secret=settings.SLACK_CLIENT_SECRET,
        events_url=events_url,
        signing_secret=settings.SLACK_SIGNING_SECRET,
    ).start()
    settings.SLACK_API_URL = standin.api_url
    settings.SLACK_AUTHORIZE_URL = standin.authorize_url
    return standin


@pytest.fixture
def standin(settings: Any) -> Iterator[SlackStandIn]:
    """A fresh stand-in per test; Django's Slack settings point at it."""
    server = _start(settings, events_url=None)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def standin_with_events(settings: Any, live_server: Any) -> Iterator[SlackStandIn]:
    """Like ``standin``, with events_url = the live server's /slack/events."""
    server = _start(settings, events_url=live_server.url + "/slack/events")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def elsewhere() -> Iterator[tuple[str, list[bytes]]]:
    """(base URL, what arrived): a server on another port that records every connection."""
    received: list[bytes] = []

    class Record(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(1)
            try:
                received.append(self.request.recv(65536))
            except OSError:
                received.append(b"(connected)")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Record)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def is_live(standin: SlackStandIn, token: str) -> bool:
    """Whether the stand-in would still honour ``token`` (not revoked, spent or expired)."""
    info = standin.token_info(token)
    if info is None or info["revoked"] or (info["kind"] == "refresh" and info["used"]):
        return False
    return info["expires_at"] is None or info["expires_at"] > time.time()


def live_and_unkept(standin: SlackStandIn, kept: set[str]) -> list[str]:
    """Kinds of the tokens Slack issued in answers that reached us whole, still live, unstored.

    Answers the client could not read whole (``standin.lost``) are left out: nobody can revoke
    tokens they never received."""
    lost = standin.lost
    left = []
    for body in standin.issued:
        if any(body is gone for gone in lost):
            continue
        user = body.get("authed_user") or {}
        for token in (
            body.get("access_token"),
            body.get("refresh_token"),
            user.get("access_token"),
            user.get("refresh_token"),
        ):
            if token and token not in kept and is_live(standin, token):
                left.append(standin.token_info(token)["kind"])
    return left
