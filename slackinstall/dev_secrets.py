"""Development-only secrets, generated once into a git-ignored file beside manage.py.

Used only when DJANGO_DEBUG is on and a secret is not set, so a newcomer's `make run` works
without inventing keys. Production never reaches this module.

The file also holds the local Slack stand-in's client id and secret: generated once and kept, so
every `make run` and every manage.py command presents the same development app to the stand-in,
and a workspace installed yesterday is the same row today (workspaces are keyed by client id).
Values added in later versions are filled into an existing file; values already there never
change (changing the token key would make stored tokens unreadable).
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from installations.encryption.keyring import generate_key_entry


def _standin_client_id() -> str:
    # Shaped like a real client id ("<digits>.<digits>"); the stand-in accepts only this one.
    return f"{secrets.randbelow(10**10)}.{secrets.randbelow(10**12)}"


GENERATORS: dict[str, Callable[[], str]] = {
    "DJANGO_SECRET_KEY": lambda: secrets.token_urlsafe(50),
    "TOKEN_ENCRYPTION_KEYS": lambda: generate_key_entry("dev1"),
    "SLACK_SIGNING_SECRET": lambda: secrets.token_hex(16),
    "SLACK_STANDIN_CLIENT_ID": _standin_client_id,
    "SLACK_STANDIN_CLIENT_SECRET": lambda: secrets.token_hex(16),
}


def load_or_create(path: Path) -> dict[str, str]:
    """The development secrets in ``path``, creating the file or adding missing entries.

    An exclusive lock on the file makes `make run` and a command started at the same moment
    agree on one set of values.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        text = handle.read()
        values: dict[str, str] = json.loads(text) if text.strip() else {}
        missing = [name for name in GENERATORS if not values.get(name)]
        if missing:
            values.update({name: GENERATORS[name]() for name in missing})
            handle.seek(0)
            handle.truncate()
            json.dump(values, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        return values
