"""manage.py slack_purge_states: delete expired OAuth states."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from installations.oauth_state import purge_expired_states


class Command(BaseCommand):
    help = (
        "Delete OAuth states that expired before being used (abandoned installs). The install "
        "page also purges them; run this from cron (e.g. hourly) to keep the table small."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = purge_expired_states()
        self.stdout.write(f"Deleted {count} expired OAuth state(s).")
