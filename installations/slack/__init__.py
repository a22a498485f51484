"""The only code that speaks Slack's HTTP and payloads.

Owns: the Web API client with our transport limits and retry policy (``api``, ``transport``),
validation of every answer's shape (``answers``), the mapping of an ``oauth.v2.access`` answer to
slack_sdk's ``Installation`` (``install_answer``), the mapping of our rows to slack_sdk's data
carriers (``sdk_mapping``), Slack's error codes in plain words (``words``), request signature
checks (``signature``), a signed body read once for every path, ours and a Bolt app's
(``request_body``), typed lifecycle events (``events``) and the developer's listeners'
WebClient on our kept-alive connections (``kept_alive``: slack_sdk's behaviour otherwise).

May import: slack_sdk, Django (settings, utilities), ``installations.conf``,
``installations.exceptions`` and ``installations.models`` (for ``sdk_mapping`` only). Never the
install flow, lifecycle or admin packages. What Slack does: docs/slack-protocol.md.
"""
