"""Bolt's ``authorize`` from the identity we stored at install, without an ``auth.test`` per event.

Bolt's default (``InstallationStoreAuthorize``) finds the installation in the store and then calls
``auth.test`` with its token on every request, to learn what the install already told us: the
bot id and bot user id, the team and enterprise ids, the team's name (docs.slack.dev/reference/
methods/auth.test). That call was a third of the work of an event. ``DjangoAuthorize`` (and
``AsyncDjangoAuthorize`` for an ``AsyncApp``) makes the same store lookups as Bolt's, chooses the
same tokens by the same rules (the latest install's bot; the user token only when the event's user
installed, or has an installation of their own; a bot-only lookup when ``bot_only``), and builds
Bolt's ``AuthorizeResult`` from the stored fields. tests/bolt/test_authorize.py compares the two
field for field against the local Slack stand-in.

Fields Bolt fills from ``auth.test`` that we do not store are None: ``user`` (the display name of
the token's user) always, and ``url`` for a workspace install (we keep the org's URL, for org-wide
installs). For an org-wide install ``team_id`` and ``team`` are the org's, as ``auth.test`` with
an org token answers them.

What we give up, and why it is safe: ``auth.test`` also confirmed, per event, that the token is
still alive. Our record is kept current without it: ``tokens_revoked`` and ``app_uninstalled``
mark rows and erase tokens as Slack sends them (lifecycle/slack_events.py, registered on every
app ``load_app`` serves), ``slack_verify`` tests every token on a schedule, and a token revoked
in between makes the listener's own call fail with ``token_revoked`` (the event is handled by no
one either way: Bolt would have answered "please reinstall").

Why not Bolt's own ``cache_enabled``: it keeps every AuthorizeResult, plaintext tokens included,
in process memory without bound (one entry per token ever seen), and keeps serving a user token
after it was rotated or revoked, since it is keyed by the bot token. Here every request reads the
store (one indexed query, precompiled: compiled_lookup.py), so a rotation or revocation is seen
by the next event, and nothing outlives the request.

Token rotation: a bot or user token that expires within ``SLACK_TOKEN_ROTATION_MINUTES`` is
refreshed through lifecycle/rotation.py (``refresh_for_request``), the claim protocol of the
scheduled job, not Bolt's TokenRotator and ``store.save``: a refresh token is spent once however
many events and processes race for it. A request that loses the race keeps the token as it
stands while it is still valid, or waits (briefly) for the winner's new one. A token that could
not be refreshed and has expired: Slack refused its refresh token (a reinstall is needed) is
"not installed", as Bolt answers; anything else fails the request (HTTP 500: Slack retries).

A stored token this process cannot decrypt raises, as the store does (the request fails with a
500 and Slack retries), never "not installed". No token is ever logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypedDict

from asgiref.sync import sync_to_async
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.installation_store import Installation as SdkInstallation

from installations.bolt.async_store import AsyncDjangoInstallationStore
from installations.bolt.store import ACTOR, DjangoInstallationStore, TargetKey, install_target_key
from installations.conf import slack_config
from installations.exceptions import SlackInstallError
from installations.extras import needs_extra
from installations.lifecycle import rotation

with needs_extra("bolt"):
    from slack_bolt.authorization.async_authorize import AsyncAuthorize
    from slack_bolt.authorization.authorize import Authorize
    from slack_bolt.authorization.authorize_result import AuthorizeResult

logger = logging.getLogger(__name__)

# How long a request waits for another process's refresh of a token that has already expired
# (Slack wants an answer to an event within 3 seconds).
REFRESH_WAIT_SECONDS = 2.0
REFRESH_POLL_SECONDS = 0.05
# Bolt's default user-token resolution: the event's user (its other mode: "actor").
AUTHED_USER = "authed_user"


class TokenNotRefreshed(SlackInstallError):
    """An expired token could not be refreshed for now (Slack unreachable, rate limited, or
    another process still at it): this request fails and Slack retries it later."""

    reason = "token_not_refreshed"
    status = 503
    message = "An expired token could not be refreshed yet; Slack will retry the request."


@dataclass(frozen=True)
class Lookup:
    """The arguments Bolt's authorize receives, as one value both twins pass around."""

    enterprise_id: str | None
    team_id: str | None
    user_id: str | None
    is_enterprise_install: bool | None
    actor_enterprise_id: str | None = None
    actor_team_id: str | None = None
    actor_user_id: str | None = None


