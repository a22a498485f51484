"""Deliver Events API callbacks the way Slack does: an event_callback envelope, signed.

docs.slack.dev/authentication/verifying-requests-from-slack: ``X-Slack-Signature`` is
``v0=hex(HMAC-SHA256(signing_secret, "v0:{ts}:{body}"))`` over the raw body; slack_sdk's
SignatureVerifier computes it. Retries carry ``X-Slack-Retry-Num`` / ``X-Slack-Retry-Reason``.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

from slack_sdk.signature import SignatureVerifier

from .state import APP_ID, INSTALLER_USER_ID, new_hex


def envelope(
    event: dict[str, Any],
    *,
    team_id: str | None,
    enterprise_id: str | None,
    is_enterprise_install: bool,
    event_id: str | None,
    event_time: int | None,
) -> dict[str, Any]:
    """The event_callback wrapper (docs/slack-protocol.md §6, app_uninstalled example)."""
    return {
        "token": new_hex(12),  # the deprecated verification token: random, never checked
        "team_id": team_id,
        "enterprise_id": enterprise_id,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "authorizations": [
            {
                "enterprise_id": enterprise_id,
                "team_id": team_id,
                "user_id": INSTALLER_USER_ID,
                "is_bot": False,
                "is_enterprise_install": is_enterprise_install,
            }
        ],
        "is_ext_shared_channel": False,
        "event_id": event_id or f"Ev{new_hex(5).upper()}",
        "event_time": event_time if event_time is not None else int(time.time()),
    }


def url_verification(challenge: str) -> dict[str, Any]:
    """What Slack posts when the Request URL is set (docs.slack.dev/reference/events/
    url_verification): no envelope, no event; the app echoes ``challenge``."""
    return {"token": new_hex(12), "challenge": challenge, "type": "url_verification"}


def signed_headers(
    body: bytes, signing_secret: str, timestamp: int | None = None
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(signing_secret).generate_signature(timestamp=ts, body=body)
    return {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature or "",
    }


def post(url: str, body: bytes, headers: dict[str, str], timeout: float = 10.0) -> tuple[int, str]:
    """POST and return (status, body text); HTTP errors are answers too, not exceptions."""
    if not url.startswith(("http://", "https://")):
        raise ValueError("events_url must be an http(s) URL")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def deliver(
    payload: dict[str, Any],
    *,
    events_url: str,
    signing_secret: str,
    retry_num: int | None = None,
    timestamp: int | None = None,
) -> tuple[int, str]:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = signed_headers(body, signing_secret, timestamp)
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return post(events_url, body, headers)
