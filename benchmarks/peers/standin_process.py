"""The Slack stand-in in a process of its own, for the benchmarks that compare contestants.

Run by ``harness.StandIn``: starts ``SlackStandIn`` on a free loopback port, prints one JSON line
(its URL and the key its authorize form wants), then serves until its stdin closes (the
benchmark exited, however it exited). In its own process its CPU is not in the load
generator's GIL, and both contestants talk to the same one.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from slackstandin import SlackStandIn


def main() -> None:
    standin = SlackStandIn(
        client_id=os.environ["SLACK_CLIENT_ID"],
        client_secret=os.environ["SLACK_CLIENT_SECRET"],
        signing_secret=os.environ.get("SLACK_SIGNING_SECRET"),
    ).start()
    print(json.dumps({"url": standin.url, "form_key": standin.form_key}), flush=True)
    sys.stdin.read()  # returns at EOF: the parent is gone
    standin.stop()


if __name__ == "__main__":
    main()
