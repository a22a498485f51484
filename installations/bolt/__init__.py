"""Bolt for Python stores over our models: slack_sdk's InstallationStore and OAuthStateStore.

Owns: ``DjangoInstallationStore`` / ``DjangoOAuthStateStore`` (``store``; ``latest_sql``, the
one measured statement for the lookup every event makes) and their async twins
(``async_store``); the developer's Bolt app behind the one Request URL (``request_url``) and its
authorize (``authorize``, and ``async_authorize`` for an ``AsyncApp`` only, so a sync ``App``
never imports aiohttp: Bolt's own, with a bounded ``auth.test`` cache and rotation through our
claim protocol).

May import: slack_sdk, slack_bolt, ``installations.lifecycle`` (saving, revocation, rotation),
``installations.lifecycle.sdk_rows``, ``installations.install.state``,
``installations.slack.sdk_mapping``, ``installations.models``,
``installations.encryption.fields`` (the stored values' types and errors), ``installations.conf``,
``installations.checks`` (the extra an ``AsyncApp`` needs).
"""
