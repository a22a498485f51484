"""Sign in with Slack (OpenID Connect): an optional Django app of its own, off unless the host
lists ``installations.signin`` in INSTALLED_APPS (``apps``: its table, ``migrations``), sets
``SLACK_SIGNIN_ENABLED`` and includes ``installations.signin.urls``.

Owns: its settings (``conf``), the browser flow (``flow``: state bound to the browser by reusing
``installations.install.state`` / ``cookie`` with a salt of its own, plus an OIDC nonce), the
``openid.connect.token`` exchange (``exchange``), ``id_token`` verification against Slack's key
set (``id_token``, ``jwks``), Slack identities and the Django users they map to (``models``,
``accounts``: creation, linking, allowed workspaces, staff through Slack), the "My workspaces"
page's rows (``workspaces``), the password-login switch (``backends``), its errors (``errors``),
views and URLs. Design and why: docs/security.md, "Sign in with Slack".

May import: Django (auth included), PyJWT, slack_sdk, ``installations.slack`` (the hardened client
and transport), ``installations.install.state`` / ``cookie`` / ``flow`` (the install page URL),
``installations.reporting.health``, ``installations.models``, ``installations.conf``,
``installations.exceptions``. Nothing of the app imports it but the template tags (to draw the
button, or nothing): the rest works without it (``lint-imports`` checks it).
"""
