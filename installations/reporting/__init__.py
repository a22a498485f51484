"""Reporting: each installation's status and reasons, computed in SQL, and audit rows for export.

Owns: the health annotations the admin and ``slack_installations`` filter and sort on
(``health``), the audit rows and CSV export (``audit``), the weekly activity chart (``chart``),
which key each stored token needs (``stored_keys``) and the Grid orgs to filter by
(``enterprises``).

May import: Django's ORM, ``installations.models``, ``installations.conf``,
``installations.encryption`` (envelope headers only), ``installations.infrastructure`` (the
cache). Reads no token: nothing here decrypts.
"""
