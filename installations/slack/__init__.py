"""The only code that speaks Slack's HTTP and payloads.

Owns: the Web API client with our transport limits and retry policy (``api``, ``transport``),
validation of every answer's shape (``answers``), the mapping of an ``oauth.v2.access`` answer to
slack_sdk's ``Installation`` (``install_answer``), the conversions of times and scopes between
slack_sdk's data carriers and our columns (``sdk_mapping``), request signature checks
(``signature``), a signed body read once for every path, ours and a Bolt app's
(``request_body``), and typed lifecycle events (``events``).

May import: slack_sdk, Django (settings, utilities), ``installations.conf``,
``installations.exceptions``. Never our tables (``installations.models``: our rows become
slack_sdk's carriers in ``installations.lifecycle.sdk_rows``), the install flow, lifecycle or
admin packages (``lint-imports`` checks it). What Slack does: docs/slack-protocol.md.
"""