class Target(TypedDict):
    """The install target a lookup asks the store for (Bolt's arguments)."""

    enterprise_id: str | None
    team_id: str | None
    is_enterprise_install: bool | None


class UserTarget(Target):
    user_id: str | None


def target_of(lookup: Lookup) -> Target:
    return Target(
        enterprise_id=lookup.enterprise_id,
        team_id=lookup.team_id,
        is_enterprise_install=lookup.is_enterprise_install,
    )


@dataclass(frozen=True)
class Found:
    """What the store answered: the target's latest installation, the event user's own one
    (when the installer is someone else), and the target's bot (Bolt's fallback lookup)."""

    latest: SdkInstallation | None = None
    this_user: SdkInstallation | None = None
    bot: Bot | None = None


@dataclass(frozen=True)
class Choice:
    """The tokens Bolt's rules pick, and whose installation each came from."""

    bot_token: str | None = None
    bot_scopes: Any = None
    bot_from: SdkInstallation | Bot | None = None
    user_token: str | None = None
    user_scopes: Any = None
    user_from: SdkInstallation | None = None


def user_lookup(latest: SdkInstallation, lookup: Lookup, resolution: str) -> UserTarget | None:
    """The arguments of the event user's own ``find_installation``, as Bolt asks it: None when
    the latest installer is that user (or, with actor resolution, no actor is known)."""
    if latest.user_id == lookup.user_id:
        return None
    if resolution == "actor":
        if lookup.actor_enterprise_id is None and lookup.actor_team_id is None:
            return None
        return UserTarget(
            enterprise_id=lookup.actor_enterprise_id,
            team_id=lookup.actor_team_id,
            is_enterprise_install=None,
            user_id=lookup.actor_user_id,
        )
    return UserTarget(**target_of(lookup), user_id=lookup.user_id)


def choose(found: Found, user_id: str | None) -> Choice:
    """Bolt's choice of tokens (InstallationStoreAuthorize.__call__), from the store's answers."""
    latest, mine = found.latest, found.this_user
    choice = Choice()
    if latest is not None:
        choice = Choice(
            bot_token=latest.bot_token,
            bot_scopes=latest.bot_scopes,
            bot_from=latest,
            user_token=latest.user_token,
            user_scopes=latest.user_scopes,
            user_from=latest,
        )
        if latest.user_id != user_id:  # the installer is someone else: not their user token
            choice = Choice(choice.bot_token, choice.bot_scopes, latest)
            if mine is not None:
                same_target = (latest.enterprise_id, latest.team_id) == (
                    mine.enterprise_id,
                    mine.team_id,
                )
                takes_bot = latest.bot_token is None and same_target
                choice = Choice(
                    bot_token=mine.bot_token if takes_bot else choice.bot_token,
                    bot_scopes=mine.bot_scopes if takes_bot else choice.bot_scopes,
                    bot_from=mine if takes_bot else latest,
                    user_token=mine.user_token,
                    user_scopes=mine.user_scopes,
                    user_from=mine,
                )
    if found.bot is not None and choice.bot_token is None and choice.user_token is None:
        bot = found.bot
        choice = Choice(bot.bot_token, bot.bot_scopes, bot, None, choice.user_scopes, None)
    return choice


def needs_bot_lookup(found: Found, user_id: str | None) -> bool:
    """Bolt asks ``find_bot`` when the installation lookups gave it no token at all."""
    choice = choose(found, user_id)
    return choice.bot_token is None and choice.user_token is None


def _identity(source: SdkInstallation | Bot) -> dict[str, str | None]:
    """What ``auth.test`` with a token of this install answers about the team: an org-wide
    token speaks for the org (its id, name and URL); a workspace's URL is not stored."""
    if source.is_enterprise_install:
        return {
            "enterprise_id": source.enterprise_id,
            "team_id": source.enterprise_id,
            "team": source.enterprise_name,
            "url": getattr(source, "enterprise_url", None),
        }
    return {
        "enterprise_id": source.enterprise_id,
        "team_id": source.team_id,
        "team": source.team_name,
        "url": None,
    }


