"""The abstract base for models with encrypted columns, and the queryset that guards them.

``EncryptedModel`` binds each loaded envelope to its row and reloads rows without decrypting;
``EncryptedQuerySet`` refuses to order by an encrypted column.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Self, TypeVar
from weakref import WeakKeyDictionary

from django.db import models

from installations.encryption.fields import (
    EncryptedFieldUsageError,
    EncryptedTextField,
    StoredEnvelope,
    reading_envelopes_only,
)

_M = TypeVar("_M", bound=models.Model)


class EncryptedQuerySet(models.QuerySet[_M]):
    """Refuses to order by an encrypted column: its ciphertexts have no meaningful order."""

    def order_by(self, *field_names: Any) -> Self:
        encrypted = {field.name for field in encrypted_fields(self.model)}
        for name in field_names:
            if isinstance(name, str) and name.lstrip("-") in encrypted:
                raise EncryptedFieldUsageError(
                    f"{self.model._meta.label}.{name.lstrip('-')} is encrypted and cannot be "
                    "ordered by"
                )
        return super().order_by(*field_names)


# Weak keys: migrations build throwaway model classes, which must not be kept alive here.
_ENCRYPTED_FIELDS: WeakKeyDictionary[type[models.Model], tuple[EncryptedTextField, ...]] = (
    WeakKeyDictionary()
)


def encrypted_fields(model: type[models.Model]) -> tuple[EncryptedTextField, ...]:
    """The model's encrypted columns; looked up once per model (every loaded row asks)."""
    if model not in _ENCRYPTED_FIELDS:
        fields = model._meta.concrete_fields
        _ENCRYPTED_FIELDS[model] = tuple(f for f in fields if isinstance(f, EncryptedTextField))
    return _ENCRYPTED_FIELDS[model]


class EncryptedModel(models.Model):
    """Base for models with encrypted columns: binds each loaded envelope to its row."""

    objects = EncryptedQuerySet.as_manager()

    class Meta:
        abstract = True

    @classmethod
    def from_db(
        cls, db: str | None, field_names: Collection[str], values: Collection[Any], **kwargs: Any
    ) -> EncryptedModel:
        # **kwargs: what later Django releases add (``fetch_mode``), passed on untouched.
        instance = super().from_db(db, field_names, values, **kwargs)
        for field in encrypted_fields(cls):
            value = instance.__dict__.get(field.attname)
            if isinstance(value, StoredEnvelope):
                value.row = instance.pk
        return instance

    def refresh_from_db(
        self, using: str | None = None, fields: Any = None, from_queryset: Any = None
    ) -> None:
        # Django copies each reloaded value with getattr(), which would decrypt every token
        # (and fail on an unreadable one) just to reload the row: copy the envelopes sealed.
        with reading_envelopes_only():
            super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)
