"""System checks: the keyring must be usable before anything is stored, and the configuration
must have read cleanly (settings.CONFIGURATION_PROBLEMS, slackinstall/settings.py)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from installations.encryption.keyring import Keyring, KeyringError


@checks.register(checks.Tags.security)
def check_keyring(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    raw = getattr(settings, "TOKEN_ENCRYPTION_KEYS", "") or ""
    try:
        Keyring.parse(raw)
    except KeyringError as exc:
        return [checks.Error(str(exc), id="installations.E001")]
    key_texts = {entry.split(":", 1)[1].strip() for entry in raw.split(",") if ":" in entry}
    secret_keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    if any(secret and secret in key_texts for secret in secret_keys):
        return [
            checks.Error(
                "TOKEN_ENCRYPTION_KEYS reuses DJANGO_SECRET_KEY: token keys must be separate",
                id="installations.E002",
            )
        ]
    return []


@checks.register()
def check_configuration_problems(
    app_configs: Any = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Whatever settings.py could not read, for code that loads Django without manage.py."""
    return [
        checks.Error(problem, id="installations.E003")
        for problem in getattr(settings, "CONFIGURATION_PROBLEMS", [])
    ]