def result_of(choice: Choice) -> AuthorizeResult | None:
    """Bolt's AuthorizeResult for the chosen tokens (``from_auth_test_response``, with the
    stored identity in place of the answers); None when there is no token: "not installed"."""
    if choice.bot_token is not None and choice.bot_from is not None:
        source: SdkInstallation | Bot = choice.bot_from
        bot_id, bot_user_id = source.bot_id or None, source.bot_user_id or None
        owner = choice.user_from.user_id if choice.user_token and choice.user_from else None
    elif choice.user_token is not None and choice.user_from is not None:
        source, bot_id, bot_user_id = choice.user_from, None, None
        owner = choice.user_from.user_id
    else:
        return None
    return AuthorizeResult(
        **_identity(source),
        bot_id=bot_id,
        bot_user_id=bot_user_id,
        bot_token=choice.bot_token,
        bot_scopes=choice.bot_scopes,
        user_id=owner or None,
        user=None,  # the token user's display name: auth.test's, never stored
        user_token=choice.user_token,
        user_scopes=choice.user_scopes,
    )


# --- token rotation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refresh:
    """One ``rotation.refresh_for_request`` call: which install target, which tokens."""

    key: TargetKey
    user_id: str | None
    bot: bool


def _expires_within(expires_at: Any, seconds: float) -> bool:
    return expires_at is not None and float(expires_at) <= time.time() + seconds


def refreshes_due(choice: Choice, minutes: int, client_id: str) -> list[Refresh]:
    """The refreshes the chosen tokens need: a rotating token expiring within ``minutes``."""
    due: dict[tuple[str, str], Refresh] = {}
    window = minutes * 60

    def add(source: SdkInstallation | Bot, *, bot: bool, user_id: str | None = None) -> None:
        key = install_target_key(
            client_id, source.enterprise_id, source.team_id, source.is_enterprise_install
        )
        marker = (key["enterprise_id"], key["team_id"])
        before = due.get(marker, Refresh(key, None, False))
        due[marker] = Refresh(key, user_id or before.user_id, bot or before.bot)

    bot_from = choice.bot_from
    if (
        choice.bot_token is not None
        and bot_from is not None
        and bot_from.bot_refresh_token is not None
        and _expires_within(bot_from.bot_token_expires_at, window)
    ):
        add(bot_from, bot=True)
    user_from = choice.user_from
    if (
        choice.user_token is not None
        and user_from is not None
        and user_from.user_refresh_token is not None
        and _expires_within(user_from.user_token_expires_at, window)
    ):
        add(user_from, bot=False, user_id=user_from.user_id)
    return list(due.values())


def expired(choice: Choice) -> bool:
    """Whether a chosen token is already past its expiry (unusable until refreshed)."""
    bot, user = choice.bot_from, choice.user_from
    return (choice.bot_token is not None and bot is not None and _expires_within(
        bot.bot_token_expires_at, 0
    )) or (choice.user_token is not None and user is not None and _expires_within(
        user.user_token_expires_at, 0
    ))  # fmt: skip


def _outcomes(done: list[rotation.RequestRefresh]) -> list[rotation.TokenResult]:
    return [r for refresh in done for r in (refresh.bot, refresh.user) if r is not None]


def after_refresh(choice: Choice, done: list[rotation.RequestRefresh]) -> AuthorizeResult | None:
    """The result once the refreshes ran and the store was read again (``choice``), when no
    other process is still refreshing: an expired token that Slack refused to refresh (or that
    already needed a reinstall) is Bolt's "not installed"; one that failed for a passing reason
    fails the request, so Slack retries it."""
    if not expired(choice):
        return result_of(choice)
    failures = [r for r in _outcomes(done) if isinstance(r, rotation.RefreshFailed)]
    passing = [f.code for f in failures if f.code not in rotation.REINSTALL_CODES]
    if passing:
        raise TokenNotRefreshed()
    logger.warning(
        "an expired token of team=%s could not be refreshed (reinstall needed): not authorized",
        _team_label(choice),
    )
    return None


def another_is_refreshing(done: list[rotation.RequestRefresh]) -> bool:
    return rotation.TokenRefresh.SKIPPED in _outcomes(done)


def _team_label(choice: Choice) -> str:
    source = choice.bot_from or choice.user_from
    return (source.team_id or source.enterprise_id or "-") if source is not None else "-"


# --- the two twins -------------------------------------------------------------------------------


