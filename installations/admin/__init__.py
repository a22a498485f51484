"""Django admin for installations: the site registration, actions, the detail page, filters.

May import: ``installations.reporting`` (key ids from envelope headers: ``stored_keys``; the
cached choices: ``enterprises``), ``installations.lifecycle.staff_actions``,
``installations.install`` (links), ``installations.models``, ``installations.conf``,
``installations.exceptions``. Never ``installations.encryption`` or
``installations.infrastructure`` (``lint-imports`` checks it): it never shows or decrypts a token.
"""

from installations.admin import site  # noqa: F401  (importing it registers the ModelAdmins)
