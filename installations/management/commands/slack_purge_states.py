"""manage.py slack_purge_states: delete the records of spent OAuth states once they expired
(the signature alone refuses an expired state)."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from installations.install.state import purge_expired_states
from installations.management.job_summary import summary_line


class Command(BaseCommand):
    help = (
        "Delete the records of spent OAuth states whose expiry has passed (they are refused as "
        "expired without them). Spending a state also purges them; run this from cron (e.g. "
        "hourly) to keep the table small when installs are rare."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        count = purge_expired_states()  # one DELETE: safe to run on several hosts at once
        self.stdout.write(f"Deleted {count} expired OAuth state(s).")
        self.stdout.write(summary_line("slack_purge_states", started, None, False, deleted=count))
