"""After an install exists: saving, revocation, rotation, verification, staff actions, events.

Owns: storing a completed flow with its history (``saving``), the lifecycle event log
(``saving.record_event``), marking tokens dead (``revocation``), refreshing rotating tokens
(``rotation``), checking token health (``verification``), the staff-facing services
(``staff_actions``) and applying Slack's lifecycle events (``slack_events``).

May import: ``installations.slack``, ``installations.encryption``, ``installations.models``,
``installations.conf``, ``installations.exceptions``. Never the admin or the install views.
"""
