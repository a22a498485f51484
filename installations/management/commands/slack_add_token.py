"""manage.py slack_add_token: store a single-workspace app's bot token (no OAuth flow)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from installations.exceptions import SlackInstallError
from installations.install.manual import register_bot_token


class Command(BaseCommand):
    help = (
        "Register a bot token for an app installed only in its own workspace (no Add to Slack). "
        "Run it once after copying the Bot User OAuth Token from the app's settings, and again "
        "when that token changes. The token is read from SLACK_BOT_TOKEN or standard input, "
        "never from the command line, where other users could see it."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        # Caught here rather than by argparse, whose error would echo the token back.
        parser.add_argument("on_command_line", nargs="*", help=argparse.SUPPRESS)

    def handle(self, *args: Any, **options: Any) -> None:
        if options.get("on_command_line"):
            raise CommandError(
                "Never pass the token on the command line, where other users can see it: set "
                "SLACK_BOT_TOKEN or pipe it to stdin (and regenerate that token if it was real)."
            )
        token = os.environ.get("SLACK_BOT_TOKEN") or self._read_stdin(options.get("stdin"))
        if not token:
            raise CommandError(
                "No token: set SLACK_BOT_TOKEN or pipe the bot token (it starts with xoxb-) "
                "to stdin."
            )
        try:
            workspace = register_bot_token(token, actor="command:slack_add_token")
        except SlackInstallError as exc:
            raise CommandError(f"{exc.message} ({exc.reason})") from None
        self.stdout.write(
            f"Saved bot {workspace.bot_id} for {workspace} "
            f"with scopes: {workspace.bot_scopes or 'none'}"
        )

    def _read_stdin(self, stream: TextIO | None) -> str:
        source = stream or sys.stdin
        if source.isatty():
            return getpass.getpass("Bot token (input hidden): ")
        return source.readline().strip()
