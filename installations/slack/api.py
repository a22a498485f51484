"""The only module that talks to Slack: clients with our retry policy, and the calls we make.

Every client is a ``SlackWebClient`` (slack/client.py) on ``transport``, each answer checked by
``answers``. A call raises only ``SlackApiError`` (``ok: false`` or 429), ``SlackUnavailable``
(a transport fault) or ``UnexpectedAnswer`` (``UnusableInstallAnswer`` holding the tokens to
revoke; ``SpentRefreshAnswer`` for a refresh answered with tokens we could not use).

Single-use calls (code exchange, token refresh) retry only when Slack surely did not see the
request; idempotent ones (auth.test, auth.revoke) also retry once on other connection errors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RetryHandler
from slack_sdk.oauth.token_rotation import TokenRotator
from slack_sdk.web import SlackResponse

from installations.conf import parse_scopes, slack_config
from installations.exceptions import SlackInstallError, SlackRefused, SlackUnavailable
from installations.slack import answers as slack_answers
from installations.slack.client import (
    CheckedTokenRotator,
    RateLimitRetryHandler,
    RefusedConnectionRetryHandler,
    SlackWebClient,
    header,
)

logger = logging.getLogger(__name__)

MAX_RETRY_AFTER_SECONDS = 3  # a request thread waits this long at most for one 429
PATIENT_RETRY_AFTER_SECONDS = 30  # a command waits this long at most for one 429
PATIENT_RETRIES = 3
DEFAULT_RETRY_AFTER_SECONDS = 1  # a 429 without a readable Retry-After (slack_sdk's default)
# Refusals that say nothing about the token: auth.revoke is tried once more after them.
TRANSIENT_REFUSALS = frozenset({"internal_error", "fatal_error", "request_timeout"})


class ShortRateLimitRetryHandler(RateLimitRetryHandler):
    """For request threads: one retry after a short, explicit Retry-After."""

    def __init__(self) -> None:
        super().__init__(max_wait_seconds=MAX_RETRY_AFTER_SECONDS, default_seconds=None)


def granted_scopes(response: SlackResponse) -> tuple[str, ...] | None:
    """Scopes from the ``x-oauth-scopes`` header, or None when Slack sent none."""
    value = header(response.headers, "x-oauth-scopes")
    return parse_scopes(value) if isinstance(value, str) else None


def _client(token: str | None, retry_handlers: list[RetryHandler]) -> SlackWebClient:
    config = slack_config()
    return SlackWebClient(
        token=token,
        base_url=config.api_url,
        timeout=config.http_timeout_seconds,
        retry_handlers=retry_handlers,
        revoke=lambda tokens, label: revoke_all(tokens, label=label),
    )


def single_use_client(*, rate_limit_retries: int = 0) -> WebClient:
    """For calls that spend a single-use credential: no retry that could spend it twice. A
    request thread waits for one short Retry-After at most; a command (``rate_limit_retries``)
    waits out 429s of up to PATIENT_RETRY_AFTER_SECONDS that many times: Slack did not act on a
    request it answered 429, so sending it again never spends the credential twice."""
    handler = (
        _patient_rate_limit_handler(rate_limit_retries)
        if rate_limit_retries
        else ShortRateLimitRetryHandler()
    )
    return _client(None, [RefusedConnectionRetryHandler(), handler])


def idempotent_client(token: str | None = None, *, rate_limit_handler: Any = None) -> WebClient:
    """For auth.test and auth.revoke: retrying them is harmless."""
    handler = rate_limit_handler or ShortRateLimitRetryHandler()
    return _client(token, [ConnectionErrorRetryHandler(), handler])


def patient_client(*, retries: int = PATIENT_RETRIES) -> WebClient:
    """For commands (slack_verify): waits out 429s of up to PATIENT_RETRY_AFTER_SECONDS,
    ``retries`` times, as Slack asks (docs.slack.dev/apis/web-api/rate-limits)."""
    return idempotent_client(rate_limit_handler=_patient_rate_limit_handler(retries))


def _patient_rate_limit_handler(retries: int) -> RateLimitRetryHandler:
    """Waits out a 429 of up to PATIENT_RETRY_AFTER_SECONDS, ``retries`` times."""
    return RateLimitRetryHandler(
        max_wait_seconds=PATIENT_RETRY_AFTER_SECONDS,
        default_seconds=DEFAULT_RETRY_AFTER_SECONDS,
        max_retry_count=retries,
    )


def _call(method: str, fn: Any, **kwargs: Any) -> SlackResponse:
    """Run one WebClient call; Slack's refusals become our error family too."""
    try:
        response: SlackResponse = fn(**kwargs)
    except SlackApiError as exc:
        status = exc.response.status_code
        code = exc.response.get("error")
        if status == 429:
            raise SlackUnavailable(
                "Slack is busy right now. Nothing was installed; please try again in a minute.",
                reason="ratelimited",
            ) from None
        if status >= 500:
            logger.warning("slack %s failed with HTTP %s (%s)", method, status, code)
            raise SlackUnavailable(reason="slack_http_error") from None
        raise SlackRefused(f"Slack answered {code}.", reason=str(code)) from None
    return response


