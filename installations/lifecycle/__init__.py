"""After an install exists: saving, revocation, rotation, verification, staff actions, events.

May import: ``installations.slack``, ``installations.encryption``, ``installations.models``,
``installations.signals``, ``installations.conf``, ``installations.exceptions``. Never the
admin or the install views.
"""
