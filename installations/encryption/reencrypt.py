"""Key rotation: count values per key id and move every value under the active key.

A batch per short transaction: rows locked in key order (two runs never deadlock), re-sealed from
what was read under the lock (a refresh or install waits for the commit, so nothing is overwritten
with an older token), written with one UPDATE. A run that stops halfway leaves every value
readable; a value this process cannot decrypt is reported and left as it is.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F
from django.db.models.functions import Coalesce

from installations.encryption import configured
from installations.encryption.fields import (
    EncryptedDataError,
    EncryptedTextField,
    StoredEnvelope,
)
from installations.encryption.keyring import FORMAT
from installations.encryption.models import encrypted_fields
from installations.encryption.row_values import RowValue, row_key
from installations.encryption.stored_kids import kid_counts

logger = logging.getLogger(__name__)

# Rows per batch at most: one transaction holds their locks, and the UPDATE lists their keys
# (SQLite takes at most 32,766 parameters in one statement).
MAX_BATCH = 10_000

Progress = Callable[[int, int], None]  # (values re-encrypted so far, rows scanned so far)
Row = tuple[Any, ...]  # (pk, one StoredEnvelope or None per encrypted column)


@dataclass
class Unreadable:
    label: str
    field: str
    row: object
    kid: str | None


@dataclass
class ReencryptReport:
    reencrypted: Counter[str] = field(default_factory=Counter)  # by the key id they left
    unreadable: list[Unreadable] = field(default_factory=list)
    rows_scanned: int = 0


def encrypted_models() -> list[tuple[type[models.Model], tuple[EncryptedTextField, ...]]]:
    app_models = apps.get_app_config("installations").get_models()
    return [(model, fields) for model in app_models if (fields := encrypted_fields(model))]


def census() -> Counter[str]:
    """How many stored values each key id protects, counted in SQL (stored_kids.py)."""
    counts: Counter[str] = Counter()
    for kid, n in kid_counts().items():
        counts[kid or "unknown"] += n
    return counts


def reencrypt(batch_size: int = 500, progress: Progress | None = None) -> ReencryptReport:
    """Re-encrypt every value not under the active key; returns what moved and what failed."""
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}, not {batch_size}")
    active_prefix = f"{FORMAT}.{configured.keyring().active_kid}."
    report = ReencryptReport()
    for model, fields in encrypted_models():
        last: object = None
        while True:
            batch = _move_batch(model, fields, last, batch_size, active_prefix, report)
            report.rows_scanned += len(batch)
            if progress:
                progress(sum(report.reencrypted.values()), report.rows_scanned)
            if len(batch) < batch_size:  # the last rows of the table
                break
            last = batch[-1][0]
    return report


def _move_batch(
    model: type[models.Model],
    fields: Sequence[EncryptedTextField],
    after: object,
    batch_size: int,
    active_prefix: str,
    report: ReencryptReport,
) -> list[Row]:
    """Lock the next rows after key ``after``, re-seal their values, commit; the rows as read."""
    alias = router.db_for_write(model)
    rows = model._base_manager.using(alias)
    with transaction.atomic(using=alias):
        # Locked in key order, as every batch and run locks them: two runs never deadlock.
        locked = rows.select_for_update().order_by("pk")
        if after is not None:
            locked = locked.filter(pk__gt=after)
        batch = list(locked.values_list("pk", *(f.attname for f in fields))[:batch_size])
        new = _reseal(fields, batch, active_prefix, connections[alias], report)
        if new:
            # One UPDATE for the batch: the rows with a new envelope, found through the batch's
            # key range (an index range scan) and the mapping; a column a row keeps stays as is.
            changes = {
                column.attname: Coalesce(RowValue(values), F(column.attname), output_field=column)
                for column, values in new.columns.items()
            }
            first, last = batch[0][0], batch[-1][0]
            moving = rows.filter(pk__gte=first, pk__lte=last).alias(moves=RowValue(new.rows))
            written = moving.filter(moves__isnull=False).update(**changes)
            if written != len(new.rows):  # they are locked: only a row key mismatch gets here
                raise RuntimeError(
                    f"{model._meta.label}: {written} of {len(new.rows)} rows matched their new "
                    "values; the batch was rolled back"
                )
    return batch


@dataclass
class _NewEnvelopes:
    """A batch's re-sealed values: per column, {row key: new envelope}; and the keys of the rows
    with at least one of them ({row key: ""}, for ``RowValue``)."""

    columns: dict[EncryptedTextField, dict[str, str]] = field(default_factory=dict)
    rows: dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.rows)


def _reseal(
    fields: Sequence[EncryptedTextField],
    batch: list[Row],
    active_prefix: str,
    connection: BaseDatabaseWrapper,
    report: ReencryptReport,
) -> _NewEnvelopes:
    """The batch's values re-sealed under the active key; unreadable ones reported, left out."""
    new = _NewEnvelopes()
    for pk, *values in batch:
        key = None
        for column, sealed in zip(fields, values, strict=True):
            if not isinstance(sealed, StoredEnvelope) or sealed.envelope.startswith(active_prefix):
                continue
            try:
                envelope = column.reseal(sealed, pk)
            except EncryptedDataError as exc:
                report.unreadable.append(Unreadable(exc.label, exc.field, exc.row, exc.kid))
                logger.error("re-encrypt: %s", exc)
                continue
            if key is None:
                key = row_key(column.model, pk, connection)
                new.rows[key] = ""
            new.columns.setdefault(column, {})[key] = envelope
            report.reencrypted[sealed.kid or "unknown"] += 1
    return new
