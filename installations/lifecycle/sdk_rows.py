"""Our rows as slack_sdk's data carriers (Installation, Bot), for the Bolt stores and rotation."""

from __future__ import annotations

from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.installation_store import Installation as SdkInstallation

from installations.models import Installation, Workspace
from installations.slack.sdk_mapping import as_unix

# The Workspace columns slack_sdk's Bot is made of (to_sdk_bot): a lookup loads nothing else.
BOT_FIELDS = (
    "id", "app_id", "enterprise_id", "enterprise_name", "enterprise_url", "team_id",
    "team_name", "is_enterprise_install", "bot_token", "bot_id", "bot_user_id", "bot_scopes",
    "bot_refresh_token", "bot_token_expires_at", "installed_at", "uninstalled_at",
    "bot_revoked_at",
)  # fmt: skip
# The Installation columns to_sdk_user_installation reads: a refresh claim loads nothing else.
USER_FIELDS = (
    "id", "app_id", "enterprise_id", "team_id", "is_enterprise_install", "user_id",
    "user_token", "user_scopes", "user_refresh_token", "user_token_expires_at", "installed_at",
)  # fmt: skip


def to_sdk_bot(workspace: Workspace) -> Bot | None:
    """The workspace's current bot as slack_sdk's Bot, or None (checked by the marks first,
    without decrypting) when it has no live bot token."""
    if workspace.uninstalled_at or workspace.bot_revoked_at or workspace.bot_token is None:
        return None
    return Bot(
        app_id=workspace.app_id or None,
        enterprise_id=workspace.enterprise_id or None,
        enterprise_name=workspace.enterprise_name or None,
        team_id=workspace.team_id or None,
        team_name=workspace.team_name or None,
        bot_token=workspace.bot_token,
        bot_id=workspace.bot_id,
        bot_user_id=workspace.bot_user_id,
        bot_scopes=workspace.bot_scopes,
        bot_refresh_token=workspace.bot_refresh_token,
        bot_token_expires_at=as_unix(workspace.bot_token_expires_at),
        is_enterprise_install=workspace.is_enterprise_install,
        installed_at=workspace.installed_at.timestamp(),
    )


def to_sdk_installation(row: Installation, workspace: Workspace) -> SdkInstallation:
    """A history row with the workspace's current bot merged in (as slack_sdk's stores do)."""
    bot = to_sdk_bot(workspace)
    user_alive = row.user_token_revoked_at is None and row.deleted_at is None
    return SdkInstallation(
        app_id=row.app_id or None,
        enterprise_id=row.enterprise_id or None,
        enterprise_name=row.enterprise_name or None,
        enterprise_url=row.enterprise_url or workspace.enterprise_url or None,
        team_id=row.team_id or None,
        team_name=row.team_name or None,
        bot_token=bot.bot_token if bot else None,
        bot_id=bot.bot_id if bot else None,
        bot_user_id=bot.bot_user_id if bot else None,
        bot_scopes=bot.bot_scopes if bot else row.bot_scopes,
        bot_refresh_token=bot.bot_refresh_token if bot else None,
        bot_token_expires_at=bot.bot_token_expires_at if bot else None,
        user_id=row.user_id,
        user_token=row.user_token if user_alive else None,
        user_scopes=row.user_scopes,
        user_refresh_token=row.user_refresh_token if user_alive else None,
        user_token_expires_at=as_unix(row.user_token_expires_at),
        incoming_webhook_url=row.incoming_webhook_url,
        incoming_webhook_channel=row.incoming_webhook_channel or None,
        incoming_webhook_channel_id=row.incoming_webhook_channel_id or None,
        incoming_webhook_configuration_url=row.incoming_webhook_configuration_url or None,
        is_enterprise_install=row.is_enterprise_install,
        token_type=row.token_type or None,
        installed_at=row.installed_at.timestamp(),
        custom_values=row.custom_values or None,
    )


def to_sdk_user_installation(row: Installation) -> SdkInstallation:
    """A history row's user token as slack_sdk's Installation, what its TokenRotator reads (no
    bot merged in: a user token's refresh needs none)."""
    return SdkInstallation(
        app_id=row.app_id or None,
        enterprise_id=row.enterprise_id or None,
        team_id=row.team_id or None,
        is_enterprise_install=row.is_enterprise_install,
        user_id=row.user_id,
        user_token=row.user_token,
        user_scopes=row.user_scopes,
        user_refresh_token=row.user_refresh_token,
        user_token_expires_at=as_unix(row.user_token_expires_at),
        installed_at=row.installed_at.timestamp(),
    )
