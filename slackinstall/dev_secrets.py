"""Development-only secrets, generated once into a git-ignored file beside manage.py.

Used only when DJANGO_DEBUG is on and a secret is not set, so a newcomer's `make run` works
without inventing keys. Production never reaches this module.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from installations.crypto import generate_key_entry


def load_or_create(path: Path) -> dict[str, str]:
    if path.exists():
        return json.loads(path.read_text())
    values = {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "TOKEN_ENCRYPTION_KEYS": generate_key_entry("dev1"),
        "SLACK_SIGNING_SECRET": secrets.token_hex(16),
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(values, handle, indent=2)
    return values
