"""A plain sync Bolt ``App`` on our installation store, built without ``new_bolt_app``."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from installations.conf import slack_config
from installations.store import DjangoInstallationStore


def build_sync_app() -> Any:
    return App(
        signing_secret=slack_config().signing_secret,
        installation_store=DjangoInstallationStore(),
        oauth_flow=None,
    )
