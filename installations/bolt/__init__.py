"""Bolt for Python stores over our models: slack_sdk's InstallationStore and OAuthStateStore.

Owns: ``DjangoInstallationStore`` / ``DjangoOAuthStateStore`` (``store``), their async twins
(``async_store``) and the precompiled lookups that keep them fast (``compiled_lookup``: with a
plain-queryset path, ``SLACK_COMPILED_LOOKUPS``, that also takes over if Django's private query
API changes); the developer's Bolt app behind the one Request URL (``request_url``), its
``authorize`` (``authorize``).

May import: slack_sdk, slack_bolt, ``installations.lifecycle`` (saving, revocation),
``installations.install.state``, ``installations.slack.sdk_mapping``,
``installations.models``,
``installations.encryption.fields`` (the stored values' types and errors), ``installations.conf``.
"""
