"""Check every active installation's bot token with auth.test and record its health."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from installations.encryption.fields import unreadable_summary
from installations.lifecycle.verification import VerifyOutcome, verify_active
from installations.management.job_summary import add_shard_option, summary_line
from installations.models import Health


class Command(BaseCommand):
    help = (
        "Call auth.test for every active installation (a few at a time, waiting out Slack's "
        "rate limits), record health and granted bot scopes, and print a summary. Run it daily "
        "from cron, and after an incident. Exits 1 when Slack could not be reached for some "
        "workspaces (their health is then unknown, never dead), or when a stored token cannot "
        "be decrypted with this process's keys (TOKEN_ENCRYPTION_KEYS; nothing is recorded for "
        "it). Safe to start on several hosts at once (--shard I/N splits the work). The last "
        "line is one summary for monitoring: 'slack_verify: checked=... status=ok|failed'. "
        "Never prints a token."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--concurrency", type=int, default=8, help="auth.test calls at once (default 8)"
        )
        add_shard_option(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["concurrency"] < 1:
            raise CommandError("--concurrency must be at least 1")
        started = time.monotonic()
        show_progress = self.stdout.isatty()

        def progress(done: int, total: int) -> None:
            self.stderr.write(f"\rverified {done}/{total}", ending="" if done < total else "\n")

        outcomes = verify_active(
            actor="command:slack_verify",
            concurrency=options["concurrency"],
            progress=progress if show_progress else None,
            shard=options["shard"],
        )
        counts = Counter(outcome.outcome for outcome in outcomes)
        self.stdout.write(f"{'outcome':<24} {'count':>5}")
        for name, count in sorted(counts.items()):
            self.stdout.write(f"{name:<24} {count:>5}")
        self.stdout.write(f"{'total':<24} {len(outcomes):>5}")
        if outcomes:
            self.stdout.write("")
        for o in outcomes:
            self.stdout.write(f"{o.label}  [{o.workspace_id}]  {o.health}  {o.error or '-'}")
        unreachable = sum(not o.reachable for o in outcomes)
        problems = []
        if unreachable:
            problems.append(
                f"Slack could not be reached for {unreachable} of {len(outcomes)} workspace(s) "
                "or sent no usable answer; their health is unknown. Run again later."
            )
        unreadable = [kid for o in outcomes for kid in o.unreadable]
        if unreadable:  # last: the line an operator must act on
            problems.append(unreadable_summary(unreadable))
        for line in problems[:-1]:
            self.stderr.write(line)
        self.stdout.write(_summary(outcomes, started, options["shard"], failed=bool(problems)))
        if problems:
            raise CommandError(problems[-1])


def _summary(outcomes: list[VerifyOutcome], started: float, shard: Any, *, failed: bool) -> str:
    unreachable = sum(not o.reachable for o in outcomes)
    undecryptable = sum(bool(o.unreadable) for o in outcomes)
    return summary_line(
        "slack_verify",
        started,
        shard,
        failed,
        checked=len(outcomes),
        ok=sum(o.outcome == "ok" for o in outcomes),
        suspect=sum(o.health == Health.SUSPECT for o in outcomes),
        dead=sum(o.health == Health.DEAD for o in outcomes),
        unknown=unreachable,
        undecryptable=undecryptable,
        errors=unreachable + undecryptable,
    )
