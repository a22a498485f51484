"""Encryption at rest: the keyring, the encrypted model field and base model, re-encryption.

Owns: AES-256-GCM envelopes with key ids (``keyring``), ``EncryptedTextField`` and the
``EncryptedModel`` base that binds each envelope to its row (``fields``, ``models``), and batch
re-encryption under the newest key (``reencrypt``, writing each batch with one UPDATE through
``row_values``).

May import: Django, cryptography, and ``installations.conf`` (for the configured keyring). Nothing
else of this app, so the package could be lifted into another project whole. Design and the
associated data it binds: docs/security.md, "Tokens at rest: the envelope".
"""
