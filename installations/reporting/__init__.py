"""Reporting: each installation's status and reasons, computed in SQL, and audit rows for export.

Owns: the health annotations the admin and ``slack_installations`` filter and sort on
(``health``), and the audit rows and CSV export (``audit``).

May import: Django's ORM, ``installations.models``, ``installations.conf``. Reads no token.
"""
