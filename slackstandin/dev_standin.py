"""The local Slack stand-in for development: found running, or started on demand.

With DJANGO_DEBUG on and no SLACK_CLIENT_ID, settings.py points every Slack URL at the stand-in
on 127.0.0.1:SLACK_STANDIN_PORT with the development app's credentials (kept in
``.dev-secrets.json``), so development tokens never reach slack.com. This module makes sure
something answers there: ``make run`` (installations/devserver.py) and the manage.py commands
that call Slack use a stand-in already running with those credentials, or start one in a
background thread for as long as they run.

A stand-in started here keeps what it issued (tokens, installs) in ``.standin/state.json``
(git-ignored, mode 0600; the tokens are the stand-in's obviously fake ones) and picks it up on
the next start, so `slack_verify` after `make run` has stopped, or a restarted `make run`, finds
the tokens it issued still alive instead of marking every development workspace dead.

A port held by something else is reported with the process that most likely holds it (from
/proc, else ``ss``), never silently replaced.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from slackstandin import SlackStandIn
from slackstandin.state import Install, TokenRecord

STANDIN_HOST = "127.0.0.1"
# Commands that call Slack (the admin's actions run inside runserver); others never start it.
COMMANDS_THAT_CALL_SLACK = frozenset(
    {"runserver", "shell", "slack_add_token", "slack_refresh_tokens", "slack_verify"}
)
SNAPSHOT_SECONDS = 2.0
_savers: weakref.WeakKeyDictionary[SlackStandIn, _Snapshots] = weakref.WeakKeyDictionary()


class StandInUnavailable(Exception):
    """The stand-in's port is held by something else; the message says by what."""


@dataclass(frozen=True)
class StandInPlan:
    """Where the development stand-in lives and which app it plays."""

    port: int
    client_id: str
    client_secret: str
    signing_secret: str
    events_url: str
    state_file: Path
    host: str = STANDIN_HOST

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def plan_from_settings() -> StandInPlan:
    from django.conf import settings

    return StandInPlan(
        port=settings.SLACK_STANDIN_PORT,
        client_id=settings.SLACK_CLIENT_ID,
        client_secret=settings.SLACK_CLIENT_SECRET,
        signing_secret=settings.SLACK_SIGNING_SECRET,
        events_url=f"http://127.0.0.1:{settings.DEV_SERVER_PORT}/slack/events",
        state_file=Path(settings.BASE_DIR) / ".standin" / "state.json",
    )


# --- finding one ----------------------------------------------------------------------------------
def probe(plan: StandInPlan) -> str:
    """ "ours" (a stand-in for our client id), "foreign" (another stand-in), "other", or "free"."""
    query = urlencode(
        {"client_id": plan.client_id, "scope": "commands", "redirect_uri": "http://127.0.0.1/"}
    )
    connection = http.client.HTTPConnection(plan.host, plan.port, timeout=3)
    try:
        connection.request("GET", "/oauth/v2/authorize?" + query)
        response = connection.getresponse()
        response.read()
    except ConnectionRefusedError:
        return "free"
    except (OSError, http.client.HTTPException):
        return "other"
    finally:
        connection.close()
    if not (response.getheader("Server") or "").startswith("SlackStandIn"):
        return "other"
    # The authorize page refuses a client id that is not the stand-in's own.
    return "ours" if response.status == 200 else "foreign"


def ensure_running(plan: StandInPlan) -> SlackStandIn | None:
    """None when a stand-in for our app already answers; else a started one (stop it later)."""
    for attempt in (1, 2):
        found = probe(plan)
        if found == "ours":
            return None
        if found == "foreign":
            raise StandInUnavailable(
                f"a Slack stand-in for another client id runs on port {plan.port} "
                f"({describe_port_holder(plan.port)}); stop it or set SLACK_STANDIN_PORT"
            )
        if found == "other":
            raise StandInUnavailable(
                f"{describe_port_holder(plan.port)}: stop it or set SLACK_STANDIN_PORT "
                "to a free port"
            )
        try:
            return start(plan)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or attempt == 2:
                raise StandInUnavailable(
                    f"cannot listen on {plan.host}:{plan.port} ({exc.strerror or exc})"
                ) from None
            # Someone bound it between the probe and now: look again.
    return None  # pragma: no cover (the loop always returns or raises)


@contextlib.contextmanager
def standin_for_command(argv: Sequence[str]) -> Iterator[None]:
    """Around a manage.py command: the stand-in answers while a Slack-calling command runs."""
    command = argv[1] if len(argv) > 1 else ""
    from django.conf import settings

    if command not in COMMANDS_THAT_CALL_SLACK or not getattr(
        settings, "SLACK_USES_STANDIN", False
    ):
        yield
        return
    plan = plan_from_settings()
    owned = ensure_running(plan)
    if owned is not None:
        print(
            f"Started the local Slack stand-in on {plan.url}/ for this command "
            "(DJANGO_DEBUG on, no SLACK_CLIENT_ID).",
            file=sys.stderr,
            flush=True,
        )
    try:
        yield
    finally:
        if owned is not None:
            stop(owned, plan)


