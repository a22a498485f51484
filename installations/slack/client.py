"""``SlackWebClient``: slack_sdk's WebClient on our transport, every answer checked; its retries.

Three overrides, the narrowest that do the job (slack_sdk 3.48, ``web/base_client.py``):
- ``_perform_urllib_http_request_internal`` is one attempt: ``urlopen`` is replaced by
  ``slack_transport.send`` (deadline, size cap, no redirects), and the answer must be a JSON
  object (``slack_answers.parse_json_object``) before slack_sdk parses it;
- ``_perform_urllib_http_request`` raises a fault an attempt reported, once slack_sdk's retry
  loop is done with it (so the loop neither retries it nor logs it as an error);
- ``api_call`` checks the answer for that method (``slack_answers.validate_answer``, keyed on
  the method and grant_type, so TokenRotator reads only checked refresh answers) and turns
  anything that still escaped into our error family.
What a call raises is listed in ``slack_api``'s docstring.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from http.client import HTTPException
from typing import Any
from urllib.error import URLError
from urllib.request import Request

from django.views.decorators.debug import sensitive_variables
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry import RetryHandler
from slack_sdk.http_retry.request import HttpRequest as RetryRequest
from slack_sdk.http_retry.response import HttpResponse as RetryResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.token_rotation import TokenRotator
from slack_sdk.web import SlackResponse

from installations.exceptions import (
    SlackInstallError,
    SlackUnavailable,
    UnexpectedAnswer,
)
from installations.slack import answers as slack_answers
from installations.slack import transport as slack_transport

logger = logging.getLogger(__name__)

_FAULT = "installations.fault"  # key of a transport fault inside slack_sdk's response dict
Revoker = Callable[[Iterable[str], str], object]


class _UnusableBody(UnexpectedAnswer):
    """A 2xx answer that is not a JSON object; api_call looks inside it for credentials."""

    def __init__(self, body: bytes, content_type: str | None) -> None:
        self.body, self.content_type = body, content_type
        super().__init__()


def header(headers: Mapping[str, Any], name: str) -> Any:
    """Case-insensitive header lookup (SlackResponse.headers keeps the server's casing)."""
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return value[0] if isinstance(value, list) and value else value
    return None


def _sdk_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The first value of each header; Retry-After bounded, or dropped when unreadable
    (slack_sdk's RateLimitErrorRetryHandler int()s it: "abc" raises, "86400" sleeps a day)."""
    headers: dict[str, str] = {}
    for name, value in pairs:
        headers.setdefault(name, value)
    for name in [n for n in headers if n.lower() == "retry-after"]:
        seconds = slack_transport.parse_retry_after(headers[name])
        if seconds is None:
            del headers[name]
        else:
            headers[name] = str(seconds)
    return headers


def _sdk_response(answer: slack_transport.RawAnswer) -> dict[str, Any]:
    """One attempt's answer as slack_sdk's loop expects it, or the fault it amounts to."""
    if 300 <= answer.status < 400:
        logger.warning("slack answered HTTP %s (a redirect): not followed", answer.status)
        raise SlackUnavailable(reason="slack_redirect")
    content_type = answer.header("Content-Type")
    try:
        data = slack_answers.parse_json_object(answer.body, content_type)
    except UnexpectedAnswer:
        kind = (content_type or "no content type").split(";")[0][:64]
        logger.warning("slack answered HTTP %s, not a JSON object (%s)", answer.status, kind)
        if answer.status == 429:
            data = {"ok": False, "error": "ratelimited"}  # still a rate limit, for the handlers
        elif 200 <= answer.status < 300:
            raise _UnusableBody(answer.body, content_type) from None
        else:
            raise SlackUnavailable(reason="slack_http_error") from None
    return {
        "status": answer.status,
        "headers": _sdk_headers(answer.headers),
        "body": json.dumps(data),
        "parsed_body": data,
    }


def _grant_type(kwargs: Mapping[str, Any]) -> str | None:
    for part in ("data", "params"):
        values = kwargs.get(part)
        if isinstance(values, Mapping) and isinstance(values.get("grant_type"), str):
            return str(values["grant_type"])
    return None


class SlackWebClient(WebClient):
    """slack_sdk's WebClient over ``slack_transport``, every answer checked (module docstring).

    ``revoke`` revokes tokens an unusable refresh answer carried (``slack_api.revoke_all``).
    """

    def __init__(self, *, revoke: Revoker, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._revoke = revoke
        self._expecting = threading.local()

    @contextmanager
    def expecting_token_type(self, token_type: str) -> Iterator[None]:
        """Refresh answers in this block must be for this token type ("bot" or "user")."""
        previous = getattr(self._expecting, "token_type", None)
        self._expecting.token_type = token_type
        try:
            yield
        finally:
            self._expecting.token_type = previous

    @sensitive_variables("req", "answer")
    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        try:
            answer = slack_transport.send(req, timeout=float(self.timeout), ssl_context=self.ssl)
            return _sdk_response(answer)
        except SlackInstallError as fault:
            return {"status": 0, "headers": {}, "body": "", _FAULT: fault}

    def _perform_urllib_http_request(
        self, *, url: str, args: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        response = super()._perform_urllib_http_request(url=url, args=args)
        fault = response.get(_FAULT)
        if isinstance(fault, SlackInstallError):
            raise fault
        return response

    @sensitive_variables("kwargs", "response", "issued")
    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        grant_type = _grant_type(kwargs)
        try:
            response = super().api_call(api_method, **kwargs)
        except _UnusableBody as exc:
            issued = slack_answers.salvage_credentials(exc.body, exc.content_type)
            raise self._unusable(api_method, grant_type, issued) from None
        except SlackApiError as exc:
            raise self._refused(api_method, grant_type, exc) from None
        except SlackInstallError:
            raise
        except (OSError, HTTPException) as exc:  # refused, reset, DNS, TLS (URLError included)
            logger.warning("slack %s unreachable: %s", api_method, type(exc).__name__)
            raise SlackUnavailable() from None
        except SlackClientError as exc:
            logger.warning("slack %s could not be sent: %s", api_method, type(exc).__name__)
            raise SlackUnavailable(reason="slack_bad_request") from None
        expected = getattr(self._expecting, "token_type", None)
        try:
            slack_answers.validate_answer(
                api_method, response.data, grant_type=grant_type, expected_token_type=expected
            )
        except UnexpectedAnswer:
            issued = slack_answers.issued_credentials(response.data)
            raise self._unusable(api_method, grant_type, issued) from None
        return response

    def _refused(self, method: str, grant_type: str | None, exc: SlackApiError) -> Exception:
        response = exc.response
        code = slack_answers.refusal_code(response.data)
        if code is None and response.status_code == 429:
            code = "ratelimited"  # a rate limit whatever the body says
        if code is not None:
            response.data["error"] = code  # every reader of the error sees a safe code
            return exc
        issued = slack_answers.issued_credentials(response.data)
        status = response.status_code
        if status != 200 and not issued.tokens:
            logger.warning("slack %s answered HTTP %s without an error code", method, status)
            return SlackUnavailable(reason="slack_http_error")
        logger.warning("slack %s answered HTTP %s, neither ok nor an error", method, status)
        return self._unusable(method, grant_type, issued)

    def _unusable(
        self, method: str, grant_type: str | None, issued: slack_answers.IssuedCredentials
    ) -> UnexpectedAnswer:
        if method != "oauth.v2.access" or not issued.tokens:
            return UnexpectedAnswer()
        if grant_type == "refresh_token":
            # TokenRotator's callers never see these tokens: revoked here, or they stay live.
            self._revoke(issued.tokens, f"refresh team={issued.team_id or '-'}")
            return UnexpectedAnswer()
        return slack_answers.UnusableInstallAnswer(issued)


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


class RateLimitRetryHandler(RetryHandler):
    """Wait out a 429 and retry, when Slack asks for at most ``max_wait_seconds``.

    A 429 means Slack did not act on the request, so even a single-use code may be sent again.
    Without a readable Retry-After: ``default_seconds`` (None: give up at once). A longer wait
    gives up, unless ``insist``: then it waits ``max_wait_seconds`` and tries once more anyway.
    """

    def __init__(
        self,
        *,
        max_wait_seconds: int,
        default_seconds: int | None,
        max_retry_count: int = 1,
        insist: bool = False,
    ) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_seconds = max_wait_seconds
        self.default_seconds = default_seconds
        self.insist = insist

    def _wait(self, response: RetryResponse | None) -> int | None:
        if response is None or response.status_code != 429:
            return None
        seconds = slack_transport.parse_retry_after(header(response.headers, "Retry-After"))
        seconds = self.default_seconds if seconds is None else seconds
        if seconds is not None and seconds > self.max_wait_seconds:
            return self.max_wait_seconds if self.insist else None
        return seconds

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: RetryRequest,
        response: RetryResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return self._wait(response) is not None

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: RetryRequest,
        response: RetryResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        wait = self._wait(response) or 0
        state.next_attempt_requested = True
        state.increment_current_attempt()
        time.sleep(wait)


class CheckedTokenRotator(TokenRotator):
    """slack_sdk's rotator, telling the client which token type each refresh must answer for:
    the stock one returns None on a mismatch, leaving the refreshed tokens live and unstored."""

    client: SlackWebClient

    def perform_bot_token_rotation(
        self, *, bot: Bot, minutes_before_expiration: int = 120
    ) -> Bot | None:
        with self.client.expecting_token_type("bot"):
            return super().perform_bot_token_rotation(
                bot=bot, minutes_before_expiration=minutes_before_expiration
            )

    def perform_user_token_rotation(
        self, *, installation: Installation, minutes_before_expiration: int = 120
    ) -> Installation | None:
        with self.client.expecting_token_type("user"):
            return super().perform_user_token_rotation(
                installation=installation, minutes_before_expiration=minutes_before_expiration
            )
