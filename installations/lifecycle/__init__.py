"""After an install exists: saving, revocation, rotation, verification, staff actions, events.

Owns: storing a completed flow with its history (``saving``), the lifecycle event log
(``saving.record_event``), marking tokens dead (``revocation``), refreshing rotating tokens
(``rotation``), checking token health (``verification``), the staff-facing services
(``staff_actions``), applying Slack's lifecycle events (``slack_events``) and our rows as
slack_sdk's ``Installation`` / ``Bot`` (``sdk_rows``, for rotation and the Bolt stores).

May import: ``installations.slack``, ``installations.encryption``, ``installations.models``,
``installations.signals``, ``installations.conf``, ``installations.exceptions``. Never the
admin or the install views.
"""
