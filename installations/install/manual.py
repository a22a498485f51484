"""Single-workspace apps: register a bot token obtained from the app's settings page (no OAuth).

docs.slack.dev/authentication/tokens ("Installing to your own workspace"): the app's own
workspace can be given a bot token without the OAuth flow. ``auth.test`` fills in the team, the
bot's ids and, from the ``x-oauth-scopes`` header, the granted scopes (docs/slack-protocol.md §5).
"""

from __future__ import annotations

import logging
import re

from django.views.decorators.debug import sensitive_variables
from slack_sdk.oauth.installation_store import Installation as SdkInstallation

from installations.conf import slack_config
from installations.exceptions import BadRequest
from installations.lifecycle.saving import save_installation
from installations.models import Workspace
from installations.slack import api as slack_api

logger = logging.getLogger(__name__)

# Long-lived bot tokens only: a rotating token (xoxe.xoxb-) dies in 12 hours without the refresh
# token that only the OAuth flow hands out.
BOT_TOKEN = re.compile(r"xoxb-[A-Za-z0-9-]+")


class TokenRejected(BadRequest):
    reason = "token_rejected"
    title = "This token cannot be registered"


@sensitive_variables("token", "answer")
def register_bot_token(token: str, *, actor: str) -> Workspace:
    """auth.test the token, then save it as a manual installation of its workspace."""
    config = slack_config()
    if not config.client_id:
        raise TokenRejected("SLACK_CLIENT_ID is not set; installations are stored under it.")
    token = token.strip()
    if not BOT_TOKEN.fullmatch(token):
        raise TokenRejected(
            "That is not a bot token (it starts with xoxb-). Rotating tokens need the "
            "Add to Slack flow, which also stores their refresh token."
        )
    answer = slack_api.auth_test(token)
    if not answer.get("bot_id"):
        raise TokenRejected("Slack says this token does not belong to a bot.")
    is_org = answer.get("is_enterprise_install") is True
    scopes = slack_api.granted_scopes(answer)
    installation = SdkInstallation(
        app_id=answer.get("app_id"),
        enterprise_id=answer.get("enterprise_id") or None,
        enterprise_url=answer.get("url") if is_org else None,
        team_id=None if is_org else answer.get("team_id"),
        team_name=None if is_org else answer.get("team"),
        enterprise_name=answer.get("team") if is_org else None,
        bot_token=token,
        bot_id=answer.get("bot_id"),
        bot_user_id=answer.get("user_id"),
        bot_scopes=",".join(scopes or ()),
        user_id="",
        is_enterprise_install=is_org,
        token_type="bot",  # noqa: S106 (a token kind, not a secret)
    )
    workspace, _ = save_installation(
        installation, client_id=config.client_id, source="manual", actor=actor
    )
    return workspace
