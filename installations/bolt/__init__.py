"""Bolt for Python stores over our models: slack_sdk's InstallationStore and OAuthStateStore.

``async_authorize`` serves an ``AsyncApp`` only, so a sync ``App`` never imports aiohttp.

May import: slack_sdk, slack_bolt, ``installations.lifecycle`` (saving, revocation, rotation),
``installations.lifecycle.sdk_rows``, ``installations.install.state``,
``installations.slack.sdk_mapping``, ``installations.models``,
``installations.encryption.fields`` (the stored values' types and errors), ``installations.conf``,
``installations.checks`` (the extra an ``AsyncApp`` needs).
"""
