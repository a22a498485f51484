"""The keyring this process is configured with, parsed once and again whenever a setting changes.

Lives with the encryption package (not in ``installations.conf``) so that settings stay at the
bottom of the app's layers: ``conf`` reads settings and knows nothing of keys; this module turns
``TOKEN_ENCRYPTION_KEYS`` into a ``Keyring``.
"""

from __future__ import annotations

from functools import lru_cache

from django.core.signals import setting_changed
from django.dispatch import receiver

from installations.conf import text_setting
from installations.encryption.keyring import ACTIVE_KEY_VARIABLE, Keyring


@lru_cache(maxsize=1)
def keyring() -> Keyring:
    """The configured keyring; raises KeyringError when the setting is malformed.

    TOKEN_ENCRYPTION_ACTIVE_KEY_ID (optional) names the key that encrypts; the others only
    decrypt. Unset, the first entry encrypts.
    """
    return Keyring.parse(
        text_setting("TOKEN_ENCRYPTION_KEYS"), active=text_setting(ACTIVE_KEY_VARIABLE)
    )


@receiver(setting_changed)
def _forget_cached_keyring(**kwargs: object) -> None:
    keyring.cache_clear()
