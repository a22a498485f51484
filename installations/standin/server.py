"""``SlackStandIn``: a loopback HTTP server that plays slack.com for tests and ``make run``.

It answers the authorize page, ``oauth.v2.access``, ``auth.test`` and ``auth.revoke`` the way
Slack does (slack-facts.md sections 1 to 5, 9), records every API call, and can misbehave on
request (``fail_next``). It also delivers signed Events API callbacks (section 6).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

from . import authorize, events, pages
from .handler import Handler
from .state import Call, Fault, StandInState

logger = logging.getLogger(__name__)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: SlackStandIn

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback to stderr; a request could carry a token.
        logger.debug("stand-in request failed", exc_info=False)


class SlackStandIn:
    """Start with ``.start()``, stop with ``.stop()`` (or use it as a context manager)."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        host: str = "127.0.0.1",
        port: int = 0,
        events_url: str | None = None,
        signing_secret: str | None = None,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.host = host
        self.port = port
        self.events_url = events_url
        self.signing_secret = signing_secret
        self.state = StandInState()
        self.form_key = secrets.token_urlsafe(16)  # guards the stand-in's own forms
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:  # the client secret stays out of test output
        return f"SlackStandIn(url={self.url!r}, client_id={self.client_id!r})"

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> SlackStandIn:
        server = _Server((self.host, self.port), Handler)
        server.standin = self
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.name = f"slack-standin-{self.port}"
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> SlackStandIn:
        return self if self._server else self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    @property
    def authorize_url(self) -> str:
        return self.url + "/oauth/v2/authorize"

    # --- what happened ----------------------------------------------------------------------
    @property
    def calls(self) -> list[Call]:
        with self.state.lock:
            return list(self.state.calls)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    @property
    def issued(self) -> list[dict[str, Any]]:
        with self.state.lock:
            return list(self.state.issued)

    @property
    def code_ttl_seconds(self) -> float:
        return self.state.code_ttl_seconds

    @code_ttl_seconds.setter
    def code_ttl_seconds(self, value: float) -> None:
        self.state.code_ttl_seconds = value

    # --- the browser's part -----------------------------------------------------------------
    def approve(
        self,
        authorize_url: str,
        *,
        org_wide: bool = False,
        user_token: bool = False,
        webhook: bool = False,
        rotation: bool = False,
        team_id: str | None = None,
        enterprise_id: str | None = None,
        webhook_channel: str = "#general",
    ) -> str:
        """What Allow does: the redirect URL with a fresh single-use code and the state.

        Raises ``authorize.AuthorizeError`` (a ValueError) with Slack's code, e.g.
        ``invalid_client_id``, where Slack would show an error page instead.
        """
        choices = authorize.Choices(
            org_wide=org_wide,
            user_token=user_token,
            webhook=webhook,
            webhook_channel=webhook_channel,
            rotation=rotation,
            team_id=team_id,
            enterprise_id=enterprise_id,
        )
        params = authorize.query_params(authorize_url)
        return authorize.approve(self.state, params, self.client_id, choices)

    def cancel(self, authorize_url: str) -> str:
        """What Cancel does: the redirect URL with error=access_denied."""
        return authorize.cancel(authorize.query_params(authorize_url), self.client_id)

    # --- faults and token state -------------------------------------------------------------
    def fail_next(
        self,
        method: str,
        *,
        error: str | None = None,
        status: int = 200,
        retry_after: int | None = None,
        delay: float = 0.0,
        drop: bool = False,
        times: int = 1,
    ) -> None:
        """Queue a fault for the next ``times`` calls of ``method`` (e.g. "oauth.v2.access").

        With only ``delay``, the call is answered normally (its code or refresh token spent)
        after sleeping; ``drop`` reads the request and hangs up without doing anything.
        """
        if error is None and status == 200 and not delay and not drop:
            error = "internal_error"
        fault = Fault(error, status, retry_after, delay, drop, times)
        self.state.queue_fault(method, fault)

    def token_info(self, token: str) -> dict[str, Any] | None:
        with self.state.lock:
            record = self.state.tokens.get(token)
            return None if record is None else record.info()

    def revoke_token(self, token: str) -> None:
        with self.state.lock:
            self.state.token(token).revoked = True

    def set_token_error(self, token: str, error: str | None) -> None:
        """Make every use of ``token`` fail with ``error`` (None clears it)."""
        with self.state.lock:
            self.state.token(token).error = error

    def expire_token(self, token: str) -> None:
        with self.state.lock:
            self.state.token(token).expires_at = time.time() - 1

    def set_scopes(self, token: str, scopes: str) -> None:
        with self.state.lock:
            self.state.token(token).scopes = scopes

    # --- events -------------------------------------------------------------------------------
    def send_event(
        self,
        event: dict[str, Any],
        *,
        team_id: str | None,
        enterprise_id: str | None = None,
        event_id: str | None = None,
        event_time: int | None = None,
        retry_num: int | None = None,
        events_url: str | None = None,
        signing_secret: str | None = None,
        is_enterprise_install: bool | None = None,
        timestamp: int | None = None,
    ) -> tuple[int, str]:
        """Wrap ``event`` in an event_callback envelope, sign it, POST it; (status, body)."""
        url = events_url or self.events_url
        secret = signing_secret or self.signing_secret
        if not url or not secret:
            raise ValueError("send_event needs events_url and signing_secret")
        payload = events.envelope(
            event,
            team_id=team_id,
            enterprise_id=enterprise_id,
            is_enterprise_install=team_id is None
            if is_enterprise_install is None
            else is_enterprise_install,
            event_id=event_id,
            event_time=event_time,
        )
        return events.deliver(
            payload, events_url=url, signing_secret=secret, retry_num=retry_num, timestamp=timestamp
        )

    def uninstall(self, team_id: str | None, enterprise_id: str | None = None) -> tuple[int, str]:
        """Revoke that target's tokens, then send app_uninstalled; (0, "") without events_url."""
        self.state.revoke_team(team_id, enterprise_id)
        if not self.events_url or not self.signing_secret:
            return 0, ""
        return self.send_event(
            {"type": "app_uninstalled"}, team_id=team_id, enterprise_id=enterprise_id
        )

    def index_html(self, note: str = "") -> str:
        with self.state.lock:
            installs = list(self.state.installs)
        return pages.index_page(installs, self.form_key, self.events_url, note)
