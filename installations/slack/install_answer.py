"""From a checked ``oauth.v2.access`` answer to slack_sdk's ``Installation``: is it ours, then map.

Types are checked already (``slack.answers``); here: is it an install of *this* app with what we
asked for (docs/security.md), then the mapping as Bolt's ``run_installation`` does it.
"""

from __future__ import annotations

import logging

from django.views.decorators.debug import sensitive_variables
from slack_sdk.oauth.installation_store import Installation as SdkInstallation

from installations.exceptions import UnexpectedAnswer
from installations.slack.answers import AuthedUser, IncomingWebhook, InstallAnswer

logger = logging.getLogger(__name__)


def ensure_answer_is_our_install(
    answer: InstallAnswer, *, wants_bot: bool, known_app_id: str | None
) -> None:
    """Raise UnexpectedAnswer unless ``answer`` is an install of our app, with what we asked
    for (a bot token when we ask for bot scopes, the installer, the team or the org)."""
    user = answer.authed_user or AuthedUser(id=None)
    org_wide = answer.is_enterprise_install
    failed = {
        "app_id": answer.app_id is None or bool(known_app_id and answer.app_id != known_app_id),
        "access_token": wants_bot and answer.access_token is None,
        "token_type": wants_bot and answer.token_type != "bot",  # noqa: S105 (a kind of token)
        "bot_user_id": wants_bot and answer.bot_user_id is None,
        "authed_user.id": user.id is None,
        "authed_user.access_token": not wants_bot and user.access_token is None,
        "enterprise": org_wide and answer.enterprise_id is None,
        "team": not org_wide and answer.team_id is None,
    }
    problems = [field for field, bad in failed.items() if bad]
    if problems:
        logger.warning(
            "unusable oauth.v2.access answer: fields %s", ",".join(sorted(set(problems)))
        )
        raise UnexpectedAnswer()


@sensitive_variables("answer", "user", "webhook")
def sdk_installation_from_answer(
    answer: InstallAnswer, *, bot_id: str | None, enterprise_url: str | None
) -> SdkInstallation:
    """slack_sdk's Installation for an answer that passed ``ensure_answer_is_our_install``."""
    user = answer.authed_user or AuthedUser(id=None)
    webhook = answer.incoming_webhook or IncomingWebhook()
    is_org = answer.is_enterprise_install
    return SdkInstallation(
        app_id=answer.app_id,
        enterprise_id=answer.enterprise_id,
        enterprise_name=answer.enterprise_name,
        enterprise_url=enterprise_url if is_org else None,
        team_id=None if is_org else answer.team_id,
        team_name=None if is_org else answer.team_name,
        bot_token=answer.access_token,
        bot_id=bot_id,
        bot_user_id=answer.bot_user_id,
        bot_scopes=answer.scope,
        bot_refresh_token=answer.refresh_token,
        bot_token_expires_in=answer.expires_in,
        user_id=user.id or "",
        user_token=user.access_token,
        user_scopes=user.scope,
        user_refresh_token=user.refresh_token,
        user_token_expires_in=user.expires_in,
        incoming_webhook_url=webhook.url,
        incoming_webhook_channel=webhook.channel,
        incoming_webhook_channel_id=webhook.channel_id,
        incoming_webhook_configuration_url=webhook.configuration_url,
        is_enterprise_install=is_org,
        token_type=answer.token_type,
    )
