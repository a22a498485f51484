"""Bolt for Python stores over our models: slack_sdk's InstallationStore and OAuthStateStore.

Semantics follow slack_sdk's SQLAlchemy stores (the latest install wins, a user's lookup gets the
target's latest bot merged in, rows are scoped by ``client_id``), except that deletes mark rows
and erase tokens (revocation.py), so the admin keeps the history. A token this process cannot
decrypt makes a lookup raise, never return None.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypedDict, TypeVar

from asgiref.sync import sync_to_async
from django.db import transaction
from django.utils import timezone
from slack_sdk.oauth.installation_store import Bot, InstallationStore
from slack_sdk.oauth.installation_store import Installation as SdkInstallation
from slack_sdk.oauth.state_store import OAuthStateStore

from installations.bolt.latest_sql import bot_row, latest_installation
from installations.conf import slack_config
from installations.encryption.fields import EncryptedDataError
from installations.install import state as oauth_state
from installations.lifecycle import revocation
from installations.lifecycle.saving import Revoked, apply_bot, log_refused, save_installation
from installations.lifecycle.sdk_rows import to_sdk_bot, to_sdk_installation
from installations.models import Installation, Workspace
from installations.slack.sdk_mapping import as_datetime

logger = logging.getLogger(__name__)

ACTOR = "bolt"
T = TypeVar("T")


class TargetKey(TypedDict):
    """The unique key of a Workspace row: ``""`` where Slack sends no id (models.py)."""

    client_id: str
    enterprise_id: str
    team_id: str


def install_target_key(
    client_id: str, enterprise_id: str | None, team_id: str | None, org: bool | None
) -> TargetKey:
    """The unique key of a Workspace row for Bolt's arguments; org-wide installs have team_id
    "" whatever Bolt passes, as in slack_sdk's stores."""
    if org or team_id is None:
        team_id = ""
    return TargetKey(client_id=client_id, enterprise_id=enterprise_id or "", team_id=team_id)


def find_bot_row(key: TargetKey) -> Workspace | None:
    """The target's row (latest_sql.py), or None."""
    return bot_row(**key)


async def afind_bot_row(key: TargetKey) -> Workspace | None:
    return await sync_to_async(bot_row)(**key)


def find_installation_row(key: TargetKey, user_id: str | None) -> Installation | None:
    """The latest live history row with its Workspace (latest_sql.py); rows deleted or revoked
    through this store are skipped, and an uninstalled target has none."""
    return latest_installation(**key, user_id=user_id)


async def afind_installation_row(key: TargetKey, user_id: str | None) -> Installation | None:
    return await sync_to_async(latest_installation)(**key, user_id=user_id)


def opened(convert: Callable[[], T], key: TargetKey, lookup: str) -> T:
    """Run a lookup's conversion (which decrypts); an unreadable token is logged and re-raised,
    never None: Bolt reads None as "not installed" and acks an event that is then lost, while an
    exception fails only this request (so Slack retries)."""
    try:
        return convert()
    except EncryptedDataError as exc:
        logger.error(
            "Bolt %s for team=%s enterprise=%s failed: %s.%s of row %s cannot be read here "
            "(%s; %s); nothing was changed, the request fails until the key is configured",
            lookup,
            key["team_id"] or "-",
            key["enterprise_id"] or "-",
            exc.label,
            exc.field,
            exc.row,
            exc.reason,
            exc.key_problem,
        )
        raise


def installation_from(row: Installation | None, key: TargetKey) -> SdkInstallation | None:
    """slack_sdk's Installation for a found row (decrypting its tokens), or None."""
    if row is None:
        return None
    return opened(lambda: to_sdk_installation(row, row.workspace), key, "find_installation")


def bot_from(row: Workspace | None, key: TargetKey) -> Bot | None:
    """slack_sdk's Bot for a found row (decrypting its tokens), or None."""
    return None if row is None else opened(lambda: to_sdk_bot(row), key, "find_bot")


