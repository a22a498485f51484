"""manage.py slack_purge_states: delete the records of spent OAuth states once they expired.

Issued states are signed and stored nowhere (installations/oauth_state.py); a spent one is
recorded only until its own expiry, after which its signature alone refuses it as expired.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from installations.install.state import purge_expired_states


class Command(BaseCommand):
    help = (
        "Delete the records of spent OAuth states whose expiry has passed (they are refused as "
        "expired without them). Spending a state also purges them; run this from cron (e.g. "
        "hourly) to keep the table small when installs are rare."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = purge_expired_states()
        self.stdout.write(f"Deleted {count} expired OAuth state(s).")
