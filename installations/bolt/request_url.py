"""The Slack app's one Request URL: the developer's Bolt app behind ``/slack/events``.

With ``SLACK_BOLT_APP`` set (a Bolt ``App`` / ``AsyncApp`` or a factory of one), the events,
commands and interactions URLs are served by that app through ``slack_bolt.adapter.django``.
Our lifecycle events are recorded by the view first, then reach the app as any event does.
``new_bolt_app()`` builds an App on our stores and authorize; Bolt's install pages are never
served (installs go through our Add to Slack pages).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import sys
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import close_old_connections
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

from installations.checks import ASYNC_EXTRA
from installations.conf import slack_config, text_setting
from installations.extras import needs_extra
from installations.slack.events import LIFECYCLE_KINDS

logger = logging.getLogger(__name__)


def new_bolt_app(**options: Any) -> Any:
    """A ``slack_bolt.App`` on our installation store, without Bolt's OAuth pages.

    ``options`` go to ``App``; the store, ``authorize`` (``DjangoAuthorize``; Bolt's own for a
    store of another kind), signing secret and client default to ours."""
    with needs_extra("bolt"):  # without slack_bolt, an ImportError naming the extra
        from slack_bolt import App
    from slack_bolt.authorization import authorize as bolt_authorize
    from slack_bolt.oauth.oauth_settings import OAuthSettings
    from slack_sdk import WebClient

    from installations.bolt.authorize import DjangoAuthorize
    from installations.bolt.store import DjangoInstallationStore, DjangoOAuthStateStore

    ours = (DjangoInstallationStore, DjangoAuthorize, DjangoOAuthStateStore, OAuthSettings)
    bolt = (
        bolt_authorize.Authorize,
        bolt_authorize.CallableAuthorize,
        bolt_authorize.InstallationStoreAuthorize,
    )
    return _app_on_our_stores(App, WebClient, ours, bolt, options)


def new_async_bolt_app(**options: Any) -> Any:
    """The ``AsyncApp`` twin of ``new_bolt_app`` (needs aiohttp), on ``AsyncDjangoAuthorize``."""
    try:
        from slack_bolt.app.async_app import AsyncApp
    except ModuleNotFoundError as exc:
        if exc.name != "aiohttp":
            raise
        raise ImproperlyConfigured(ASYNC_EXTRA) from exc
    from slack_bolt.authorization import async_authorize as bolt_authorize
    from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
    from slack_sdk.web.async_client import AsyncWebClient

    from installations.bolt import async_store
    from installations.bolt.async_authorize import AsyncDjangoAuthorize

    ours = (
        async_store.AsyncDjangoInstallationStore,
        AsyncDjangoAuthorize,
        async_store.AsyncDjangoOAuthStateStore,
        AsyncOAuthSettings,
    )
    bolt = (
        bolt_authorize.AsyncAuthorize,
        bolt_authorize.AsyncCallableAuthorize,
        bolt_authorize.AsyncInstallationStoreAuthorize,
    )
    return _app_on_our_stores(AsyncApp, AsyncWebClient, ours, bolt, options)


def _app_on_our_stores(
    app_class: Any, client_class: Any, ours: tuple[Any, ...], bolt: tuple[Any, ...], options: Any
) -> Any:
    """The App or AsyncApp of ``new_bolt_app`` / ``new_async_bolt_app``. ``ours``: our
    installation store, authorize, state store and Bolt's OAuth settings class for them;
    ``bolt``: Bolt's Authorize base, its wrapper of a function and its store authorize."""
    store_class, authorize_class, state_store_class, settings_class = ours
    authorize_base, callable_authorize, store_authorize = bolt
    config = slack_config()
    store = options.pop("installation_store", None) or store_class()
    client = options.pop("client", None) or client_class(base_url=config.api_url)
    bot_only = bool(options.get("installation_store_bot_only"))
    # Bolt takes an Authorize object here, though App's annotation says a plain callable.
    authorize = options.pop("authorize", None)
    if authorize is None and isinstance(store, store_class):
        authorize = authorize_class(
            installation_store=store,
            token_rotation_minutes=config.token_rotation_minutes,
            bot_only=bot_only,
        )
    elif authorize is None:  # another store: Bolt's own authorize, which rotates through it
        authorize = store_authorize(
            installation_store=store,
            client_id=config.client_id,
            client_secret=config.client_secret,
            logger=logging.getLogger("slack_bolt.authorize"),
            client=client,
            token_rotation_expiration_minutes=config.token_rotation_minutes,
            bot_only=bot_only,
        )
    elif not isinstance(authorize, authorize_base):  # a function: Bolt's wrapper, as App would
        authorize = callable_authorize(
            logger=logging.getLogger("slack_bolt.authorize"), func=authorize
        )
    options.setdefault("signing_secret", config.signing_secret)
    options.update(our_oauth_settings(settings_class, state_store_class(), store, options))
    return app_class(client=client, installation_store=store, authorize=authorize, **options)


