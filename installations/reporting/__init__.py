"""Reporting: each installation's status and reasons, computed in SQL, and audit rows for export.

Reads no token: ``installations.encryption`` is used for envelope headers only.
"""
