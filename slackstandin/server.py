"""``SlackStandIn``: a loopback HTTP server that plays slack.com for tests and ``make run``.

It answers the authorize page, ``oauth.v2.access``, ``auth.test`` and ``auth.revoke`` the way
Slack does (docs/slack-protocol.md §1 to §6 and §9), records every API call, and can misbehave on
request (``fail_next``). It also delivers signed Events API callbacks (section 6).
"""

from __future__ import annotations

import logging
import secrets
import threading
from http.server import ThreadingHTTPServer
from typing import Any

from . import authorize, oauth, pages
from .controls import StandInControls
from .handler import Handler
from .oidc import OidcControls
from .state import Call, StandInState

logger = logging.getLogger(__name__)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's backlog of 5 overflows when a job's threads connect at once, and the kernel
    # then resets connections slack.com would have accepted.
    request_queue_size = 128
    standin: SlackStandIn

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The default prints a traceback to stderr; a request could carry a token.
        logger.debug("stand-in request failed", exc_info=False)


class SlackStandIn(StandInControls, OidcControls):
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
        ``invalid_client_id``, where Slack would show an error page instead. As on Slack, the
        scopes decide what is issued: ``user_token`` / ``webhook`` only say what the caller
        expects, and raise ValueError when the authorize URL does not ask for it.
        """
        params = authorize.query_params(authorize_url)
        if user_token and not params.get("user_scope"):
            raise ValueError("user_token: Slack issues a user token only for user_scope")
        if webhook and oauth.WEBHOOK_SCOPE not in params.get("scope", "").split(","):
            raise ValueError("webhook: Slack issues a webhook only for the incoming-webhook scope")
        choices = authorize.Choices(
            org_wide=org_wide,
            webhook_channel=webhook_channel,
            rotation=rotation,
            team_id=team_id,
            enterprise_id=enterprise_id,
        )
        return authorize.approve(self.state, params, self.client_id, choices)

    def cancel(self, authorize_url: str) -> str:
        """What Cancel does: the redirect URL with error=access_denied."""
        return authorize.cancel(authorize.query_params(authorize_url), self.client_id)

    def index_html(self, note: str = "") -> str:
        with self.state.lock:
            installs = list(self.state.installs)
        return pages.index_page(installs, self.form_key, self.events_url, note, self.messages)
