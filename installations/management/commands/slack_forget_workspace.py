"""manage.py slack_forget_workspace: answer a privacy request by erasing a workspace or org."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from installations.lifecycle.erasure import ForgetRefused, describe, forget, is_target


class Command(BaseCommand):
    help = (
        "Erase everything stored about one workspace (T...) or Enterprise Grid org (E...): its "
        "tokens are revoked at Slack first (best effort), then its installations, history, "
        "events and Sign in with Slack identities are deleted, leaving an anonymous tombstone "
        "(docs/privacy.md). Asks for the id again unless --noinput."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", help="the workspace (T...) or org (E...) id")
        parser.add_argument(
            "--noinput", "--no-input", action="store_false", dest="interactive",
            help="do not ask for confirmation",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        target = options["target"].strip()
        if not is_target(target):
            raise CommandError(f"{target[:40]!r} is not a workspace (T...) or org (E...) id")
        if options["interactive"]:
            self._confirm(target, options.get("stdin") or sys.stdin)
        try:
            outcome = forget(target, actor="command:slack_forget_workspace")
        except ForgetRefused as exc:
            raise CommandError(str(exc)) from None
        if not outcome.found:
            raise CommandError(f"nothing is stored about {target}: nothing was erased")
        self.stdout.write(describe(target, outcome))

    def _confirm(self, target: str, stdin: TextIO) -> None:
        self.stdout.write(
            f"This revokes {target}'s tokens at Slack and erases everything stored about it. "
            "It cannot be undone. Type the id again to go ahead: ",
            ending="",
        )
        self.stdout.flush()
        if stdin.readline().strip() != target:
            raise CommandError("not confirmed: nothing was changed")
