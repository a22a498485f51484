"""An AsyncApp built at import time (SLACK_BOLT_APP names the object, not a factory)."""

from __future__ import annotations

from installations.bolt.request_url import new_async_bolt_app

app = new_async_bolt_app()
