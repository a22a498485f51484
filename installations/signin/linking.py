"""A Slack identity waiting, in the server-side session, to be linked to the person signed in.

Linking waits for that person's confirmation on a page of its own, so a sign-in started by
someone else on a shared browser, or a login CSRF, links nothing by itself.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from installations.conf import slack_config
from installations.signin.id_token import SlackUser

SESSION_KEY = "slack_signin_pending_link"
FIELDS = {field.name: field.type for field in dataclasses.fields(SlackUser)}


@dataclass(frozen=True)
class PendingLink:
    slack_user: SlackUser
    next_url: str


def remember(request: HttpRequest, slack_user: SlackUser, next_url: str) -> None:
    request.session[SESSION_KEY] = {
        "user": str(request.user.pk),
        "until": time.time() + slack_config().state_ttl_seconds,
        "identity": dataclasses.asdict(slack_user),
        "next": next_url,
    }


def pending(request: HttpRequest) -> PendingLink | None:
    """The identity waiting for this signed-in user, or None (none, expired, someone else's)."""
    stored: Any = request.session.get(SESSION_KEY)
    if not isinstance(stored, dict) or stored.get("user") != str(request.user.pk):
        return None
    until, identity, next_url = stored.get("until"), stored.get("identity"), stored.get("next")
    if not isinstance(until, float) or not until >= time.time() or not isinstance(next_url, str):
        return None
    slack_user = _slack_user(identity)
    return None if slack_user is None else PendingLink(slack_user, next_url)


def _slack_user(identity: object) -> SlackUser | None:
    if not isinstance(identity, dict) or set(identity) != set(FIELDS):
        return None
    for name, kind in FIELDS.items():
        if not isinstance(identity[name], bool if kind == "bool" else str):
            return None
    return SlackUser(**identity)


def forget(request: HttpRequest) -> None:
    request.session.pop(SESSION_KEY, None)
