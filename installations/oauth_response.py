"""From an ``oauth.v2.access`` answer to slack_sdk's ``Installation``: check it, then map it.

The mapping is Bolt's ``run_installation`` (slack-facts §10): the bot token at the top level, the
installer's token under ``authed_user``, ``team`` null for org-wide installs (§2b), the webhook
under ``incoming_webhook`` (§2d), refresh tokens and ``expires_in`` with rotation (§2e). The
answer has no ``bot_id``; it comes from ``auth.test`` with the new bot token, as does the org url.
Errors name fields only, never values.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.views.decorators.debug import sensitive_variables
from slack_sdk.oauth.installation_store import Installation as SdkInstallation

from .errors import UnexpectedResponse

logger = logging.getLogger(__name__)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def issued_tokens(body: Mapping[str, Any]) -> list[str]:
    """Every credential an answer carries, for revoking them when we cannot keep them.

    Refresh tokens come first: with rotation, auth.revoke on an access token withdraws only that
    token (slack-facts §5), so each one is revoked on its own.
    """
    user = _dict(body.get("authed_user"))
    values = [
        body.get("refresh_token"),
        user.get("refresh_token"),
        body.get("access_token"),
        user.get("access_token"),
    ]
    return [v for v in values if isinstance(v, str) and v]


def check_answer(body: Mapping[str, Any], *, wants_bot: bool, known_app_id: str | None) -> None:
    """Raise UnexpectedResponse unless ``body`` is an install of our app (checklist test 8)."""
    problems: list[str] = []
    app_id = _str(body.get("app_id"))
    if app_id is None:
        problems.append("app_id")
    elif known_app_id and app_id != known_app_id:
        problems.append("app_id")
    if wants_bot:
        if _str(body.get("access_token")) is None:
            problems.append("access_token")
        if body.get("token_type") != "bot":
            problems.append("token_type")
        if _str(body.get("bot_user_id")) is None:
            problems.append("bot_user_id")
    user = _dict(body.get("authed_user"))
    if _str(user.get("id")) is None:
        problems.append("authed_user.id")
    if not wants_bot and _str(user.get("access_token")) is None:
        problems.append("authed_user.access_token")
    team_id = _str(_dict(body.get("team")).get("id"))
    enterprise_id = _str(_dict(body.get("enterprise")).get("id"))
    if body.get("is_enterprise_install") is True:
        if enterprise_id is None:
            problems.append("enterprise")
    elif team_id is None:
        problems.append("team")
    if problems:
        logger.warning("unexpected oauth response: fields %s", ",".join(sorted(set(problems))))
        raise UnexpectedResponse()


@sensitive_variables("body", "user", "webhook")
def to_installation(
    body: Mapping[str, Any], *, bot_id: str | None, enterprise_url: str | None
) -> SdkInstallation:
    """slack_sdk's Installation for a checked answer; granted scopes are what Slack returned."""
    user = _dict(body.get("authed_user"))
    webhook = _dict(body.get("incoming_webhook"))
    team = _dict(body.get("team"))
    enterprise = _dict(body.get("enterprise"))
    is_org = body.get("is_enterprise_install") is True
    return SdkInstallation(
        app_id=_str(body.get("app_id")),
        enterprise_id=_str(enterprise.get("id")),
        enterprise_name=_str(enterprise.get("name")),
        enterprise_url=enterprise_url if is_org else None,
        team_id=None if is_org else _str(team.get("id")),
        team_name=None if is_org else _str(team.get("name")),
        bot_token=_str(body.get("access_token")),
        bot_id=bot_id,
        bot_user_id=_str(body.get("bot_user_id")),
        bot_scopes=_str(body.get("scope")) or "",
        bot_refresh_token=_str(body.get("refresh_token")),
        bot_token_expires_in=_int(body.get("expires_in")),
        user_id=_str(user.get("id")) or "",
        user_token=_str(user.get("access_token")),
        user_scopes=_str(user.get("scope")) or "",
        user_refresh_token=_str(user.get("refresh_token")),
        user_token_expires_in=_int(user.get("expires_in")),
        incoming_webhook_url=_str(webhook.get("url")),
        incoming_webhook_channel=_str(webhook.get("channel")),
        incoming_webhook_channel_id=_str(webhook.get("channel_id")),
        incoming_webhook_configuration_url=_str(webhook.get("configuration_url")),
        is_enterprise_install=is_org,
        token_type=_str(body.get("token_type")),
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
