"""The keyring this process is configured with, parsed once and again whenever a setting changes
(here, not in ``conf``, which knows nothing of keys)."""

from __future__ import annotations

from functools import lru_cache

from django.core.signals import setting_changed
from django.dispatch import receiver

from installations.conf import text_setting
from installations.encryption.keyring import ACTIVE_KEY_VARIABLE, Keyring


@lru_cache(maxsize=1)
def keyring() -> Keyring:
    """The configured keyring; raises KeyringError when the setting is malformed."""
    return Keyring.parse(
        text_setting("TOKEN_ENCRYPTION_KEYS"), active=text_setting(ACTIVE_KEY_VARIABLE)
    )


@receiver(setting_changed)
def _forget_cached_keyring(**kwargs: object) -> None:
    keyring.cache_clear()
