"""`make run`: the development server on http://127.0.0.1:8000 (DJANGO_DEBUG on only).

When no Slack app is configured (no SLACK_CLIENT_ID in the environment or .env), the local Slack
stand-in answers on http://127.0.0.1:8001, with the development app's client id and secret
generated once into ``.dev-secrets.json`` (so every restart is the same app, and a workspace
installed yesterday is the same row today). A stand-in already running there for that app is
used as it is; otherwise one starts in a background thread (installations/dev_standin.py). Its
credentials and URLs also go into ``os.environ`` before Django reads its settings, so a newcomer
can click through the whole install flow without a Slack app. runserver runs without the
autoreloader while this process owns the stand-in (a reloaded child would otherwise start a
second one or lose its tokens).

Ports: PORT (8000) for the site, SLACK_STANDIN_PORT (8001) for the stand-in. A busy port is
reported with the process that most likely holds it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

import environ

from slackstandin import SlackStandIn, dev_standin

logger = logging.getLogger(__name__)

BASE_DIR = Path(__file__).resolve().parent.parent
STANDIN_HOST = dev_standin.STANDIN_HOST
STANDIN_PORT: int | None = None  # None: SLACK_STANDIN_PORT, else 8001 (tests set 0: any port)
SERVER_HOST = "127.0.0.1"


def read_dotenv() -> None:
    """Load .env the way settings.py does (existing variables win), so both agree."""
    if (BASE_DIR / ".env").is_file():
        environ.Env.read_env(BASE_DIR / ".env")


def debug_enabled() -> bool:
    return bool(environ.Env().bool("DJANGO_DEBUG", default=False))


def _port(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value.isdigit() else default


def server_port() -> int:
    return _port("PORT", 8000)


def standin_port() -> int:
    return STANDIN_PORT if STANDIN_PORT is not None else _port("SLACK_STANDIN_PORT", 8001)


def events_url() -> str:
    return f"http://{SERVER_HOST}:{server_port()}/slack/events"


def dev_secrets() -> dict[str, str]:
    from slackinstall.dev_secrets import load_or_create

    return load_or_create(BASE_DIR / ".dev-secrets.json")


def signing_secret() -> str:
    """The configured signing secret, else the generated development one settings.py uses."""
    return os.environ.get("SLACK_SIGNING_SECRET", "") or dev_secrets()["SLACK_SIGNING_SECRET"]


def standin_plan() -> dev_standin.StandInPlan:
    secrets = dev_secrets()
    return dev_standin.StandInPlan(
        port=standin_port(),
        client_id=secrets["SLACK_STANDIN_CLIENT_ID"],
        client_secret=secrets["SLACK_STANDIN_CLIENT_SECRET"],
        signing_secret=signing_secret(),
        events_url=events_url(),
        state_file=BASE_DIR / ".standin" / "state.json",
    )


def export_standin(plan: dev_standin.StandInPlan, port: int) -> None:
    """What settings.py reads: the stand-in's app and URLs."""
    url = f"http://{plan.host}:{port}"
    os.environ["SLACK_CLIENT_ID"] = plan.client_id
    os.environ["SLACK_CLIENT_SECRET"] = plan.client_secret
    os.environ["SLACK_API_URL"] = url + "/api/"
    os.environ["SLACK_AUTHORIZE_URL"] = url + "/oauth/v2/authorize"
    os.environ["SLACK_SIGNIN_AUTHORIZE_URL"] = url + "/openid/connect/authorize"
    os.environ["SLACK_SIGNIN_JWKS_URL"] = url + "/openid/connect/keys"


def start_standin() -> SlackStandIn:
    """Start the stand-in and export what settings.py reads; returns the running stand-in."""
    plan = standin_plan()
    standin = dev_standin.start(plan)
    export_standin(plan, standin.port)
    return standin


def ensure_standin() -> tuple[dev_standin.StandInPlan, SlackStandIn | None]:
    """A stand-in for the development app: the running one (None) or a started one."""
    plan = standin_plan()
    standin = dev_standin.ensure_running(plan)
    export_standin(plan, standin.port if standin is not None else plan.port)
    return plan, standin


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "slackinstall.settings")
    read_dotenv()
    use_standin = not os.environ.get("SLACK_CLIENT_ID", "").strip()
    if use_standin and not debug_enabled():
        print(
            "devserver: SLACK_CLIENT_ID is not set and DJANGO_DEBUG is off: "
            "refusing to start the local Slack stand-in (development only)",
            file=sys.stderr,
        )
        return 2
    port = server_port()
    if not dev_standin.port_is_free(port, SERVER_HOST):
        print(
            f"devserver: cannot serve on {SERVER_HOST}:{port}: "
            f"{dev_standin.describe_port_holder(port)}; stop it or set PORT",
            file=sys.stderr,
        )
        return 1
    plan: dev_standin.StandInPlan | None = None
    standin: SlackStandIn | None = None
    if use_standin:
        try:
            plan, standin = ensure_standin()
        except dev_standin.StandInUnavailable as exc:
            print(
                f"devserver: cannot start the Slack stand-in: {exc} "
                "(or set SLACK_CLIENT_ID to use a real Slack app)",
                file=sys.stderr,
            )
            return 1
        found = "" if standin is not None else " (already running)"
        print(
            f"Using the local Slack stand-in at {plan.url}/{found} "
            f"(no SLACK_CLIENT_ID set); install at http://{SERVER_HOST}:{port}/slack/install",
            flush=True,
        )

    from django.core.management import execute_from_command_line

    from slackinstall.startup import exit_if_misconfigured

    args = [sys.argv[0], "runserver", f"{SERVER_HOST}:{port}"]
    if standin is not None:
        args.append("--noreload")
        # A closed terminal or `kill` ends the server like Ctrl-C does, so the stand-in saves
        # what it issued (the finally below) instead of vanishing mid-write.
        for stop_signal in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(stop_signal, _exit_cleanly)
    try:
        exit_if_misconfigured()
        execute_from_command_line(args)
    finally:
        if standin is not None and plan is not None:
            dev_standin.stop(standin, plan)
    return 0


if __name__ == "__main__":
    sys.exit(main())
