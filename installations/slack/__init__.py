"""The only code that speaks Slack's HTTP and payloads.

May import: slack_sdk, Django (settings, utilities), ``installations.conf``,
``installations.exceptions``. Never our tables (``installations.models``: our rows become
slack_sdk's carriers in ``installations.lifecycle.sdk_rows``), the install flow, lifecycle or
admin packages (``lint-imports`` checks it). What Slack does: docs/slack-protocol.md.
"""