# --- running one ----------------------------------------------------------------------------------
def start(plan: StandInPlan) -> SlackStandIn:
    standin = SlackStandIn(
        client_id=plan.client_id,
        client_secret=plan.client_secret,
        host=plan.host,
        port=plan.port,
        events_url=plan.events_url,
        signing_secret=plan.signing_secret,
    )
    restore(standin, plan.state_file)
    standin.start()
    saver = _Snapshots(standin, plan.state_file)
    saver.start()
    _savers[standin] = saver
    return standin


def stop(standin: SlackStandIn, plan: StandInPlan) -> None:
    """Save what it issued, then stop it."""
    saver = _savers.pop(standin, None)
    if saver is not None:
        saver.stop()
    with contextlib.suppress(OSError):
        save(standin, plan.state_file)
    standin.stop()


def snapshot(standin: SlackStandIn) -> dict[str, Any]:
    state = standin.state
    with state.lock:
        return {
            "client_id": standin.client_id,
            "tokens": [dataclasses.asdict(record) for record in state.tokens.values()],
            "installs": [dataclasses.asdict(install) for install in state.installs],
        }


def save(standin: SlackStandIn, path: Path) -> None:
    path.parent.mkdir(mode=0o700, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(snapshot(standin), handle)
    os.replace(temporary, path)


def restore(standin: SlackStandIn, path: Path) -> None:
    """Tokens and installs from an earlier run for the same client id; nothing otherwise."""
    try:
        data = json.loads(path.read_text())
        if data.get("client_id") != standin.client_id:
            return
        tokens = [TokenRecord(**item) for item in data["tokens"]]
        installs = [Install(**item) for item in data["installs"]]
    except (OSError, ValueError, KeyError, TypeError):
        return  # no snapshot, or one from another version of the stand-in: start empty
    with standin.state.lock:
        standin.state.tokens.update({record.token: record for record in tokens})
        standin.state.installs.extend(installs)


class _Snapshots(threading.Thread):
    """Saves the stand-in's state when it changed, so a killed `make run` loses little."""

    def __init__(self, standin: SlackStandIn, path: Path) -> None:
        super().__init__(name="slack-standin-snapshots", daemon=True)
        self.standin = standin
        self.path = path
        self.stopped = threading.Event()

    def run(self) -> None:
        last = json.dumps(snapshot(self.standin))
        while not self.stopped.wait(SNAPSHOT_SECONDS):
            current = json.dumps(snapshot(self.standin))
            if current != last:
                with contextlib.suppress(OSError):
                    save(self.standin, self.path)
                last = current

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)


# --- who holds a port ---------------------------------------------------------------------------
def port_is_free(port: int, host: str = STANDIN_HOST) -> bool:
    """True when a server could listen there now (as runserver and the stand-in would: with
    SO_REUSEADDR, so connections of a just-stopped server in TIME_WAIT do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def describe_port_holder(port: int) -> str:
    """'port 8001 is in use by python -m slackstandin.devserver (pid 123)', or a plain line."""
    holder = _holder_from_proc(port) or _holder_from_ss(port)
    if holder is None:
        return f"port {port} is in use (by a process this user cannot see)"
    pid, command = holder
    return f"port {port} is in use by {command} (pid {pid})"


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local_address is HEXIP:HEXPORT; state 0A is LISTEN; the inode is field 9.
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
                inodes.add(fields[9])
    return inodes


def _holder_from_proc(port: int) -> tuple[int, str] | None:
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    wanted = {f"socket:[{inode}]" for inode in inodes}
    for pid_dir in Path("/proc").iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            for fd in (pid_dir / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    return int(pid_dir.name), _command_of(int(pid_dir.name))
        except OSError:
            continue  # another user's process, or gone
    return None


def _holder_from_ss(port: int) -> tuple[int, str] | None:
    ss = shutil.which("ss")
    if ss is None:
        return None
    try:
        output = subprocess.run(  # noqa: S603 (fixed arguments, absolute path)
            [ss, "-ltnpH", f"sport = :{port}"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'users:\(\("([^"]+)",pid=(\d+)', output)
    return (int(match.group(2)), match.group(1)) if match else None


def _command_of(pid: int) -> str:
    """The program and its leading words, stopping at the first option (options may hold
    secrets, e.g. ``--client-secret``)."""
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "an unknown program"
    shown: list[str] = []
    for word in (w.decode(errors="replace") for w in words if w):
        if word.startswith("-") and word != "-m":
            break
        shown.append(os.path.basename(word) if not shown else word)
        if len(shown) == 4:
            break
    return " ".join(shown) or "an unknown program"
