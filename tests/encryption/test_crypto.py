"""The keyring on its own: envelopes, associated data, malformed configuration."""

from __future__ import annotations

import base64

import pytest

from installations.encryption.keyring import (
    EnvelopeError,
    Keyring,
    KeyringError,
    generate_key_entry,
    kid_of,
)


def entry(kid: str, size: int = 32) -> str:
    return f"{kid}:" + base64.urlsafe_b64encode(bytes(range(size))).decode().rstrip("=")


def test_round_trip_and_envelope_shape() -> None:
    ring = Keyring.parse(generate_key_entry("k1"))
    envelope = ring.encrypt("xoxb-fake-value", "ctx")
    assert envelope.startswith("v1.k1.")
    assert "xoxb" not in envelope
    assert kid_of(envelope) == "k1"
    assert ring.decrypt(envelope, "ctx") == "xoxb-fake-value"


def test_same_plaintext_gives_different_ciphertexts() -> None:
    ring = Keyring.parse(generate_key_entry("k1"))
    assert ring.encrypt("same", "ctx") != ring.encrypt("same", "ctx")


def test_empty_string_is_encrypted_too() -> None:
    ring = Keyring.parse(generate_key_entry("k1"))
    envelope = ring.encrypt("", "ctx")
    assert envelope.startswith("v1.k1.") and ring.decrypt(envelope, "ctx") == ""


def test_other_context_fails() -> None:
    ring = Keyring.parse(generate_key_entry("k1"))
    envelope = ring.encrypt("secret", "model|field|row-1")
    with pytest.raises(EnvelopeError, match="moved") as caught:
        ring.decrypt(envelope, "model|field|row-2")
    assert "secret" not in str(caught.value)


def test_wrong_key_with_same_id_fails() -> None:
    writer = Keyring.parse(generate_key_entry("k1"))
    reader = Keyring.parse(generate_key_entry("k1"))
    with pytest.raises(EnvelopeError) as caught:
        reader.decrypt(writer.encrypt("secret", "ctx"), "ctx")
    assert caught.value.kid == "k1"


def test_unknown_key_id_fails_without_trying_other_keys() -> None:
    old = Keyring.parse(generate_key_entry("old"))
    new = Keyring.parse(generate_key_entry("new"))
    with pytest.raises(EnvelopeError, match="no key with this id") as caught:
        new.decrypt(old.encrypt("secret", "ctx"), "ctx")
    assert caught.value.kid == "old"


@pytest.mark.parametrize("position", [0, 10, -1])
def test_tampered_byte_fails(position: int) -> None:
    ring = Keyring.parse(generate_key_entry("k1"))
    envelope = ring.encrypt("secret-value", "ctx")
    prefix, body = envelope.rsplit(".", 1)
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[position] ^= 0x01
    forged = prefix + "." + base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
    with pytest.raises(EnvelopeError):
        ring.decrypt(forged, "ctx")


@pytest.mark.parametrize("text", ["", "plain-token", "v2.k1.abc", "v1.k1.", "v1.k1.!!!"])
def test_non_envelopes_are_refused(text: str) -> None:
    ring = Keyring.parse(generate_key_entry("k1"))
    with pytest.raises(EnvelopeError):
        ring.decrypt(text, "ctx")


def test_rotation_old_keys_still_decrypt_and_new_writes_use_first() -> None:
    old_entry, new_entry = generate_key_entry("old"), generate_key_entry("new")
    old = Keyring.parse(old_entry)
    both = Keyring.parse(f"{new_entry},{old_entry}")
    envelope = old.encrypt("secret", "ctx")
    assert both.decrypt(envelope, "ctx") == "secret"
    assert kid_of(both.encrypt("secret", "ctx")) == "new"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        (" , ", "is empty"),
        ("no-colon", "is not 'kid:key'"),
        ("bad.kid:" + entry("x").split(":")[1], "is not 'kid:key'"),
        ("k1:not*base64!", "url-safe base64"),
        (entry("k1", 16), "32 bytes, got 16"),
        (entry("k1", 33), "32 bytes, got 33"),
        (f"{generate_key_entry('k1')},{generate_key_entry('k1')}", "more than once"),
        (f"{entry('a')},{entry('b')}", "repeats another key"),
    ],
)
def test_malformed_keyrings_name_the_variable(text: str, message: str) -> None:
    with pytest.raises(KeyringError) as caught:
        Keyring.parse(text)
    assert "TOKEN_ENCRYPTION_KEYS" in str(caught.value)
    assert message in str(caught.value)


def test_key_material_never_in_repr_or_errors() -> None:
    key_text = generate_key_entry("k1")
    ring = Keyring.parse(key_text)
    assert key_text.split(":")[1] not in repr(ring)
    with pytest.raises(KeyringError) as caught:
        Keyring.parse(key_text + "," + key_text)
    assert key_text.split(":")[1] not in str(caught.value)
