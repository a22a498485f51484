"""Bolt's own authorize over our stores, with a bounded ``auth.test`` cache and our rotation.

``DjangoAuthorize`` (and ``AsyncDjangoAuthorize``) is Bolt's ``InstallationStoreAuthorize``
with ``auth.test`` asked once per token (an LRU keyed by the token's SHA-256, where Bolt's
``cache_enabled`` keeps tokens unbounded) and rotation through ``lifecycle/rotation.py``'s
claims: an expired token Slack refused to refresh is "not installed", any other failure fails
the request (Slack retries).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from slack_sdk.errors import SlackApiError, SlackTokenRotationError
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.installation_store import Installation as SdkInstallation
from slack_sdk.oauth.token_rotation import TokenRotator

from installations.bolt.store import ACTOR, DjangoInstallationStore, install_target_key
from installations.conf import slack_config
from installations.exceptions import SlackInstallError
from installations.extras import needs_extra
from installations.lifecycle import rotation
from installations.slack import api as slack_api

with needs_extra("bolt"):
    from slack_bolt.authorization.authorize import InstallationStoreAuthorize
    from slack_bolt.authorization.authorize_result import AuthorizeResult


logger = logging.getLogger(__name__)

# auth.test answers remembered per process: a few hundred bytes each, one per live token.
AUTH_TEST_CACHE_SIZE = 10_000
# How long a request waits for another process's refresh (Slack wants an answer within 3 s).
REFRESH_WAIT_SECONDS = 2.0
REFRESH_POLL_SECONDS = 0.05


class TokenNotRefreshed(SlackInstallError):
    """An expired token could not be refreshed for now (Slack unreachable, rate limited, or
    another process still at it): this request fails and Slack retries it later."""

    reason = "token_not_refreshed"
    status = 503
    message = "An expired token could not be refreshed yet; Slack will retry the request."


# --- auth.test, once per token ------------------------------------------------------------------


class AuthTestAnswers:
    """``auth.test`` answers by token digest; the least recently used go beyond ``max_size``."""

    def __init__(self, max_size: int = AUTH_TEST_CACHE_SIZE) -> None:
        self.max_size = max_size
        self.by_digest: OrderedDict[bytes, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, token: str) -> dict[str, Any] | None:
        key = self.key(token)
        with self._lock:
            answer = self.by_digest.get(key)
            if answer is not None:
                self.by_digest.move_to_end(key)
            return answer

    def put(self, token: str, answer: Mapping[str, Any]) -> dict[str, Any]:
        """Remember the answer's data (never the request, which carries the token)."""
        key, kept = self.key(token), dict(answer)
        with self._lock:
            self.by_digest[key] = kept
            self.by_digest.move_to_end(key)
            while len(self.by_digest) > self.max_size:
                self.by_digest.popitem(last=False)
        return kept

    def __len__(self) -> int:
        return len(self.by_digest)


class RememberingClient:
    """The client Bolt's authorize calls ``auth_test`` on: the answer from the cache, else from
    our checked client (one deadline, a size cap, no redirect followed with the token), never
    from the request's WebClient, which is slack_sdk's own, made for the developer's listeners."""

    def __init__(self, answers: AuthTestAnswers) -> None:
        self.answers = answers

    def auth_test(self, *, token: str, **kwargs: Any) -> dict[str, Any]:
        known = self.answers.get(token)
        if known is not None:
            return known
        # A refusal is Bolt's SlackApiError, not remembered; a fault is ours (SlackUnavailable).
        answer = slack_api.idempotent_client().auth_test(token=token, **kwargs)
        return self.answers.put(token, cast(dict[str, Any], answer.data))  # a JSON object


def remembering(context: Any, client: RememberingClient) -> Any:
    """A copy of the request's context whose ``client`` is ``client`` (Bolt's authorize only
    reads its context; the request keeps its own client)."""
    view = type(context)(context)
    view["client"] = client
    return view


# --- rotation through our claim protocol ---------------------------------------------------------


Stored = TypeVar("Stored", SdkInstallation, Bot)


@dataclass(frozen=True)
class Pair:
    """A token as stored: access token, refresh token and expiry (Unix seconds); tokens unshown."""

    token: str | None = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_at: int | None

    @classmethod
    def of(cls, found: SdkInstallation | Bot | None, kind: str) -> Pair:
        """The ``kind`` ("bot" or "user") token of what the store found (None: nothing)."""
        if found is None:
            return cls(None, None, None)
        return cls(
            getattr(found, f"{kind}_token"),
            getattr(found, f"{kind}_refresh_token"),
            getattr(found, f"{kind}_token_expires_at"),
        )

    def put_into(self, copy: Stored, kind: str) -> Stored:
        setattr(copy, f"{kind}_token", self.token)
        setattr(copy, f"{kind}_refresh_token", self.refresh_token)
        setattr(copy, f"{kind}_token_expires_at", self.expires_at)
        return copy

    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= time.time()


def due(expires_at: int | None, minutes: int) -> bool:
    """slack_sdk's TokenRotator's rule: expiring within ``minutes``."""
    return expires_at is not None and expires_at <= time.time() + minutes * 60


