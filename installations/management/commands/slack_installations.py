"""The staff audit on the command line: which workspaces need a reinstall, and why."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand

from installations.reporting import audit


class Command(BaseCommand):
    help = (
        "List every installed workspace with its install type, status and reinstall reasons, "
        "missing scopes, install time and last verification (the admin's audit, for a terminal "
        "or a script). Run it after changing SLACK_SCOPES or TOKEN_ENCRYPTION_KEYS, or from "
        "monitoring with --needs-reinstall --json: with --needs-reinstall it exits with status 1 "
        "when it lists any workspace (0 when every workspace is Active). Workspaces whose tokens "
        "name a key id this server does not hold are 'Unreadable here', with the key ids needed "
        "and configured. Never prints a token."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--needs-reinstall",
            action="store_true",
            help="only workspaces that need a reinstall or whose tokens this server cannot read "
            "(every status but Active); exit status 1 when there is any",
        )
        parser.add_argument("--json", action="store_true", help="one JSON array, for scripts")

    def handle(self, *args: Any, **options: Any) -> None:
        needs = "attention" if options["needs_reinstall"] else None
        rows = [audit.audit_row(row) for row in audit.audit_queryset(status=needs).iterator()]
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
        else:
            for line in audit.to_table(rows):
                self.stdout.write(line)
            self.stdout.write(f"{len(rows)} workspace(s)")
        if needs and rows:
            # For monitoring: the list is the report, the status is the alarm.
            raise SystemExit(1)
