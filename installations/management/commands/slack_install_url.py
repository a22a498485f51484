"""manage.py slack_install_url: print where installs start, and one authorize URL."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from installations.exceptions import SlackInstallError
from installations.install.flow import clean_team, install_page_url, start_install


class Command(BaseCommand):
    help = (
        "Print the install page URL to share (with --team T..., a reinstall link that preselects "
        "a workspace), and an authorize URL for checking the app's Slack settings. Installs "
        "must start from the install page: it binds the state to the browser."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--team", help="workspace id to preselect, e.g. T0123ABCD")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            team = clean_team(options.get("team"))
            started = start_install(team)
        except SlackInstallError as exc:
            missing = " ".join(getattr(exc, "missing", [])) or "-"
            raise CommandError(f"{exc.message} {missing} ({exc.reason})") from None
        self.stdout.write(f"Install page: {install_page_url(team)}")
        self.stdout.write(f"Authorize URL (works once, expires soon): {started.authorize_url}")