def exchange_code(code: str, *, code_verifier: str = "") -> slack_answers.InstallAnswer:
    """oauth.v2.access with grant_type=authorization_code; credentials go as HTTP Basic, and
    ``code_verifier`` only when given (docs/slack-protocol.md §2)."""
    config = slack_config()
    client = single_use_client()
    extra = {"code_verifier": code_verifier} if code_verifier else {}
    response = _call(
        "oauth.v2.access",
        client.oauth_v2_access,
        client_id=config.client_id,
        client_secret=config.client_secret,
        code=code,
        redirect_uri=config.redirect_uri,
        **extra,
    )
    return slack_answers.install_answer(response.data)


def auth_test(token: str, *, client: WebClient | None = None) -> SlackResponse:
    client = client or idempotent_client()
    return _call("auth.test", client.auth_test, token=token)


def revoke(token: str) -> bool:
    """auth.revoke with the token itself; True when Slack confirmed it. Idempotent, so an
    unknown outcome gets one more try: a token left live is worse than a second request."""
    try:
        return _revoke_once(token)
    except SlackRefused as exc:
        if exc.reason not in TRANSIENT_REFUSALS:
            raise
    except SlackInstallError as exc:
        if exc.reason == "ratelimited":
            raise
    logger.info("auth.revoke failed once; trying again")
    return _revoke_once(token)


def _revoke_once(token: str) -> bool:
    # A token to revoke should not stay live for a rate limit: wait at most 3 s, try once more.
    handler = RateLimitRetryHandler(
        max_wait_seconds=MAX_RETRY_AFTER_SECONDS,
        default_seconds=DEFAULT_RETRY_AFTER_SECONDS,
        insist=True,
    )
    client = idempotent_client(rate_limit_handler=handler)
    response = _call("auth.revoke", client.auth_revoke, token=token)
    return response.get("revoked") is True


def revoke_all(tokens: Iterable[str], *, label: str) -> int:
    """auth.revoke each token; a failure is logged with its reason, never raised."""
    tokens = list(tokens)
    revoked = 0
    for token in tokens:
        try:
            revoked += 1 if revoke(token) else 0
        except SlackInstallError as exc:
            logger.warning("revoking an issued token failed %s reason=%s", label, exc.reason)
    logger.warning("revoked %s of %s issued tokens %s", revoked, len(tokens), label)
    return revoked


def token_rotator(*, rate_limit_retries: int = 0) -> TokenRotator:
    """slack_sdk's rotator on a single-use client: a refresh token is never sent twice, and an
    unusable answer that spent it is ``SpentRefreshAnswer``. ``rate_limit_retries``: for a
    command, how many 429s to wait out (``single_use_client``)."""
    config = slack_config()
    return CheckedTokenRotator(
        client_id=config.client_id,
        client_secret=config.client_secret,
        client=single_use_client(rate_limit_retries=rate_limit_retries),
    )
