"""Key rotation: count values per key id and move every value under the active key.

Walks each encrypted column in primary-key order, a batch at a time (keyset pagination: bounded
memory, no OFFSET scans). A batch is read and re-sealed without locks, then written in one short
transaction: the batch's rows read again with ``select_for_update()``, and each new envelope
written (``bulk_update``, one UPDATE per column) only where the row still holds the envelope that
was re-sealed: a value written meanwhile (a token refreshed while the run goes on) is left as its
writer stored it, so nothing is ever overwritten with an older token. Each batch commits on its
own, so a run that stops halfway leaves every value readable with the old and new keys listed,
and running again finishes the rest. Values already under the active key are left alone
(idempotent).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.db.models import Count

from installations.encryption import configured
from installations.encryption.fields import (
    EncryptedDataError,
    EncryptedTextField,
    EnvelopeToWrite,
    StoredEnvelope,
)
from installations.encryption.keyring import FORMAT
from installations.encryption.models import encrypted_fields
from installations.encryption.stored_kids import kid_expression

logger = logging.getLogger(__name__)

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
    changed_meanwhile: int = 0  # values another writer replaced between our read and our write


@dataclass
class _Change:
    """One row's new envelopes: per column, (old envelope, new envelope, key id it leaves)."""

    pk: object
    columns: dict[int, tuple[str, str, str]]


def encrypted_models() -> list[tuple[type[models.Model], tuple[EncryptedTextField, ...]]]:
    found = []
    for model in apps.get_app_config("installations").get_models():
        fields = encrypted_fields(model)
        if fields:
            found.append((model, fields))
    return found


def _batches(
    model: type[models.Model], fields: Sequence[EncryptedTextField], batch_size: int
) -> Iterator[list[Row]]:
    """(pk, envelopes...) rows in primary-key order, one batch at a time, nothing decrypted."""
    names = [f.attname for f in fields]
    last = None
    while True:
        query = model._base_manager.order_by("pk")
        if last is not None:
            query = query.filter(pk__gt=last)
        batch = list(query.values_list("pk", *names)[:batch_size])
        if not batch:
            return
        yield batch
        last = batch[-1][0]


def census() -> Counter[str]:
    """How many stored values each key id protects (all models, all encrypted columns).

    Counted in SQL from the envelopes' clear key-id prefix (stored_kids.py): one GROUP BY per
    column, no value read into Python.
    """
    counts: Counter[str] = Counter()
    for model, fields in encrypted_models():
        for column in fields:
            rows = (
                model._base_manager.filter(**{f"{column.attname}__isnull": False})
                .annotate(stored_kid=kid_expression(column.attname))
                .order_by()
                .values("stored_kid")
                .annotate(n=Count("*"))
                .values_list("stored_kid", "n")
            )
            for kid, n in rows:
                counts[kid or "unknown"] += n
    return counts


def reencrypt(batch_size: int = 500, progress: Progress | None = None) -> ReencryptReport:
    """Re-encrypt every value not under the active key; returns what moved and what failed."""
    active_prefix = f"{FORMAT}.{configured.keyring().active_kid}."
    report = ReencryptReport()
    for model, fields in encrypted_models():
        for batch in _batches(model, fields, batch_size):
            changes = _reseal(fields, batch, active_prefix, report)
            if changes:
                _write(model, fields, changes, report)
            report.rows_scanned += len(batch)
            if progress:
                progress(sum(report.reencrypted.values()), report.rows_scanned)
    return report


def _reseal(
    fields: Sequence[EncryptedTextField],
    batch: list[Row],
    active_prefix: str,
    report: ReencryptReport,
) -> list[_Change]:
    """The new envelopes of a batch; values that cannot be decrypted are reported, not moved."""
    changes = []
    for pk, *values in batch:
        columns: dict[int, tuple[str, str, str]] = {}
        for index, (column, sealed) in enumerate(zip(fields, values, strict=True)):
            if not isinstance(sealed, StoredEnvelope) or sealed.envelope.startswith(active_prefix):
                continue
            try:
                new = column.reseal(sealed, pk)
            except EncryptedDataError as exc:
                report.unreadable.append(Unreadable(exc.label, exc.field, exc.row, exc.kid))
                logger.error("re-encrypt: %s", exc)
                continue
            columns[index] = (sealed.envelope, new, sealed.kid or "unknown")
        if columns:
            changes.append(_Change(pk, columns))
    return changes


def _write(
    model: type[models.Model],
    fields: Sequence[EncryptedTextField],
    changes: list[_Change],
    report: ReencryptReport,
) -> None:
    """Store a batch's new envelopes, each only where the row (locked) still holds the envelope
    that was re-sealed; count what was written by the key id it left."""
    names = [column.attname for column in fields]
    with transaction.atomic():
        # In key order, as every batch and run locks them: two runs never deadlock.
        rows = model._base_manager.select_for_update().filter(pk__in=[c.pk for c in changes])
        locked = rows.order_by("pk")
        held = {pk: envelopes for pk, *envelopes in locked.values_list("pk", *names)}
        for index, name in enumerate(names):
            moved = []
            for change in changes:
                if index not in change.columns:
                    continue
                old, new, kid = change.columns[index]
                now = held.get(change.pk, [None] * len(names))[index]
                if isinstance(now, StoredEnvelope) and now.envelope == old:
                    moved.append(model(pk=change.pk, **{name: EnvelopeToWrite(new)}))
                    report.reencrypted[kid] += 1
                else:
                    report.changed_meanwhile += 1
            if moved:
                model._base_manager.bulk_update(moved, [name])
