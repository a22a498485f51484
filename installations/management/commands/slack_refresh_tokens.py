"""Refresh rotating bot and user tokens that expire soon (token rotation)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from installations.conf import slack_config
from installations.encryption.fields import unreadable_summary
from installations.lifecycle.rotation import UNDECRYPTABLE, refresh_due
from installations.management.job_summary import add_shard_option, summary_line


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
        "monitoring: 'slack_refresh_tokens: due=... status=ok|failed'. Never prints a token."
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
        add_shard_option(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        within = options["within"]
        if within is None:
            within = slack_config().token_rotation_minutes
        if within < 0:
            raise CommandError("--within must be 0 or more minutes")
        outcomes = refresh_due(
            within_minutes=within, actor="command:slack_refresh_tokens", shard=options["shard"]
        )
        for o in outcomes:
            self.stdout.write(f"{o.label}  [{o.workspace_id}]: {o.message}")
        refreshed = sum(o.refreshed for o in outcomes)
        self.stdout.write(
            f"{refreshed} workspace(s) refreshed, {len(outcomes)} due within {within} minutes"
        )
        problems = []
        failed = [o for o in outcomes if o.error and o.error != UNDECRYPTABLE]
        if failed:
            problems.append(
                f"{len(failed)} workspace(s) could not be refreshed: "
                + ", ".join(f"{o.label} ({o.error})" for o in failed)
            )
        unreadable = [kid for o in outcomes for kid in o.unreadable]
        if unreadable:  # last: the line an operator must act on
            problems.append(unreadable_summary(unreadable))
        for line in problems[:-1]:
            self.stderr.write(line)
        self.stdout.write(
            summary_line(
                "slack_refresh_tokens",
                started,
                options["shard"],
                bool(problems),
                due=len(outcomes),
                refreshed=refreshed,
                skipped=sum(o.skipped for o in outcomes),
                failed=len(failed),
                undecryptable=sum(bool(o.unreadable) for o in outcomes),
                errors=len(failed) + sum(bool(o.unreadable) for o in outcomes),
            )
        )
        if problems:
            raise CommandError(problems[-1])
