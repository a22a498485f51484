"""Encryption at rest: the keyring, the encrypted model field and base model, re-encryption.

Owns: AES-256-GCM envelopes with key ids (``keyring``), the configured keyring (``configured``),
``EncryptedTextField`` and the ``EncryptedModel`` base that binds each envelope to its row
(``fields``, ``models``), and batch re-encryption under the newest key (``reencrypt``, writing
each batch with one UPDATE through ``row_values``).

May import: Django, cryptography, ``installations.conf`` (the setting that holds the keys) and
``installations.observability.metrics`` (a counter of values this process cannot decrypt).
Nothing else of this app. Design and
the associated data it binds: docs/security.md, "Tokens at rest: the envelope".
"""