class DjangoAuthorize(Authorize):
    """``App(authorize=DjangoAuthorize(installation_store=store))``: Bolt's authorize from our
    stored identity (module docstring). ``new_bolt_app()`` uses it unless given ``authorize=``."""

    def __init__(
        self,
        *,
        installation_store: DjangoInstallationStore,
        token_rotation_minutes: int | None = None,
        bot_only: bool = False,
        user_token_resolution: str = AUTHED_USER,
    ) -> None:
        self.installation_store = installation_store
        self.token_rotation_minutes = (
            slack_config().token_rotation_minutes
            if token_rotation_minutes is None
            else token_rotation_minutes
        )
        self.bot_only = bot_only
        self.user_token_resolution = user_token_resolution

    def __call__(
        self,
        *,
        context: Any,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        lookup = Lookup(
            enterprise_id, team_id, user_id, context.is_enterprise_install,
            actor_enterprise_id, actor_team_id, actor_user_id,
        )  # fmt: skip
        choice = choose(self.find(lookup), user_id)
        due = refreshes_due(choice, self.token_rotation_minutes, self.installation_store.client_id)
        if not due:
            return result_of(choice)
        done = [self.refresh(refresh) for refresh in due]
        choice = choose(self.find(lookup), user_id)
        deadline = time.monotonic() + REFRESH_WAIT_SECONDS
        while expired(choice) and another_is_refreshing(done):
            if time.monotonic() >= deadline:
                raise TokenNotRefreshed()
            time.sleep(REFRESH_POLL_SECONDS)
            choice = choose(self.find(lookup), user_id)
        return after_refresh(choice, done)

    def refresh(self, refresh: Refresh) -> rotation.RequestRefresh:
        return rotation.refresh_for_request(
            client_id=refresh.key["client_id"],
            enterprise_id=refresh.key["enterprise_id"],
            team_id=refresh.key["team_id"],
            user_id=refresh.user_id,
            bot=refresh.bot,
            minutes=self.token_rotation_minutes,
            actor=ACTOR,
        )

    def find(self, lookup: Lookup) -> Found:
        """The store lookups Bolt's authorize makes, in its order."""
        store = self.installation_store
        target = target_of(lookup)
        if self.bot_only:
            return Found(bot=store.find_bot(**target))
        latest = store.find_installation(**target)
        mine = None
        if latest is not None:
            args = user_lookup(latest, lookup, self.user_token_resolution)
            mine = store.find_installation(**args) if args is not None else None
        found = Found(latest, mine)
        if needs_bot_lookup(found, lookup.user_id):
            found = Found(latest, mine, store.find_bot(**target))
        return found


class AsyncDjangoAuthorize(AsyncAuthorize):
    """The ``AsyncApp`` twin of DjangoAuthorize, on ``AsyncDjangoInstallationStore``."""

    def __init__(
        self,
        *,
        installation_store: AsyncDjangoInstallationStore,
        token_rotation_minutes: int | None = None,
        bot_only: bool = False,
        user_token_resolution: str = AUTHED_USER,
    ) -> None:
        self.installation_store = installation_store
        self.sync = DjangoAuthorize(
            installation_store=installation_store.sync,
            token_rotation_minutes=token_rotation_minutes,
            bot_only=bot_only,
            user_token_resolution=user_token_resolution,
        )

    async def __call__(
        self,
        *,
        context: Any,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult | None:
        lookup = Lookup(
            enterprise_id, team_id, user_id, context.is_enterprise_install,
            actor_enterprise_id, actor_team_id, actor_user_id,
        )  # fmt: skip
        minutes = self.sync.token_rotation_minutes
        choice = choose(await self.find(lookup), user_id)
        due = refreshes_due(choice, minutes, self.installation_store.client_id)
        if not due:
            return result_of(choice)
        # the claim protocol holds transactions and row locks: sync code, in Django's thread
        refresh: Callable[[Refresh], rotation.RequestRefresh] = self.sync.refresh
        done = [await sync_to_async(refresh)(each) for each in due]
        choice = choose(await self.find(lookup), user_id)
        deadline = time.monotonic() + REFRESH_WAIT_SECONDS
        while expired(choice) and another_is_refreshing(done):
            if time.monotonic() >= deadline:
                raise TokenNotRefreshed()
            await asyncio.sleep(REFRESH_POLL_SECONDS)
            choice = choose(await self.find(lookup), user_id)
        return after_refresh(choice, done)

    async def find(self, lookup: Lookup) -> Found:
        store = self.installation_store
        target = target_of(lookup)
        if self.sync.bot_only:
            return Found(bot=await store.async_find_bot(**target))
        latest = await store.async_find_installation(**target)
        mine = None
        if latest is not None:
            args = user_lookup(latest, lookup, self.sync.user_token_resolution)
            mine = await store.async_find_installation(**args) if args is not None else None
        found = Found(latest, mine)
        if needs_bot_lookup(found, lookup.user_id):
            found = Found(latest, mine, await store.async_find_bot(**target))
        return found
