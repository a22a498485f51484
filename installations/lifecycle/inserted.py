"""What ``Model.save()`` does after its INSERT, for rows a raw statement inserted instead.

The hot writes (first_install_sql.py, verify_sql.py) insert rows with one statement of their own
rather than ``save()``; the instances they filled must still end up as ``save()`` leaves them
(saved, bound to the database that holds them) and announce themselves the same way, since the
admin's cached counts (reporting/health.py) and a host's receivers listen for ``post_save``.
"""

from __future__ import annotations

from django.db.models import Model
from django.db.models.signals import post_save


def announce_inserted(instance: Model, using: str) -> None:
    """Mark ``instance`` saved in ``using`` and send the ``post_save`` a created row sends."""
    instance._state.adding = False
    instance._state.db = using
    post_save.send(
        type(instance), instance=instance, created=True, update_fields=None, raw=False, using=using
    )
