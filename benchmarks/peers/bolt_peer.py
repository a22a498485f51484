"""The Bolt peer: Bolt's own OAuth flow and event handling, served by Django and gunicorn.

gunicorn --config gunicorn.conf.py benchmarks.peers.bolt_peer:application
(with DJANGO_SETTINGS_MODULE=benchmarks.peers.bolt_settings, PEER_DATABASE_URL a SQLAlchemy URL,
SLACK_* pointing at the stand-in). Wired as bolt-python's examples/django/oauth_app does it,
with slack_sdk's SQLAlchemy stores in place of the example's Django-model ones:
``/slack/install`` renders Bolt's install page and sets its state cookie,
``/slack/oauth_redirect`` checks cookie and state, spends the state, calls oauth.v2.access and
auth.test, saves, and renders Bolt's success page; ``/slack/events`` is ``App.dispatch``.
Bolt's defaults are kept everywhere (state expiry, SQLAlchemy pool, authorize), except
``process_before_response=True``, set for both contestants (benchmarks/peers/ours.py says why).
"""

from __future__ import annotations

import logging
import os

from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from slack_bolt import App
from slack_bolt.adapter.django import SlackRequestHandler
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient

from benchmarks.peers.listeners import register
from benchmarks.peers.peer_stores import engine, stores

logger = logging.getLogger(__name__)


def build_app() -> App:
    client_id = os.environ["SLACK_CLIENT_ID"]
    installation_store, state_store = stores(engine(), client_id)
    app = App(
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        client=WebClient(base_url=os.environ["SLACK_API_URL"]),
        installation_store=installation_store,
        process_before_response=True,
        oauth_settings=OAuthSettings(
            client_id=client_id,
            client_secret=os.environ["SLACK_CLIENT_SECRET"],
            scopes=os.environ.get("SLACK_SCOPES", "commands,chat:write").split(","),
            redirect_uri=os.environ["PEER_REDIRECT_URI"],
            authorization_url=os.environ["SLACK_AUTHORIZE_URL"],
            state_store=state_store,
        ),
    )
    register(app)
    return app


handler = SlackRequestHandler(build_app())


@csrf_exempt
def slack_events_handler(request: HttpRequest) -> HttpResponse:
    response: HttpResponse = handler.handle(request)
    return response


def slack_oauth_handler(request: HttpRequest) -> HttpResponse:
    response: HttpResponse = handler.handle(request)
    return response


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"ok", content_type="text/plain")


urlpatterns = [
    path("slack/events", slack_events_handler, name="handle"),
    path("slack/install", slack_oauth_handler, name="install"),
    path("slack/oauth_redirect", slack_oauth_handler, name="oauth_redirect"),
    path("healthz", healthz),
]

application = get_wsgi_application()
