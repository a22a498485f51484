"""The abstract base for models with encrypted columns, and the queryset that guards them.

``EncryptedModel`` binds each loaded envelope to its row (the row's key is part of the associated
data, docs/security.md) and reloads rows without decrypting anything; ``EncryptedQuerySet``
refuses to order by an encrypted column.
"""

from __future__ import annotations

from typing import Any

from django.db import models

from installations.encryption.fields import (
    EncryptedFieldUsageError,
    EncryptedTextField,
    Sealed,
    sealed_reads,
)


class EncryptedQuerySet(models.QuerySet):
    """Refuses to order by an encrypted column: its ciphertexts have no meaningful order."""

    def order_by(self, *field_names: Any) -> EncryptedQuerySet:
        encrypted = {field.name for field in encrypted_fields(self.model)}
        for name in field_names:
            if isinstance(name, str) and name.lstrip("-") in encrypted:
                raise EncryptedFieldUsageError(
                    f"{self.model._meta.label}.{name.lstrip('-')} is encrypted and cannot be "
                    "ordered by"
                )
        return super().order_by(*field_names)


def encrypted_fields(model: type[models.Model]) -> list[EncryptedTextField]:
    return [f for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]


class EncryptedModel(models.Model):
    """Base for models with encrypted columns: binds each loaded envelope to its row."""

    objects = EncryptedQuerySet.as_manager()

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db: str, field_names: list[str], values: list[Any]) -> EncryptedModel:
        instance = super().from_db(db, field_names, values)
        for field in encrypted_fields(cls):
            value = instance.__dict__.get(field.attname)
            if isinstance(value, Sealed):
                value.row = instance.pk
        return instance

    def refresh_from_db(
        self, using: str | None = None, fields: Any = None, from_queryset: Any = None
    ) -> None:
        # Django copies each reloaded value with getattr(), which would decrypt every token
        # (and fail on an unreadable one) just to reload the row: copy the envelopes sealed.
        with sealed_reads():
            super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)
