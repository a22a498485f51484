"""The async twins of store.py, for Bolt's AsyncApp. Lookups use Django's async ORM; writes
hold transactions and row locks, which Django runs only in sync code (``sync_to_async``)."""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import sync_to_async
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.installation_store import Installation as SdkInstallation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from installations.bolt.store import (
    DjangoInstallationStore,
    DjangoOAuthStateStore,
    afind_bot_row,
    afind_installation_row,
    bot_from,
    installation_from,
)


class AsyncDjangoInstallationStore(AsyncInstallationStore):
    """``AsyncApp(installation_store=AsyncDjangoInstallationStore())``."""

    def __init__(self, client_id: str | None = None, logger: logging.Logger | None = None) -> None:
        self.sync = DjangoInstallationStore(client_id=client_id, logger=logger)
        self.client_id = self.sync.client_id

    @property
    def logger(self) -> logging.Logger:
        return self.sync.logger

    async def async_save(self, installation: SdkInstallation) -> None:
        await sync_to_async(self.sync.save)(installation)

    async def async_save_bot(self, bot: Bot) -> None:
        await sync_to_async(self.sync.save_bot)(bot)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        key = self.sync._key(enterprise_id, team_id, is_enterprise_install)
        return bot_from(await afind_bot_row(key), key)

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> SdkInstallation | None:
        key = self.sync._key(enterprise_id, team_id, is_enterprise_install)
        return installation_from(await afind_installation_row(key, user_id), key)

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await sync_to_async(self.sync.delete_bot)(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        await sync_to_async(self.sync.delete_installation)(
            enterprise_id=enterprise_id, team_id=team_id, user_id=user_id
        )

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await sync_to_async(self.sync.delete_all)(enterprise_id=enterprise_id, team_id=team_id)


class AsyncDjangoOAuthStateStore(AsyncOAuthStateStore):
    """``AsyncOAuthSettings(state_store=AsyncDjangoOAuthStateStore())``."""

    def __init__(self, expiration_seconds: int = 600, logger: logging.Logger | None = None) -> None:
        self.sync = DjangoOAuthStateStore(expiration_seconds=expiration_seconds, logger=logger)
        self.expiration_seconds = expiration_seconds

    @property
    def logger(self) -> logging.Logger:
        return self.sync.logger

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        return self.sync.issue()  # signing only: no database, nothing to hand to a thread

    async def async_consume(self, state: str) -> bool:
        # one INSERT in a transaction (the savepoint that decides the race): sync code only
        return await sync_to_async(self.sync.consume)(state)
