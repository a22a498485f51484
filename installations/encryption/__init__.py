"""Encryption at rest: the keyring, the encrypted model field and base model, re-encryption.

May import: Django, cryptography, ``installations.conf`` and ``installations.observability``;
nothing else of this app. Design: docs/security.md, "Tokens at rest: the envelope".
"""
