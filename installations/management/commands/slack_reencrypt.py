"""Move every stored token under the active key. Run after putting a new key first."""

from __future__ import annotations

import sys
from argparse import ArgumentTypeError
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import NotSupportedError

from installations.encryption.configured import keyring
from installations.encryption.reencrypt import MAX_BATCH, census, reencrypt


class Command(BaseCommand):
    help = (
        "Re-encrypt every token, refresh token and webhook URL that is not under the active key "
        "(the first entry of TOKEN_ENCRYPTION_KEYS). Safe to interrupt and run again. "
        "With --check, change nothing and exit non-zero while any value still uses another "
        "key: an old key may be removed only once --check passes."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--check", action="store_true", help="report only; fail if not done")
        parser.add_argument(
            "--batch-size",
            type=batch_size,
            default=500,
            help=f"rows per transaction (1-{MAX_BATCH})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        active = keyring().active_kid
        if not options["check"]:
            try:
                report = reencrypt(batch_size=options["batch_size"], progress=self._progress())
            except NotSupportedError as exc:  # a database without the JSON lookup it writes with
                raise CommandError(f"nothing was re-encrypted: {exc}") from None
            moved = sum(report.reencrypted.values())
            if sys.stdout.isatty():
                self.stdout.write("")
            detail = ", ".join(f"{n} from {kid}" for kid, n in sorted(report.reencrypted.items()))
            self.stdout.write(
                f"re-encrypted {moved} value(s) under {active}" + (f" ({detail})" if detail else "")
            )
            if report.unreadable:
                self._print_census(active)
                raise CommandError(
                    f"{len(report.unreadable)} value(s) could not be decrypted with the configured "
                    "keys; they were left as they are (see the log for model, field, row, key id)"
                )
        leftover = self._print_census(active)
        if options["check"] and leftover:
            raise CommandError(check_failure(leftover, keyring().kids))

    def _progress(self) -> Any:
        if not sys.stdout.isatty():
            return None

        def show(moved: int, scanned: int) -> None:
            self.stdout.write(f"\rscanned {scanned} row(s), re-encrypted {moved}", ending="")
            self.stdout.flush()

        return show

    def _print_census(self, active: str) -> dict[str, int]:
        counts = census()
        configured = keyring().kids
        self.stdout.write("values per key id:")
        for kid in [active, *sorted(k for k in counts if k != active)]:
            self.stdout.write(f"  {kid}{key_label(kid, active, configured)}: {counts.get(kid, 0)}")
        return {kid: n for kid, n in counts.items() if kid != active and n}


def batch_size(text: str) -> int:
    """--batch-size: a whole number of rows from 1 to MAX_BATCH (a batch is one transaction
    holding its rows' locks, and one statement listing its keys)."""
    try:
        size = int(text)
    except ValueError:
        raise ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= size <= MAX_BATCH:
        raise ArgumentTypeError(f"{size} is not between 1 and {MAX_BATCH}")
    return size


def key_label(kid: str, active: str, configured: tuple[str, ...]) -> str:
    if kid == active:
        return " (active)"
    if kid not in configured:
        return " (NOT CONFIGURED: not in TOKEN_ENCRYPTION_KEYS)"
    return " (decrypt only)"


def check_failure(leftover: dict[str, int], configured: tuple[str, ...]) -> str:
    """Why --check fails, one sentence per kind of key: a key id that is not configured cannot
    be fixed by running slack_reencrypt (it cannot decrypt those values), so it says so."""
    old = {kid: n for kid, n in leftover.items() if kid in configured}
    missing = {kid: n for kid, n in leftover.items() if kid not in configured}
    problems = []
    if old:
        kids = ", ".join(sorted(old))
        problems.append(
            f"{sum(old.values())} value(s) still use key id(s) {kids}: "
            "run slack_reencrypt before removing those keys"
        )
    if missing:
        kids = ", ".join(sorted(missing))
        problems.append(
            f"{sum(missing.values())} value(s) use key id(s) {kids}, which are not configured "
            "(not in TOKEN_ENCRYPTION_KEYS), so slack_reencrypt cannot move them: put those "
            "keys back in TOKEN_ENCRYPTION_KEYS (after the active one) and run slack_reencrypt, "
            "or have those workspaces reinstall"
        )
    return "; ".join(problems)
