"""Django admin for installations: the site registration, actions, the detail page, filters.

Never imports ``installations.encryption`` or ``installations.infrastructure`` (``lint-imports``
checks it): it never shows or decrypts a token; key ids come through ``reporting``.
"""

from installations.admin import site  # noqa: F401  (importing it registers the ModelAdmins)
