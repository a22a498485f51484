"""Refresh rotating bot and user tokens that expire soon (token rotation)."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import Error

from installations.conf import slack_config
from installations.encryption.fields import unreadable_summary
from installations.lifecycle.rotation import (
    DEFAULT_CONCURRENCY,
    UNDECRYPTABLE,
    RefreshOutcome,
    count_due,
    iter_refresh_due,
)
from installations.management.job_summary import add_job_options, finish, summary_line


class Command(BaseCommand):
    help = (
        "Refresh rotating tokens (token rotation on) that expire within --within minutes, "
        "bot and user tokens separately, each refresh token spent once. Run it every 30-60 "
        "minutes from cron when the Slack app has token rotation on; two runs at once share the "
        "work. Exits 1 when a refresh failed (a refused refresh token marks the workspace as "
        "needing a reinstall), or when a stored token cannot be decrypted with this process's "
        "keys (TOKEN_ENCRYPTION_KEYS): nothing is changed for it and it stays due for the next "
        "run. Safe to start on several hosts at once: every refresh token is claimed before it "
        "is spent, and --shard I/N splits the work. The last line is one summary for "
        "monitoring: 'slack_refresh_tokens: due=... status=ok|failed'. On SIGTERM or SIGINT it "
        "stops claiming, finishes the refreshes already sent to Slack (storing their new "
        "tokens), says how many workspaces are left for the next run and exits 1; a second "
        "signal stops it at once. Never prints a token."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--within",
            type=int,
            default=None,
            metavar="MINUTES",
            help="refresh tokens expiring within this many minutes "
            "(default SLACK_TOKEN_ROTATION_MINUTES, 120)",
        )
        add_job_options(parser, concurrency=DEFAULT_CONCURRENCY, calls="refreshes")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        within = options["within"]
        within = slack_config().token_rotation_minutes if within is None else within
        if within < 0:
            raise CommandError("--within must be 0 or more minutes")
        if options["concurrency"] < 1:
            raise CommandError("--concurrency must be at least 1")
        tally = _Tally()
        with _stop_on_signals() as stop:
            # One line per workspace as it ends (no list of every outcome: memory stays flat).
            for outcome in iter_refresh_due(
                within_minutes=within,
                actor="command:slack_refresh_tokens",
                shard=options["shard"],
                concurrency=options["concurrency"],
                stop=stop,
            ):
                tally.add(outcome)
                self.stdout.write(f"{outcome.label}  [{outcome.workspace_id}]: {outcome.message}")
        self.stdout.write(
            f"{tally.refreshed} workspace(s) refreshed, {tally.due} due within {within} minutes"
        )
        problems = []
        if tally.failed:
            problems.append(
                f"{len(tally.failed)} workspace(s) could not be refreshed: "
                + ", ".join(tally.failed)
            )
        if tally.unreadable:
            problems.append(unreadable_summary(list(tally.unreadable.elements())))
        if stop.by:  # last: the line an operator must act on
            problems.append(_stopped_line(stop.by, within, options["shard"]))
        finish(
            self,
            problems,
            lambda failure: summary_line(
                "slack_refresh_tokens",
                started,
                options["shard"],
                failure,
                due=tally.due,
                refreshed=tally.refreshed,
                skipped=tally.skipped,
                failed=len(tally.failed),
                undecryptable=tally.undecryptable,
                errors=len(tally.failed) + tally.undecryptable,
            ),
        )


class _Stop(threading.Event):
    """Set by the first SIGTERM or SIGINT; ``by``: its name ("" until then)."""

    by = ""


@contextmanager
def _stop_on_signals() -> Iterator[_Stop]:
    """While the block runs, SIGTERM and SIGINT (systemd's and Kubernetes' stop, Ctrl-C) set the
    event instead of ending the process: a refresh token Slack already spent must not die with
    its new pair unstored. The first signal puts the previous handlers back, so a second one
    stops the process at once. Outside the main thread (no signals there) nothing is changed."""
    stop = _Stop()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    caught = (signal.SIGTERM, signal.SIGINT)
    previous = {number: signal.getsignal(number) for number in caught}

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    def handle(number: int, frame: FrameType | None) -> None:
        stop.by = signal.Signals(number).name
        stop.set()
        restore()

    for number in caught:
        signal.signal(number, handle)
    try:
        yield stop
    finally:
        restore()


def _stopped_line(name: str, within: int, shard: Any) -> str:
    """The line a stopped run ends with: what stopped it, and how much is left for the next."""
    try:
        left = f"{count_due(within, shard)} workspace(s) left for the next run"
    except Error as exc:
        left = f"the workspaces not refreshed are left for the next run ({type(exc).__name__})"
    return (
        f"stopped by {name}: the refreshes already sent to Slack were finished; nothing more "
        f"was started; {left}"
    )


@dataclass
class _Tally:
    """What the summary needs from the outcomes, counted as they come."""

    due: int = 0
    refreshed: int = 0
    skipped: int = 0
    undecryptable: int = 0
    failed: list[str] = field(default_factory=list)  # "label (code)", one per failed workspace
    unreadable: Counter[str] = field(default_factory=Counter)  # key ids stored values need

    def add(self, o: RefreshOutcome) -> None:
        self.due += 1
        self.refreshed += o.refreshed
        self.skipped += o.skipped
        self.undecryptable += bool(o.unreadable)
        self.unreadable.update(o.unreadable)
        if o.error and o.error != UNDECRYPTABLE:
            self.failed.append(f"{o.label} ({o.error})")
