"""Single-workspace apps: register a bot token obtained from the app's settings page (no OAuth).

``auth.test`` fills in the team, the bot's ids and the granted scopes (docs/slack-protocol.md §5);
a token it does not show to be a bot of this app, in a workspace or org it names, is refused.
"""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.views.decorators.debug import sensitive_variables
from slack_sdk.oauth.installation_store import Installation as SdkInstallation

from installations.conf import slack_config
from installations.exceptions import InvalidInstallRequest, UnexpectedAnswer
from installations.install.flow import known_app_id
from installations.lifecycle.saving import save_installation
from installations.models import Workspace
from installations.slack import api as slack_api
from installations.slack.answers import AuthTestAnswer, auth_test_answer, owner_unsaid

logger = logging.getLogger(__name__)

# Long-lived bot tokens only: a rotating token (xoxe.xoxb-) dies in 12 hours without the refresh
# token that only the OAuth flow hands out.
BOT_TOKEN = re.compile(r"xoxb-[A-Za-z0-9-]+")


BOT_PREFIX = "xoxb-"
# Slack's token prefixes (docs.slack.dev/authentication/tokens), longest first. Only the prefix
# of a refused token is ever named, never the rest of it.
KNOWN_PREFIXES: tuple[tuple[str, str], ...] = (
    ("xoxe.xoxb-", "a rotating bot token"),
    ("xoxe.xoxp-", "a rotating user token"),
    ("xoxe-", "a refresh token"),
    ("xoxb-", "a bot token"),
    ("xoxp-", "a user token"),
    ("xapp-", "an app-level token"),
    ("xoxa-", "a workspace app token"),
    ("xoxs-", "a session token"),
)


def describe_prefix(token: str) -> str:
    """What a refused token looks like, by its prefix alone: safe to print and to log."""
    if token.startswith(BOT_PREFIX):  # the prefix is right, the rest is not token characters
        return f"starts with {BOT_PREFIX} but holds characters a Slack token never has"
    for prefix, kind in KNOWN_PREFIXES:
        if token.startswith(prefix):
            return f"starts with {prefix} ({kind})"
    return "does not start with any Slack token prefix"


def missing_settings() -> list[str]:
    """The settings a registration needs that are unset, by name."""
    missing = [] if slack_config().client_id else ["SLACK_CLIENT_ID"]
    if not getattr(settings, "TOKEN_ENCRYPTION_KEYS", ""):
        missing.append("TOKEN_ENCRYPTION_KEYS")
    return missing


class TokenRejected(InvalidInstallRequest):
    reason = "token_rejected"
    title = "This token cannot be registered"


def ensure_our_bot(answer: AuthTestAnswer, *, ours: str | None) -> None:
    """Refuse, in one line, a token auth.test does not show to be a bot in a named workspace or
    org, or shows to be another app's than ``ours`` (the flow's checks on oauth.v2.access). Slack's
    own example answer for a bot token has no ``app_id``: then there is nothing to compare."""
    if not answer.bot_id:
        raise TokenRejected("Slack says this token does not belong to a bot.")
    unsaid = owner_unsaid(answer, org_wide=answer.is_enterprise_install)
    if unsaid:
        logger.warning("unusable auth.test answer for a manual token: fields %s", ",".join(unsaid))
        raise UnexpectedAnswer(
            f"Slack's answer about this token leaves out {', '.join(unsaid)}, so whose token "
            "it is cannot be told. Nothing was saved."
        )
    if ours and answer.app_id and answer.app_id != ours:
        raise TokenRejected(
            f"This is a token of another Slack app ({answer.app_id}), not of this one "
            f"({ours}). Nothing was saved. Copy the Bot User OAuth Token from this "
            "app's OAuth & Permissions page."
        )


@sensitive_variables("token", "answer", "response")
def register_bot_token(token: str, *, actor: str) -> Workspace:
    """auth.test the token, then save it as a manual installation of its workspace."""
    config = slack_config()
    missing = missing_settings()
    if missing:
        raise TokenRejected(
            f"Not configured: set {', '.join(missing)} first (every installation is stored "
            "under the app's client id, every token encrypted with the configured keys)."
        )
    token = token.strip()
    if not BOT_TOKEN.fullmatch(token):
        raise TokenRejected(
            f"That is not a bot token: expected one that starts with {BOT_PREFIX}; this one "
            f"{describe_prefix(token)}. Copy the Bot User OAuth Token from the app's OAuth & "
            "Permissions page. Rotating tokens (xoxe.xoxb-) need the Add to Slack flow, which "
            "also stores their refresh token."
        )
    response = slack_api.auth_test(token)
    answer = auth_test_answer(response.data)
    ours = known_app_id()
    ensure_our_bot(answer, ours=ours)
    is_org = answer.is_enterprise_install
    scopes = slack_api.granted_scopes(response)
    installation = SdkInstallation(
        app_id=answer.app_id or ours,
        enterprise_id=answer.enterprise_id,
        enterprise_url=answer.url if is_org else None,
        team_id=None if is_org else answer.team_id,
        team_name=None if is_org else answer.team,
        enterprise_name=answer.team if is_org else None,
        bot_token=token,
        bot_id=answer.bot_id,
        bot_user_id=answer.user_id,
        bot_scopes=",".join(scopes or ()),
        user_id="",
        is_enterprise_install=is_org,
        token_type="bot",  # noqa: S106 (a token kind, not a secret)
    )
    workspace, _ = save_installation(
        installation, client_id=config.client_id, source="manual", actor=actor
    )
    return workspace
