"""Sign in with Slack (OpenID Connect; docs/security.md): an optional Django app of its own, off
unless the host lists ``installations.signin`` in INSTALLED_APPS, sets ``SLACK_SIGNIN_ENABLED``
and includes ``installations.signin.urls``. Nothing of the app imports it but the template tags
(``lint-imports`` checks it).
"""