def refused(code: str) -> SlackTokenRotationError:
    """What Bolt's authorize reads as "rotation failed": it answers "not installed"."""
    answer = SlackApiError(f"token not refreshed: {code}", {"error": code})  # type: ignore[no-untyped-call]
    return SlackTokenRotationError(answer)


def settle(
    current: Pair,
    outcome: rotation.TokenResult | None,
    reread: Callable[[], Pair],
    team: str,
) -> Pair | None:
    """The pair to use after our refresh ran (None: ``current`` as it stands): a new stored
    pair, else a still valid token, else another process's refresh awaited; "not installed"
    (``refused``) when it needs a reinstall."""
    deadline = time.monotonic() + REFRESH_WAIT_SECONDS
    while True:
        stored = reread()
        if stored.token is None:
            raise refused("no_longer_installed")
        if stored.token != current.token:
            return stored
        if not current.expired():
            return None
        if outcome is not rotation.TokenRefresh.SKIPPED or time.monotonic() >= deadline:
            break
        time.sleep(REFRESH_POLL_SECONDS)
    if outcome is rotation.TokenRefresh.SKIPPED:
        raise TokenNotRefreshed()
    code = "not_refreshed"
    if isinstance(outcome, rotation.RefreshFailed):
        if outcome.code not in rotation.REINSTALL_CODES:
            raise TokenNotRefreshed()
        code = outcome.code
    logger.warning(
        "an expired token of team=%s could not be refreshed (%s): not authorized", team, code
    )
    raise refused(code)


class ClaimingTokenRotator(TokenRotator):
    """slack_sdk's TokenRotator whose refreshes run ``rotation.refresh_for_request``."""

    def __init__(self, store: DjangoInstallationStore) -> None:
        super().__init__(client_id=store.client_id, client_secret="")  # never sent from here
        self.store = store

    def _rotated(
        self,
        given: SdkInstallation | Bot,
        kind: str,
        minutes: int,
        user_id: str | None = None,
    ) -> Pair | None:
        """The ``kind`` token's new pair, refreshed through our claim protocol when due (None:
        use ``given``'s as it stands)."""
        current = Pair.of(given, kind)
        if current.refresh_token is None or not due(current.expires_at, minutes):
            return None
        key = install_target_key(
            self.store.client_id, given.enterprise_id, given.team_id, given.is_enterprise_install
        )
        done = rotation.refresh_for_request(
            **key, user_id=user_id, bot=kind == "bot", minutes=minutes, actor=ACTOR
        )
        outcome = done.bot if kind == "bot" else done.user
        where: dict[str, Any] = {
            "enterprise_id": given.enterprise_id,
            "team_id": given.team_id,
            "is_enterprise_install": given.is_enterprise_install,
        }

        def reread() -> Pair:  # the pair as stored now
            if kind == "bot":
                return Pair.of(self.store.find_bot(**where), kind)
            return Pair.of(self.store.find_installation(**where, user_id=user_id), kind)

        return settle(current, outcome, reread, given.team_id or given.enterprise_id or "-")

    def perform_bot_token_rotation(
        self, *, bot: Bot, minutes_before_expiration: int = 120
    ) -> Bot | None:
        new = self._rotated(bot, "bot", minutes_before_expiration)
        return None if new is None else new.put_into(Bot(**bot.to_dict_for_copying()), "bot")

    def perform_user_token_rotation(
        self, *, installation: SdkInstallation, minutes_before_expiration: int = 120
    ) -> SdkInstallation | None:
        user_id = installation.user_id
        if not user_id:  # no user's token to refresh (Bolt cleared another user's)
            return None
        new = self._rotated(installation, "user", minutes_before_expiration, user_id)
        copy = SdkInstallation(**installation.to_dict_for_copying())
        return None if new is None else new.put_into(copy, "user")


# --- the two authorizes --------------------------------------------------------------------------


def bolt_options(token_rotation_minutes: int | None, **options: Any) -> dict[str, Any]:
    """The arguments both twins pass to Bolt's authorize."""
    if token_rotation_minutes is None:
        token_rotation_minutes = slack_config().token_rotation_minutes
    return {
        "logger": logging.getLogger("slack_bolt.authorize"),
        "token_rotation_expiration_minutes": token_rotation_minutes,
        "cache_enabled": False,  # ours is the bounded auth.test cache (module docstring)
        **options,
    }


class DjangoAuthorize(InstallationStoreAuthorize):
    """``App(authorize=DjangoAuthorize(installation_store=store))``: Bolt's authorize with a
    bounded auth.test cache and our rotation (module docstring); ``new_bolt_app()``'s default."""

    def __init__(
        self,
        *,
        installation_store: DjangoInstallationStore,
        token_rotation_minutes: int | None = None,
        cache_size: int = AUTH_TEST_CACHE_SIZE,
        **options: Any,
    ) -> None:
        """``options``: Bolt's (``bot_only``, ``user_token_resolution``, ``logger``)."""
        super().__init__(
            installation_store=installation_store, **bolt_options(token_rotation_minutes, **options)
        )
        self.token_rotator = ClaimingTokenRotator(installation_store)
        self.auth_tests = AuthTestAnswers(cache_size)

    def __call__(self, *, context: Any, **request: Any) -> AuthorizeResult | None:
        client = RememberingClient(self.auth_tests)
        return super().__call__(context=remembering(context, client), **request)
