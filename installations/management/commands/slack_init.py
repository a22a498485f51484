"""manage.py slack_init: write a first .env with generated keys (`make env`), from the
.env.example template; never overwrites a file, needs no configuration."""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from installations.encryption.keyring import generate_key_entry

# Used when the project has no .env.example beside manage.py (the app installed elsewhere).
MINIMAL_TEMPLATE = """\
DJANGO_DEBUG=false
DJANGO_SECRET_KEY=
DJANGO_ALLOWED_HOSTS=
DJANGO_CSRF_TRUSTED_ORIGINS=
TOKEN_ENCRYPTION_KEYS=
SLACK_CLIENT_ID=
SLACK_CLIENT_SECRET=
SLACK_SIGNING_SECRET=
SLACK_REDIRECT_URI=
"""
_ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")
_COMMENTED_ASSIGNMENT = re.compile(r"^#\s?([A-Z][A-Z0-9_]*)=")


def new_secret_key() -> str:
    """64 URL-safe characters: passes Django's W009, and holds no '$' (django-environ reads a
    leading '$' as a reference to another variable) and no '#'."""
    return secrets.token_urlsafe(48)


def fill(template: str, values: dict[str, str]) -> str:
    """The template with ``NAME=`` (or commented ``# NAME=``) lines set to ``values``; names it
    lacks are appended."""
    remaining = dict(values)
    lines = []
    for line in template.splitlines():
        match = _ASSIGNMENT.match(line) or _COMMENTED_ASSIGNMENT.match(line)
        if match and match.group(1) in remaining:
            line = f"{match.group(1)}={remaining.pop(match.group(1))}"
        lines.append(line)
    lines.extend(f"{name}={value}" for name, value in remaining.items())
    return "\n".join(lines) + "\n"


def still_to_fill(text: str) -> list[str]:
    """Variables the written file leaves empty."""
    matches = (_ASSIGNMENT.match(line) for line in text.splitlines())
    return [match.group(1) for match in matches if match and not match.group(2).strip()]


def development_installs(database: Path) -> int:
    """How many workspaces a development SQLite database holds (0 when there is none); read
    directly, as this command runs before any configuration exists."""
    if not database.is_file():
        return 0
    try:
        with closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)) as db:
            (count,) = db.execute("SELECT COUNT(*) FROM installations_workspace").fetchone()
    except sqlite3.Error:  # not a database of ours, or not migrated yet
        return 0
    return int(count)


class Command(BaseCommand):
    help = (
        "Write a .env beside manage.py from .env.example, with a generated DJANGO_SECRET_KEY and "
        "TOKEN_ENCRYPTION_KEYS entry, and the Slack app's variables left for you to fill. Never "
        "overwrites an existing file (exits 1). Needs no configuration. Keep the file secret, "
        "and back the token key up apart from the database."
    )
    requires_system_checks: list[str] = []  # runs before there is anything to check

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--path", help="where to write (default: .env beside manage.py)", default=None
        )
        parser.add_argument(
            "--host",
            help="the public host name (e.g. install.example.com): fills DJANGO_ALLOWED_HOSTS, "
            "DJANGO_CSRF_TRUSTED_ORIGINS and SLACK_REDIRECT_URI",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # A host project need not define BASE_DIR: manage.py is run from its own folder.
        base_dir = Path(getattr(settings, "BASE_DIR", None) or Path.cwd())
        path = Path(options["path"]) if options["path"] else base_dir / ".env"
        if path.exists():
            raise CommandError(
                f"{path} already exists: not overwriting it. Edit it, or move it away and run "
                "slack_init again."
            )
        example = base_dir / ".env.example"
        template = example.read_text() if example.is_file() else MINIMAL_TEMPLATE
        kid = timezone.now().strftime("k%Y%m%d")
        values = {
            "DJANGO_SECRET_KEY": new_secret_key(),
            "TOKEN_ENCRYPTION_KEYS": generate_key_entry(kid),
        }
        host = (options.get("host") or "").strip()
        if host:
            if not re.fullmatch(r"[A-Za-z0-9.-]+(:\d+)?", host):
                raise CommandError("--host takes a host name such as install.example.com")
            values["DJANGO_ALLOWED_HOSTS"] = host.split(":")[0]
            values["DJANGO_CSRF_TRUSTED_ORIGINS"] = f"https://{host}"
            values["SLACK_REDIRECT_URI"] = f"https://{host}/slack/oauth_redirect"
        header = (
            f"# Written by `manage.py slack_init` on {timezone.now():%Y-%m-%d}. Keep this file "
            "secret: it holds\n# the secret key and the token-encryption key (back that key up "
            "apart from the database).\n"
        )
        text = header + fill(template, values)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CommandError(f"{path} already exists: not overwriting it.") from None
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        missing = still_to_fill(text)
        self.stdout.write(
            f"Wrote {path} with a new DJANGO_SECRET_KEY and token-encryption key {kid}."
        )
        if missing:
            self.stdout.write("Still to fill: " + ", ".join(missing))
        installs = development_installs(base_dir / "db.sqlite3")
        if installs:
            self.stdout.write(
                f"Note: db.sqlite3 holds {installs} development install(s), encrypted under the "
                "development key in .dev-secrets.json. `make run` (debug) keeps reading them; a "
                f"production server with this .env holds only key {kid} and cannot. Give "
                "production its own DATABASE_URL, or try production on this machine with "
                "`make try-production`, which keeps its own data apart."
            )
