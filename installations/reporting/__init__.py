"""Reporting: each installation's status and reasons, computed in SQL, and audit rows for export.

May import: Django's ORM, ``installations.models``, ``installations.conf``,
``installations.encryption`` (envelope headers only), ``installations.infrastructure`` (the
cache). Reads no token: nothing here decrypts.
"""
