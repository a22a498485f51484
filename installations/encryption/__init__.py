"""Encryption at rest: the keyring, the encrypted model field and base model, re-encryption.

May import: Django, cryptography, ``installations.conf`` (the setting that holds the keys) and
``installations.observability.metrics`` (a counter of values this process cannot decrypt).
Nothing else of this app. Design and
the associated data it binds: docs/security.md, "Tokens at rest: the envelope".
"""
