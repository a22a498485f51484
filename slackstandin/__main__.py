"""``python -m slackstandin``: run the stand-in on its own (DJANGO_DEBUG=true only)."""

from __future__ import annotations

import argparse
import os
import sys
import threading

from .server import SlackStandIn

TRUE_VALUES = ("1", "true", "yes", "on")


def debug_enabled() -> bool:
    """The stand-in is a development tool: it only runs where DJANGO_DEBUG is on."""
    return os.environ.get("DJANGO_DEBUG", "").strip().lower() in TRUE_VALUES


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m slackstandin",
        description="Local Slack stand-in (authorize page, oauth.v2.access, auth.test, ...).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--events-url", default=None)
    parser.add_argument("--signing-secret", default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    if not debug_enabled():
        print(
            "standin: refusing to start: DJANGO_DEBUG is not true (development tool only)",
            file=sys.stderr,
        )
        return 2
    args = parse_args(argv)
    standin = SlackStandIn(
        client_id=args.client_id,
        client_secret=args.client_secret,
        host=args.host,
        port=args.port,
        events_url=args.events_url,
        signing_secret=args.signing_secret,
    ).start()
    print(f"Slack stand-in on {standin.url} (api {standin.api_url}); Ctrl-C stops it", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
