"""Which key each stored token needs, read from its envelope's header (nothing is decrypted), for
the admin to show beside every token."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models

from installations.encryption.fields import configured_kids, stored_envelope
from installations.encryption.keyring import kid_of


@dataclass(frozen=True)
class StoredKey:
    """Whether a token is stored, the key id its envelope names, and whether this process has
    that key (False also for a stored value that is no envelope of ours)."""

    present: bool
    kid: str | None = None
    key_configured: bool = False


def stored_key(instance: models.Model, field_name: str) -> StoredKey:
    envelope = stored_envelope(instance, field_name)
    if envelope is None:
        return StoredKey(present=False)
    kid = kid_of(envelope)
    return StoredKey(present=True, kid=kid, key_configured=kid in configured_kids())
