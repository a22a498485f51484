"""The only module that talks HTTP to Slack: slack_sdk's WebClient with our retry policy.

Two kinds of client (docs.slack.dev/reference/methods/oauth.v2.access, using-token-rotation):
- single-use calls (code exchange, token refresh) spend a code or refresh token that Slack
  honours once, so they retry only when Slack surely did not see the request: a refused
  connection, or a 429 with a short Retry-After. A timeout or a reset may have reached Slack.
- idempotent calls (auth.test, auth.revoke) also retry once on other connection errors.
Errors come back as our own family: SlackRefused (Slack said ok=false), SlackUnavailable.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RetryHandler
from slack_sdk.http_retry.request import HttpRequest as RetryRequest
from slack_sdk.http_retry.response import HttpResponse as RetryResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.oauth.token_rotation import TokenRotator
from slack_sdk.web import SlackResponse

from .conf import parse_scopes, slack_config
from .errors import SlackRefused, SlackUnavailable

logger = logging.getLogger(__name__)

MAX_RETRY_AFTER_SECONDS = 3


class RefusedConnectionRetryHandler(RetryHandler):
    """Retry once when the connection was refused: the request never reached Slack."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: RetryRequest,
        response: RetryResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        reason = error.reason if isinstance(error, URLError) else error
        return isinstance(reason, ConnectionRefusedError)


class ShortRateLimitRetryHandler(RetryHandler):
    """Retry a 429 once, only when Slack asks us to wait briefly (a request thread waits)."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: RetryRequest,
        response: RetryResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        return retry_after_seconds(response.headers) <= MAX_RETRY_AFTER_SECONDS

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: RetryRequest,
        response: RetryResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.increment_current_attempt()
        time.sleep(retry_after_seconds(response.headers if response else {}))


def _header(headers: Mapping[str, Any], name: str) -> Any:
    """Case-insensitive header lookup (SlackResponse.headers keeps the server's casing)."""
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return value[0] if isinstance(value, list) and value else value
    return None


def retry_after_seconds(headers: Mapping[str, Any]) -> int:
    try:
        return max(0, int(_header(headers, "Retry-After") or 1))
    except (TypeError, ValueError):
        return 1


def granted_scopes(response: SlackResponse) -> tuple[str, ...] | None:
    """Scopes from the ``x-oauth-scopes`` header, or None when Slack sent none."""
    value = _header(response.headers, "x-oauth-scopes")
    return None if value is None else parse_scopes(value)


def single_use_client() -> WebClient:
    """For calls that spend a single-use credential: no retry that could spend it twice."""
    config = slack_config()
    return WebClient(
        base_url=config.api_url,
        timeout=config.http_timeout_seconds,
        retry_handlers=[RefusedConnectionRetryHandler(), ShortRateLimitRetryHandler()],
    )


def idempotent_client(token: str | None = None, *, rate_limit_handler: Any = None) -> WebClient:
    """For auth.test and auth.revoke: retrying them is harmless."""
    config = slack_config()
    return WebClient(
        token=token,
        base_url=config.api_url,
        timeout=config.http_timeout_seconds,
        retry_handlers=[
            ConnectionErrorRetryHandler(),
            rate_limit_handler or ShortRateLimitRetryHandler(),
        ],
    )


def _call(method: str, fn: Any, **kwargs: Any) -> SlackResponse:
    """Run one WebClient call and translate failures into our error family."""
    try:
        return fn(**kwargs)
    except SlackApiError as exc:
        status = exc.response.status_code
        code = exc.response.get("error") if isinstance(exc.response.data, dict) else None
        if status == 429:
            raise SlackUnavailable(
                "Slack is busy right now. Nothing was installed; please try again in a minute.",
                reason="ratelimited",
            ) from None
        if status >= 500 or not code:
            logger.warning("slack %s failed with HTTP %s", method, status)
            raise SlackUnavailable(reason="slack_http_error") from None
        raise SlackRefused(f"Slack answered {code}.", reason=str(code)) from None
    except (URLError, OSError) as exc:  # refused, reset, timed out, DNS
        logger.warning("slack %s unreachable: %s", method, type(exc).__name__)
        raise SlackUnavailable() from None


def exchange_code(code: str) -> SlackResponse:
    """oauth.v2.access with grant_type=authorization_code; credentials go as HTTP Basic."""
    config = slack_config()
    client = single_use_client()
    return _call(
        "oauth.v2.access",
        client.oauth_v2_access,
        client_id=config.client_id,
        client_secret=config.client_secret,
        code=code,
        redirect_uri=config.redirect_uri,
    )


def auth_test(token: str, *, client: WebClient | None = None) -> SlackResponse:
    client = client or idempotent_client()
    return _call("auth.test", client.auth_test, token=token)


def revoke(token: str) -> bool:
    """auth.revoke with the token itself; True when Slack confirmed it."""
    client = idempotent_client()
    response = _call("auth.revoke", client.auth_revoke, token=token)
    return bool(response.get("revoked"))


def token_rotator() -> TokenRotator:
    """slack_sdk's rotator on a single-use client: a refresh token is never sent twice."""
    config = slack_config()
    return TokenRotator(
        client_id=config.client_id,
        client_secret=config.client_secret,
        client=single_use_client(),
    )
