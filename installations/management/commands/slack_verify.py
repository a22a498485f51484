"""Check every active installation's bot token with auth.test and record its health."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from installations.encryption.fields import unreadable_summary
from installations.lifecycle.verification import (
    DEFAULT_CONCURRENCY,
    VerifyOutcome,
    count_active,
    iter_verify_active,
)
from installations.management.job_summary import add_job_options, finish, summary_line
from installations.models import Health


class Command(BaseCommand):
    help = (
        "Call auth.test for every active installation (a few at a time, waiting out Slack's "
        "rate limits), record health and granted bot scopes, and print a summary. Run it daily "
        "from cron, and after an incident. Exits 1 when Slack gave no answer about some tokens "
        "(unreachable, rate-limited, an error of its own, an unusable answer: their health is "
        "then unknown, never dead), or when a stored token cannot "
        "be decrypted with this process's keys (TOKEN_ENCRYPTION_KEYS; nothing is recorded for "
        "it). Safe to start on several hosts at once (--shard I/N splits the work). The last "
        "line is one summary for monitoring: 'slack_verify: checked=... status=ok|failed'. "
        "Never prints a token."
    )

    def add_arguments(self, parser: Any) -> None:
        add_job_options(parser, concurrency=DEFAULT_CONCURRENCY, calls="auth.test calls")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["concurrency"] < 1:
            raise CommandError("--concurrency must be at least 1")
        started = time.monotonic()
        shard = options["shard"]
        total = count_active(shard) if self.stdout.isatty() else None
        tally = _Tally()
        # One line per workspace as its check ends (no list of every outcome: memory stays flat
        # in the number of workspaces); the counts follow at the end.
        for outcome in iter_verify_active(
            actor="command:slack_verify", concurrency=options["concurrency"], shard=shard
        ):
            tally.add(outcome)
            self.stdout.write(
                f"{outcome.label}  [{outcome.workspace_id}]  {outcome.health}  "
                f"{outcome.error or '-'}"
            )
            if total is not None:
                done = tally.checked
                self.stderr.write(f"\rverified {done}/{total}", ending="" if done < total else "\n")
        if tally.checked:
            self.stdout.write("")
        self.stdout.write(f"{'outcome':<24} {'count':>5}")
        for name, count in sorted(tally.outcomes.items()):
            self.stdout.write(f"{name:<24} {count:>5}")
        self.stdout.write(f"{'total':<24} {tally.checked:>5}")
        problems = []
        if tally.unreachable:
            problems.append(
                f"Slack could not be reached for {tally.unreachable} of {tally.checked} "
                "workspace(s) or sent no usable answer; their health is unknown. Run again later."
            )
        if tally.unreadable:  # last: the line an operator must act on
            problems.append(unreadable_summary(list(tally.unreadable.elements())))
        finish(self, problems, lambda failure: tally.summary(started, shard, failed=failure))


@dataclass
class _Tally:
    """What the summary needs from the outcomes, counted as they come."""

    checked: int = 0
    ok: int = 0
    suspect: int = 0
    dead: int = 0
    unreachable: int = 0
    undecryptable: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    unreadable: Counter[str] = field(default_factory=Counter)  # key ids stored values need

    def add(self, o: VerifyOutcome) -> None:
        self.checked += 1
        self.outcomes[o.outcome] += 1
        self.ok += o.outcome == "ok"
        self.suspect += o.health == Health.SUSPECT
        self.dead += o.health == Health.DEAD
        self.unreachable += not o.reachable
        self.undecryptable += bool(o.unreadable)
        self.unreadable.update(o.unreadable)

    def summary(self, started: float, shard: Any, *, failed: bool) -> str:
        return summary_line(
            "slack_verify",
            started,
            shard,
            failed,
            checked=self.checked,
            ok=self.ok,
            suspect=self.suspect,
            dead=self.dead,
            unknown=self.unreachable,
            undecryptable=self.undecryptable,
            errors=self.unreachable + self.undecryptable,
        )
