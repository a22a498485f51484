"""The only code that speaks Slack's HTTP and payloads.

Owns: the Web API client with our transport limits and retry policy (``api``, ``transport``),
validation of every answer's shape (``answers``), the mapping of an ``oauth.v2.access`` answer to
slack_sdk's ``Installation`` (``install_answer``), the mapping of our rows to slack_sdk's data
carriers (``sdk_mapping``), Slack's error codes in plain words (``words``) and request
signature checks (``signature``).

May import: slack_sdk, Django (settings, utilities), ``installations.conf``,
``installations.exceptions`` and ``installations.models`` (for ``sdk_mapping`` only). Never the
install flow, lifecycle or admin packages. What Slack does: docs/slack-protocol.md.
"""