def our_oauth_settings(
    settings_class: Callable[..., Any], state_store: Any, store: Any, options: dict[str, Any]
) -> dict[str, Any]:
    """``oauth_settings`` on our stores and rotation minutes, for ``App`` / ``AsyncApp``.

    Given none, Bolt builds file-based stores whenever SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are
    in the environment, and sets their rotation minutes on the authorize. Ours leave nothing on
    disk; their pages are never served. Nothing when the caller passed settings or a flow, or
    when no client credentials are known (Bolt then builds no flow either)."""
    if options.get("oauth_settings") is not None or options.get("oauth_flow") is not None:
        return {}
    config = slack_config()
    client_id = config.client_id or os.environ.get("SLACK_CLIENT_ID")
    client_secret = config.client_secret or os.environ.get("SLACK_CLIENT_SECRET")
    if client_id is None or client_secret is None:
        return {}
    settings = settings_class(
        client_id=client_id,
        client_secret=client_secret,
        installation_store=store,
        installation_store_bot_only=bool(options.get("installation_store_bot_only")),
        token_rotation_expiration_minutes=config.token_rotation_minutes,
        state_store=state_store,
    )
    return {"oauth_settings": settings}


def _is_async_app(found: object) -> bool:
    """Whether ``found`` is a Bolt ``AsyncApp``, without importing Bolt's async code (it needs
    aiohttp, which a sync app's deployment may lack)."""
    async_app = sys.modules.get("slack_bolt.app.async_app")
    return async_app is not None and isinstance(found, async_app.AsyncApp)


def acknowledge_lifecycle_events(app: Any) -> None:
    """Listeners that only acknowledge our lifecycle events, after the developer's own: the view
    has recorded the event, so an app without listeners for them answers 200, not Bolt's 404."""

    async def async_listener(ack: Any) -> None:
        await ack()

    def sync_listener(ack: Callable[[], None]) -> None:
        ack()

    listener: Callable[..., Any] = async_listener if _is_async_app(app) else sync_listener
    for event in LIFECYCLE_KINDS:
        app.event(event)(listener)


def load_app(path: str) -> Any:
    """The object SLACK_BOLT_APP names: an App / AsyncApp, or a factory called once."""
    from slack_bolt import App

    def is_app(found: object) -> bool:
        return isinstance(found, App) or _is_async_app(found)

    found = import_string(path)
    app = found if is_app(found) else found()
    if not is_app(app):
        raise TypeError(f"SLACK_BOLT_APP={path} is neither a Bolt App nor a factory of one")
    if not _no_flow_or_ours(getattr(app, "oauth_flow", None)):
        logger.warning("SLACK_BOLT_APP has an OAuth flow: its install pages are not served here")
    acknowledge_lifecycle_events(app)
    return app


def _no_flow_or_ours(flow: Any) -> bool:
    """Whether an App's OAuth flow is absent, or the one ``our_oauth_settings`` gave it."""
    from installations.bolt.async_store import AsyncDjangoOAuthStateStore
    from installations.bolt.store import DjangoOAuthStateStore

    ours = (DjangoOAuthStateStore, AsyncDjangoOAuthStateStore)
    return flow is None or isinstance(flow.settings.state_store, ours)


