"""Print a new token-encryption key entry. Needs no configuration (it makes the key every other
command needs)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from installations.encryption.keyring import KeyringError, generate_key_entry


class Command(BaseCommand):
    help = (
        "Print a new kid:key entry for TOKEN_ENCRYPTION_KEYS (32 random bytes). It is written "
        "nowhere: put it FIRST in the variable to make it the active key, keep the old entries "
        "after it, then run slack_reencrypt. Needs no configuration."
    )
    requires_system_checks: list[str] = []  # the key it prints is what the checks ask for

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--kid", help="key id (default: k<UTC date and time>)")

    def handle(self, *args: Any, **options: Any) -> None:
        kid = options["kid"] or timezone.now().strftime("k%Y%m%d%H%M")
        try:
            self.stdout.write(generate_key_entry(kid))
        except KeyringError as exc:
            raise CommandError(str(exc)) from None
