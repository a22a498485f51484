"""Django admin for installations: the site registration, actions, the detail page, filters.

Owns: the ``ModelAdmin`` classes (``site``), the verify / refresh / revoke / export actions
(``actions``), the read-only workspace detail (``detail``) and the list filters (``filters``).

May import: ``installations.reporting``, ``installations.lifecycle.staff_actions``,
``installations.models``, ``installations.exceptions``. Never shows or decrypts a token.
"""

from installations.admin import site  # noqa: F401  (importing it registers the ModelAdmins)
