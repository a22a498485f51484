"""Sign in with Slack (OpenID Connect): an optional Django app of its own, off unless the host
lists ``installations.signin`` in INSTALLED_APPS (``apps``: its table, ``migrations``), sets
``SLACK_SIGNIN_ENABLED`` and includes ``installations.signin.urls``.

Design and why: docs/security.md, "Sign in with Slack".

May import: Django (auth included), PyJWT, slack_sdk, ``installations.slack`` (the hardened client
and transport), ``installations.install.state`` / ``cookie`` / ``flow`` (the install page URL),
``installations.reporting.health``, ``installations.models``, ``installations.conf``,
``installations.exceptions``. Nothing of the app imports it but the template tags (to draw the
button, or nothing): the rest works without it (``lint-imports`` checks it).
"""
