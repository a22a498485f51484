"""slackinstall's side of the events benchmark: ``SLACK_BOLT_APP=benchmarks.peers.ours.build_app``.

The developer's Bolt app behind our one Request URL (installations/bolt/request_url.py), on our
encrypted installation store and its default authorize (installations/bolt/authorize.py: Bolt's
own, auth.test once per token, the store read on every event), with the same listener as the
peer. ``process_before_response`` is on for every side, so a 200 means the listener has run
(its chat.postMessage done): otherwise Bolt acknowledges at once and queues the listener on a
thread pool, and events/s would count acknowledgements while the work piles up behind them.
"""

from __future__ import annotations

from typing import Any

from benchmarks.peers.listeners import register
from installations.bolt.request_url import new_bolt_app


def build_app() -> Any:
    return register(new_bolt_app(process_before_response=True))
