"""`make run`: the development server on http://127.0.0.1:8000 (DJANGO_DEBUG on only).

When no Slack app is configured (no SLACK_CLIENT_ID in the environment or .env), the local Slack
stand-in starts on http://127.0.0.1:8001 in a background thread, and its credentials and URLs go
into ``os.environ`` before Django reads its settings, so a newcomer can click through the whole
install flow without a Slack app. runserver runs without the autoreloader: one process owns the
stand-in (a reloaded child would otherwise start a second one or lose its tokens).
"""

from __future__ import annotations

import logging
import os
import secrets
import sys
from pathlib import Path

import environ

from installations.standin import SlackStandIn

logger = logging.getLogger(__name__)

BASE_DIR = Path(__file__).resolve().parent.parent
STANDIN_HOST = "127.0.0.1"
STANDIN_PORT = 8001
SERVER_ADDRESS = "127.0.0.1:8000"
EVENTS_URL = f"http://{SERVER_ADDRESS}/slack/events"


def read_dotenv() -> None:
    """Load .env the way settings.py does (existing variables win), so both agree."""
    if (BASE_DIR / ".env").is_file():
        environ.Env.read_env(BASE_DIR / ".env")


def debug_enabled() -> bool:
    return environ.Env().bool("DJANGO_DEBUG", default=False)


def signing_secret() -> str:
    """The configured signing secret, else the generated development one settings.py uses."""
    configured = os.environ.get("SLACK_SIGNING_SECRET", "")
    if configured:
        return configured
    from slackinstall.dev_secrets import load_or_create

    return load_or_create(BASE_DIR / ".dev-secrets.json")["SLACK_SIGNING_SECRET"]


def start_standin() -> SlackStandIn:
    """Start the stand-in and export what settings.py reads; returns the running stand-in."""
    # Shaped like a real client id ("<digits>.<digits>"), fresh each run: nothing to leak.
    client_id = f"{secrets.randbelow(10**10)}.{secrets.randbelow(10**12)}"
    standin = SlackStandIn(
        client_id=client_id,
        client_secret=secrets.token_hex(16),
        host=STANDIN_HOST,
        port=STANDIN_PORT,
        events_url=EVENTS_URL,
        signing_secret=signing_secret(),
    ).start()
    os.environ["SLACK_CLIENT_ID"] = standin.client_id
    os.environ["SLACK_CLIENT_SECRET"] = standin.client_secret
    os.environ["SLACK_API_URL"] = standin.api_url
    os.environ["SLACK_AUTHORIZE_URL"] = standin.authorize_url
    return standin


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slackinstall.settings")
    read_dotenv()
    standin: SlackStandIn | None = None
    if not os.environ.get("SLACK_CLIENT_ID"):
        if not debug_enabled():
            print(
                "devserver: SLACK_CLIENT_ID is not set and DJANGO_DEBUG is off: "
                "refusing to start the local Slack stand-in (development only)",
                file=sys.stderr,
            )
            return 2
        try:
            standin = start_standin()
        except OSError as exc:
            print(
                f"devserver: cannot start the Slack stand-in on {STANDIN_HOST}:{STANDIN_PORT} "
                f"({exc.strerror or exc}); set SLACK_CLIENT_ID to use a real Slack app",
                file=sys.stderr,
            )
            return 1
        print(
            f"Using the local Slack stand-in at http://{STANDIN_HOST}:{STANDIN_PORT}/ "
            "(no SLACK_CLIENT_ID set); install at "
            f"http://{SERVER_ADDRESS}/slack/install",
            flush=True,
        )
    from django.core.management import execute_from_command_line

    args = [sys.argv[0], "runserver", SERVER_ADDRESS]
    if standin is not None:
        args.append("--noreload")
    try:
        execute_from_command_line(args)
    finally:
        if standin is not None:
            standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