class DjangoInstallationStore(InstallationStore):
    """slack_sdk's InstallationStore on our encrypted models: ``App(installation_store=...)``."""

    def __init__(self, client_id: str | None = None, logger: logging.Logger | None = None) -> None:
        self.client_id = client_id if client_id is not None else slack_config().client_id
        self._logger = logger or logging.getLogger(__name__)

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    def _key(self, enterprise_id: str | None, team_id: str | None, org: bool | None) -> TargetKey:
        return install_target_key(self.client_id, enterprise_id, team_id, org)

    # --- writes -----------------------------------------------------------------------------
    def save(self, installation: SdkInstallation) -> None:
        """A completed flow, or Bolt's re-save after token rotation (same installed_at)."""
        save_installation(installation, client_id=self.client_id, source="store", actor=ACTOR)

    def save_bot(self, bot: Bot) -> None:
        """Bolt saves a rotated bot this way (bot-only apps): update the target's bot in place;
        a revocation recorded since its install stands (saving.py)."""
        key = self._key(bot.enterprise_id, bot.team_id, bot.is_enterprise_install)
        installed_at = as_datetime(bot.installed_at) or timezone.now()
        with transaction.atomic():
            workspace = Workspace.objects.select_for_update().filter(**key).first()
            revoked = Revoked()
            if workspace is None:  # like slack_sdk: a bot row alone, no installation history
                workspace = Workspace(**key, first_installed_at=installed_at)
                workspace.installed_at = workspace.first_installed_at
            elif installed_at < workspace.installed_at:
                # slack_sdk's stores keep an older bot as a row that never becomes the latest
                self.logger.info("skipped an older bot for team=%s", key["team_id"] or "-")
                return
            elif installed_at == workspace.installed_at:
                revoked = Revoked.bot_of(workspace, installed_at)
            refused = apply_bot(workspace, bot, revoked=revoked)
            if refused:
                log_refused(workspace, installed_at, refused)
                return  # nothing else of the bot changes without its tokens
            workspace.save()

    # --- reads ------------------------------------------------------------------------------
    def find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        key = self._key(enterprise_id, team_id, is_enterprise_install)
        return bot_from(find_bot_row(key), key)

    def find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> SdkInstallation | None:
        key = self._key(enterprise_id, team_id, is_enterprise_install)
        return installation_from(find_installation_row(key, user_id), key)

    # --- deletes: mark rows and erase their tokens; history stays ------------------------------
    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        revocation.mark_bot_revoked(**self._key(enterprise_id, team_id, False), actor=ACTOR)

    def delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        """Erase the users' tokens (revocation.py), then mark their rows deleted: slack_sdk's
        stores drop them, so lookups must skip them even when they held no user token."""
        key = self._key(enterprise_id, team_id, False)
        user_ids = None if user_id is None else [user_id]
        with transaction.atomic():
            revocation.mark_users_revoked(**key, user_ids=user_ids, actor=ACTOR)
            rows = Installation.objects.filter(**key, deleted_at__isnull=True)
            if user_id is not None:
                rows = rows.filter(user_id=user_id)
            rows.update(deleted_at=timezone.now())

    def delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        revocation.mark_uninstalled(**self._key(enterprise_id, team_id, False), actor=ACTOR)


class DjangoOAuthStateStore(OAuthStateStore):
    """slack_sdk's OAuthStateStore: signed, self-expiring, single-use states (install/state.py)
    under a salt of their own; ``issue`` writes nothing, ``consume`` is one INSERT."""

    def __init__(self, expiration_seconds: int = 600, logger: logging.Logger | None = None) -> None:
        self.expiration_seconds = expiration_seconds
        self._logger = logger or logging.getLogger(__name__)

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    def issue(self, *args: Any, **kwargs: Any) -> str:
        """A new state with this store's own lifetime (Bolt passes no arguments)."""
        return oauth_state.issue_state(
            ttl_seconds=self.expiration_seconds, salt=oauth_state.BOLT_SALT
        )

    def consume(self, state: str) -> bool:
        """True once for a state this store issued that has not expired."""
        found = oauth_state.read_state(state, salt=oauth_state.BOLT_SALT)
        if found.check is not oauth_state.StateCheck.LIVE or found.payload is None:
            self.logger.info("OAuth state refused: %s", found.check.value)
            return False
        return oauth_state.consume_state(state, found.payload)
