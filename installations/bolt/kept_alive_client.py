"""The listeners' Slack client on kept-alive connections: a global middleware of the Bolt app.

Bolt builds a plain slack_sdk ``WebClient`` for every request (``App._init_context``, slack_bolt
1.30, copying the App's ``client`` settings), and its authorization middleware gives it the
workspace's token: every ``say`` / ``client.chat_postMessage`` then opens a new connection
(slack_sdk's urllib). ``KeptAliveClientMiddleware``, added by ``new_bolt_app()`` with ``App.use``
(public) right after Bolt's own middleware, puts in its place a ``KeptAliveWebClient``
(slack/kept_alive.py) carrying every attribute of Bolt's (token, base_url, timeout, ssl, proxy,
headers, team_id, logger, retry handlers), so the listeners' calls share their thread's kept-alive
connection.

It is a ``Middleware`` subclass, not a function: Bolt calls a function middleware through its
argument injection, which first builds ``say`` (and ``complete`` / ``fail``) on the client of
the moment. Those built earlier anyway (by a developer's ``before_authorize`` middleware) are
pointed at the new client. A client that is not Bolt's plain ``WebClient`` (one a developer's
middleware put there) is left as it is. tests/bolt/test_kept_alive_bolt.py pins what this relies
on in Bolt, so an upgrade that changes it fails a test rather than production.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from slack_sdk import WebClient

from installations.extras import needs_extra
from installations.slack.kept_alive import kept_alive_twin

with needs_extra("bolt"):
    from slack_bolt.middleware import Middleware
    from slack_bolt.request import BoltRequest
    from slack_bolt.response import BoltResponse


class KeptAliveClientMiddleware(Middleware):
    """The request's ``client`` as a ``KeptAliveWebClient`` (module docstring)."""

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        context = req.context
        bolts = context.get("client")
        if type(bolts) is WebClient:
            ours = kept_alive_twin(bolts)
            context["client"] = ours
            for value in list(context.values()):  # say, complete, fail: built on Bolt's client
                if value is not ours and getattr(value, "client", None) is bolts:
                    with contextlib.suppress(AttributeError):  # a read-only one keeps Bolt's
                        value.client = ours
        return next()
