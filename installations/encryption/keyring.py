"""The token keyring: AES-256-GCM envelopes ``v1.<kid>.<base64url(nonce|ciphertext|tag)>``.

The format pins the algorithm and the key id picks the key (no trial decryption); associated
data binds each ciphertext to its format, key id and a caller's context (model, field, row).
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
# \Z, not $: "$" also matches before a final newline, so "kid\n" would pass ``.match``.
KID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,32}\Z")
ENVELOPE_PATTERN = re.compile(r"^v1\.([A-Za-z0-9_-]{1,32})\.([A-Za-z0-9_-]+)\Z")


class KeyringError(ValueError):
    """The keyring configuration is malformed; the message never contains key material."""


class EnvelopeError(Exception):
    """A ciphertext cannot be opened (wrong key, unknown key id, tampered, or moved); the
    message names the reason and the key id, never the value or the key."""

    def __init__(self, reason: str, kid: str | None) -> None:
        self.reason, self.kid = reason, kid
        super().__init__(f"{reason} (key id {kid or 'unknown'})")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def generate_key_entry(kid: str) -> str:
    """A new ``kid:key`` entry with 32 random bytes from the OS."""
    if not KID_PATTERN.match(kid):
        raise KeyringError("key id must be 1-32 characters of letters, digits, '-' or '_'")
    return f"{kid}:{_b64encode(os.urandom(KEY_BYTES))}"


def kid_of(envelope: str) -> str | None:
    """The key id an envelope names, or None when the text is no envelope."""
    match = ENVELOPE_PATTERN.match(envelope)
    return match.group(1) if match else None


ACTIVE_KEY_VARIABLE = "TOKEN_ENCRYPTION_ACTIVE_KEY_ID"


@dataclass(frozen=True)
class Keyring:
    """Keys by id: the active key (``active``, else the first entry) encrypts, every key
    decrypts, so a new key is deployed decrypt-only first, then promoted (docs/production.md)."""

    keys: tuple[tuple[str, bytes], ...]
    active: str = ""
    _ciphers: dict[str, AESGCM] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.active and self.active not in self.kids:
            raise KeyringError(
                f"{ACTIVE_KEY_VARIABLE} names the key id {self.active!r}, which is not in "
                "TOKEN_ENCRYPTION_KEYS: add the key first (decrypt-only), then promote it"
            )
        # One cipher object per key, built once: no per-value key setup on the hot path.
        object.__setattr__(self, "_ciphers", {kid: AESGCM(key) for kid, key in self.keys})

    @classmethod
    def parse(
        cls, text: str, *, variable: str = "TOKEN_ENCRYPTION_KEYS", active: str = ""
    ) -> Keyring:
        """Parse comma-separated ``kid:key`` entries; raise KeyringError naming the variable."""
        entries = [part.strip() for part in (text or "").split(",") if part.strip()]
        if not entries:
            raise KeyringError(f"{variable} is empty: set at least one kid:key entry")
        keys: list[tuple[str, bytes]] = []
        for position, entry in enumerate(entries, start=1):
            kid, sep, encoded = entry.partition(":")
            if not sep or not KID_PATTERN.match(kid):
                raise KeyringError(
                    f"{variable} entry {position} is not 'kid:key' "
                    "(kid: 1-32 letters, digits, '-' or '_')"
                )
            where = f"{variable} entry {position} ({kid})"
            try:
                key = _b64decode(encoded.strip())
            except ValueError:  # binascii.Error included
                raise KeyringError(f"{where} is not url-safe base64") from None
            if len(key) != KEY_BYTES:
                raise KeyringError(f"{where} must decode to {KEY_BYTES} bytes, got {len(key)}")
            if any(kid == seen for seen, _ in keys):
                raise KeyringError(f"{variable} has the key id {kid!r} more than once")
            if any(key == seen_key for _, seen_key in keys):
                raise KeyringError(f"{where} repeats another key")
            keys.append((kid, key))
        return cls(tuple(keys), active=(active or "").strip())

    def __repr__(self) -> str:
        return f"Keyring(kids={self.kids!r}, active={self.active_kid!r})"

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(kid for kid, _ in self.keys)

    @property
    def active_kid(self) -> str:
        return self.active or self.keys[0][0]

    @property
    def decrypt_only_kids(self) -> tuple[str, ...]:
        """The key ids that open values but seal none (old keys, or new ones not promoted)."""
        return tuple(kid for kid in self.kids if kid != self.active_kid)

    @staticmethod
    def _aad(kid: str, context: str) -> bytes:
        return f"{FORMAT}|{kid}|{context}".encode()

    def encrypt(self, plaintext: str, context: str) -> str:
        """Seal under the active key with a fresh 96-bit nonce."""
        kid = self.active_kid
        nonce = os.urandom(NONCE_BYTES)
        cipher = self._ciphers[kid]  # the active key is always one of ours (__post_init__)
        sealed = cipher.encrypt(nonce, plaintext.encode("utf-8"), self._aad(kid, context))
        return f"{FORMAT}.{kid}.{_b64encode(nonce + sealed)}"

    def decrypt(self, envelope: str, context: str) -> str:
        """Open an envelope sealed for this context; raise EnvelopeError otherwise."""
        match = ENVELOPE_PATTERN.match(envelope or "")
        if not match:
            raise EnvelopeError("not an encrypted value of a known format", None)
        kid, body = match.groups()
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise EnvelopeError("no key with this id is configured", kid)
        try:
            raw = _b64decode(body)
        except ValueError:  # binascii.Error included
            raise EnvelopeError("damaged envelope", kid) from None
        if len(raw) < NONCE_BYTES + TAG_BYTES:
            raise EnvelopeError("damaged envelope", kid)
        try:
            plain = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], self._aad(kid, context))
        except InvalidTag:
            raise EnvelopeError(
                "authentication failed: wrong key, tampered value, "
                "or a value moved from another row or column",
                kid,
            ) from None
        return plain.decode("utf-8")
