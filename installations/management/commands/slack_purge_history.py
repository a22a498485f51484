"""manage.py slack_purge_history: enforce SLACK_RETENTION_DAYS (docs/privacy.md)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from installations.conf import RETENTION_WORDS, retention_days, valid_days
from installations.lifecycle.erasure import PurgeOutcome, purge_history
from installations.management.job_summary import summary_line


class Command(BaseCommand):
    help = (
        "Erase workspaces uninstalled more than SLACK_RETENTION_DAYS ago (leaving anonymous "
        "tombstones), and lifecycle events and replaced installation history older than that. "
        "Works in batches, each committed on its own: stopping it loses nothing and the next "
        "run carries on. Unset SLACK_RETENTION_DAYS keeps everything. Run it daily."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, help="this run only: instead of the setting")
        parser.add_argument("--batch-size", type=int, default=500, help="rows per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        days = self._days(options["days"])
        totals = PurgeOutcome()
        if days:
            for progress in purge_history(days, batch_size=options["batch_size"]):
                totals = progress
            self.stdout.write(f"Kept {days} day(s) of history; erased what was older.")
        else:
            self.stdout.write("SLACK_RETENTION_DAYS is not set: everything is kept.")
        self.stdout.write(
            summary_line(
                "slack_purge_history",
                started,
                None,
                False,
                workspaces_forgotten=totals.workspaces_forgotten,
                events_deleted=totals.events_deleted,
                installations_deleted=totals.installations_deleted,
            )
        )

    def _days(self, option: int | None) -> int | None:
        """--days for this run, else SLACK_RETENTION_DAYS; a CommandError for a value that is
        no retention (nothing is erased then)."""
        if option is not None:
            if valid_days(option) is None:
                raise CommandError(f"--days must be {RETENTION_WORDS}")
            return option
        try:
            return retention_days()
        except ValueError as exc:
            raise CommandError(str(exc)) from None
