"""The Bolt peer: Bolt's own OAuth flow and event handling, served by Django and gunicorn.

gunicorn --config gunicorn.conf.py benchmarks.peers.bolt_peer:application
(with DJANGO_SETTINGS_MODULE=benchmarks.peers.bolt_settings, PEER_DATABASE_URL a SQLAlchemy URL,
SLACK_* pointing at the stand-in). Wired as bolt-python's examples/django/oauth_app does it,
with slack_sdk's SQLAlchemy stores in place of the example's Django-model ones (or, with
``PEER_STORES=django``, those, as the example has them: bolt_settings.py):
``/slack/install`` renders Bolt's install page and sets its state cookie,
``/slack/oauth_redirect`` checks cookie and state, spends the state, calls oauth.v2.access and
auth.test, saves, and renders Bolt's success page; ``/slack/events`` is ``App.dispatch``.
Bolt's defaults are kept everywhere (state expiry, SQLAlchemy pool), except
``process_before_response=True``, set for both contestants (benchmarks/peers/ours.py says why),
and the authorize: ``/slack/events`` is what a Bolt user who cares about speed runs,
``InstallationStoreAuthorize(cache_enabled=True)`` (the store read on every event, each token's
auth.test answer remembered); ``/slack/events/default-authorize`` is the same app with Bolt's
default authorize (auth.test on every event), reported beside it.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from slack_bolt import App
from slack_bolt.adapter.django import SlackRequestHandler
from slack_bolt.authorization.authorize import InstallationStoreAuthorize
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.oauth import InstallationStore, OAuthStateStore

from benchmarks.peers.listeners import register
from benchmarks.peers.peer_stores import STATE_EXPIRATION_SECONDS, engine, stores

logger = logging.getLogger(__name__)


def peer_stores(client_id: str) -> tuple[InstallationStore, OAuthStateStore]:
    """slack_sdk's SQLAlchemy stores, or with ``PEER_STORES=django`` the Django-model ones of
    bolt-python's examples/django (bolt_settings.py)."""
    if os.environ.get("PEER_STORES") == "django":
        from benchmarks.peers.example_app.stores import (
            DjangoInstallationStore,
            DjangoOAuthStateStore,
        )

        return (
            DjangoInstallationStore(client_id=client_id, logger=logger),
            DjangoOAuthStateStore(expiration_seconds=STATE_EXPIRATION_SECONDS, logger=logger),
        )
    return stores(engine(), client_id)


def build_app(*, cache_enabled: bool) -> App:
    client_id, client_secret = os.environ["SLACK_CLIENT_ID"], os.environ["SLACK_CLIENT_SECRET"]
    installation_store, state_store = peer_stores(client_id)
    client = WebClient(base_url=os.environ["SLACK_API_URL"])
    # None: Bolt's default, built from the OAuth settings. App takes an Authorize instance
    # (it checks isinstance) though its annotation names a plain function, as new_bolt_app does.
    authorize: Any = None
    if cache_enabled:
        authorize = InstallationStoreAuthorize(
            logger=logger,
            installation_store=installation_store,
            client_id=client_id,
            client_secret=client_secret,
            client=client,
            cache_enabled=True,
        )
    app = App(
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        client=client,
        installation_store=installation_store,
        authorize=authorize,
        process_before_response=True,
        oauth_settings=OAuthSettings(
            client_id=client_id,
            client_secret=client_secret,
            scopes=os.environ.get("SLACK_SCOPES", "commands,chat:write").split(","),
            redirect_uri=os.environ["PEER_REDIRECT_URI"],
            authorization_url=os.environ["SLACK_AUTHORIZE_URL"],
            state_store=state_store,
        ),
    )
    register(app)
    return app


application = get_wsgi_application()  # Django set up first: the example's stores are models
handler = SlackRequestHandler(build_app(cache_enabled=True))
default_authorize_handler = SlackRequestHandler(build_app(cache_enabled=False))


@csrf_exempt
def slack_events_handler(request: HttpRequest) -> HttpResponse:
    response: HttpResponse = handler.handle(request)
    return response


@csrf_exempt
def default_authorize_events_handler(request: HttpRequest) -> HttpResponse:
    response: HttpResponse = default_authorize_handler.handle(request)
    return response


def slack_oauth_handler(request: HttpRequest) -> HttpResponse:
    response: HttpResponse = handler.handle(request)
    return response


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [
    path("slack/events", slack_events_handler, name="handle"),
    path("slack/events/default-authorize", default_authorize_events_handler),
    path("slack/install", slack_oauth_handler, name="install"),
    path("slack/oauth_redirect", slack_oauth_handler, name="oauth_redirect"),
    path("healthz", healthz),
]