_load_guard = threading.Lock()


@lru_cache(maxsize=1)
def configured_app() -> Any | None:
    """The developer's app (loaded once), or None when SLACK_BOLT_APP is not set."""
    # A worker's threads race for its first requests: one loads (a factory is called once), the
    # others wait and take its app (lru_cache alone would let each of them load one).
    with _load_guard:
        return _load_configured_app()


@lru_cache(maxsize=1)
def _load_configured_app() -> Any | None:
    path = text_setting("SLACK_BOLT_APP")
    return load_app(path) if path else None


def _required_app() -> Any:
    """The developer's app; only called on the routes that exist when SLACK_BOLT_APP is set."""
    app = configured_app()
    if app is None:
        raise ImproperlyConfigured("SLACK_BOLT_APP is not set")
    return app


@lru_cache(maxsize=1)
def _sync_handler() -> Any:
    from slack_bolt.adapter.django import SlackRequestHandler

    return SlackRequestHandler(_required_app())


def handle(request: HttpRequest) -> HttpResponse:
    """Serve ``request`` with the developer's sync App (Bolt verifies the signature)."""
    response: HttpResponse = _sync_handler().handle(request)
    return response


# One event loop per process, in a daemon thread, for the developer's AsyncApp. An AsyncApp
# acknowledges first and runs the rest of a listener (say(), API calls) as a task on the loop
# that dispatched it; under a WSGI server ``async_to_sync`` would close its loop as soon as the
# response is ready and cancel that task, so a listener's work after ack() never happened.
_loop_guard = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid = 0
ASYNC_ANSWER_SECONDS = 30  # Bolt answers once ack() is called (Slack wants it within 3 s)


def _listener_loop() -> asyncio.AbstractEventLoop:
    """The process's loop (made again after a fork: threads do not survive one)."""
    global _loop, _loop_pid
    with _loop_guard:
        if _loop is None or _loop_pid != os.getpid() or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="slack-bolt-async")
            thread.daemon = True
            thread.start()
            _loop, _loop_pid = loop, os.getpid()
        return _loop


def serve_async(request: HttpRequest) -> HttpResponse:
    """Serve ``request`` with the developer's AsyncApp on the process's listener loop, so the
    listener tasks it starts outlive the response."""
    answer = asyncio.run_coroutine_threadsafe(handle_async(request), _listener_loop())
    try:
        return answer.result(timeout=ASYNC_ANSWER_SECONDS)
    except concurrent.futures.TimeoutError:
        logger.warning("the Bolt AsyncApp did not answer within %ss", ASYNC_ANSWER_SECONDS)
        return HttpResponse("the app did not answer in time", status=503)


async def handle_async(request: HttpRequest) -> HttpResponse:
    """Serve ``request`` with the developer's AsyncApp."""
    from slack_bolt.adapter.django.handler import to_django_response
    from slack_bolt.request.async_request import AsyncBoltRequest

    # The async ORM's queries run on asgiref's one executor thread of this loop, whose database
    # connection Django's request cycle never sees: without this it is never health-checked nor
    # renewed, and one lost connection (a database restart, a failover) would fail every
    # later lookup of the process. Django's own ASGI handler does the same per request.
    await sync_to_async(close_old_connections)()
    body = request.body.decode("utf-8")
    bolt_request = AsyncBoltRequest(
        body=body, query=request.META.get("QUERY_STRING", ""), headers=dict(request.headers)
    )
    bolt_response = await _required_app().async_dispatch(bolt_request)
    return to_django_response(bolt_response)


def is_async() -> bool:
    return _is_async_app(configured_app())


@receiver(setting_changed)
def _forget_app(setting: str, **kwargs: object) -> None:
    if setting.startswith("SLACK_"):  # the app is built from the Slack settings
        configured_app.cache_clear()
        _load_configured_app.cache_clear()
        _sync_handler.cache_clear()
