"""What the local Slack stand-in knows about the tokens it issued: live or not, kept or not.

The stand-in's fixtures (``standin``, ``standin_with_events``) are in tests/conftest.py.
"""

from __future__ import annotations

import time
from typing import Any

from slackstandin import SlackStandIn


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
                left.append(known_token(standin, token)["kind"])
    return left


def known_token(standin: SlackStandIn, token: str) -> dict[str, Any]:
    """What the stand-in records about ``token``, which it must have issued."""
    info = standin.token_info(token)
    assert info is not None, "the stand-in never issued this token"
    return info
