"""The ``AsyncApp`` twins of bolt/authorize.py, apart so that a sync ``App`` never imports Bolt's
async code (aiohttp comes only with the ``bolt-async`` extra). Same cache, same rotation: the
claim protocol holds transactions and row locks, so it runs in Django's sync thread."""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.installation_store import Installation as SdkInstallation

from installations.bolt.async_store import AsyncDjangoInstallationStore
from installations.extras import needs_extra

with needs_extra("bolt-async"):  # first: without it, name the extra this module needs
    from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
    from slack_bolt.authorization.authorize_result import AuthorizeResult
    from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator

    from installations.bolt.authorize import (
        AUTH_TEST_CACHE_SIZE,
        AuthTestAnswers,
        ClaimingTokenRotator,
        RememberingClient,
        bolt_options,
        remembering,
    )


class AsyncRememberingClient(RememberingClient):
    """``RememberingClient`` awaited by Bolt's async authorize: a miss makes the same checked
    call, in a worker thread."""

    async def auth_test(self, *, token: str, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        known = self.answers.get(token)
        if known is not None:
            return known
        ask = sync_to_async(super().auth_test, thread_sensitive=False)
        return await ask(token=token, **kwargs)


class AsyncClaimingTokenRotator(AsyncTokenRotator):
    """``ClaimingTokenRotator`` for an ``AsyncApp``: the claim protocol holds transactions and
    row locks, so it runs in Django's sync thread."""

    def __init__(self, store: AsyncDjangoInstallationStore) -> None:
        super().__init__(client_id=store.client_id, client_secret="")
        self.sync = ClaimingTokenRotator(store.sync)

    async def perform_bot_token_rotation(
        self, *, bot: Bot, minutes_before_expiration: int = 120
    ) -> Bot | None:
        rotate = sync_to_async(self.sync.perform_bot_token_rotation)
        return await rotate(bot=bot, minutes_before_expiration=minutes_before_expiration)

    async def perform_user_token_rotation(
        self, *, installation: SdkInstallation, minutes_before_expiration: int = 120
    ) -> SdkInstallation | None:
        rotate = sync_to_async(self.sync.perform_user_token_rotation)
        return await rotate(
            installation=installation, minutes_before_expiration=minutes_before_expiration
        )


class AsyncDjangoAuthorize(AsyncInstallationStoreAuthorize):
    """The ``AsyncApp`` twin of DjangoAuthorize, on ``AsyncDjangoInstallationStore``."""

    def __init__(
        self,
        *,
        installation_store: AsyncDjangoInstallationStore,
        token_rotation_minutes: int | None = None,
        cache_size: int = AUTH_TEST_CACHE_SIZE,
        **options: Any,
    ) -> None:
        super().__init__(
            installation_store=installation_store, **bolt_options(token_rotation_minutes, **options)
        )
        self.token_rotator = AsyncClaimingTokenRotator(installation_store)
        self.auth_tests = AuthTestAnswers(cache_size)

    async def __call__(self, *, context: Any, **request: Any) -> AuthorizeResult | None:
        client = AsyncRememberingClient(self.auth_tests)
        return await super().__call__(context=remembering(context, client), **request)
