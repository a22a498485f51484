"""EncryptedTextField: a text column that holds only AES-GCM envelopes (see keyring.py).

A value loads as a ``StoredEnvelope`` (never shown as text by accident) and is decrypted on first
access, with the row's key in the associated data, so a ciphertext moved elsewhere fails closed.
An unchanged value is written back as its stored envelope, never encrypted twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from django.core import checks
from django.db import models
from django.db.models.lookups import Exact, IsNull
from django.db.models.query_utils import DeferredAttribute

from installations.encryption import configured
from installations.encryption.keyring import EnvelopeError, KeyringError, kid_of
from installations.observability import metrics


class EncryptedDataError(Exception):
    """A stored token cannot be read: a configuration error of this process's keys, never a fact
    about the workspace. Names model, field, row and key id, never the value."""

    def __init__(
        self,
        label: str,
        field: str,
        row: object,
        kid: str | None,
        reason: str,
        configured: tuple[str, ...] = (),
    ) -> None:
        self.label, self.field, self.row, self.kid, self.reason = label, field, row, kid, reason
        self.configured = configured  # the key ids this process has
        metrics.undecryptable()
        super().__init__(
            f"cannot decrypt {label}.{field} of row {row} (key id {kid or 'unknown'}): {reason}"
        )

    @property
    def needed_kid(self) -> str:
        return self.kid or "unknown"

    @property
    def key_problem(self) -> str:
        """'needs key id X; configured: Y, Z': the words every caller uses for this error."""
        return key_problem([self.needed_kid], self.configured)


def configured_kids() -> tuple[str, ...]:
    """The key ids this process has (empty when the setting itself is malformed)."""
    try:
        return configured.keyring().kids
    except KeyringError:
        return ()


def key_problem(needed: Iterable[str], configured: Iterable[str] | None = None) -> str:
    """Which key ids the unreadable values need and which ids this process has; no values."""
    kids = ", ".join(sorted(set(needed))) or "unknown"
    have = ", ".join(configured_kids() if configured is None else configured) or "none"
    return f"needs key id {kids}; configured: {have}"


def unreadable_summary(needed: Sequence[str]) -> str:
    """The one line a run ends with when values could not be decrypted (``needed``: one key id
    per unreadable value). Nothing was changed for them: they stay due for a correct run."""
    return (
        f"{len(needed)} value(s) could not be decrypted with this process's keys "
        f"({key_problem(needed)}): check TOKEN_ENCRYPTION_KEYS; nothing was changed"
    )


class EncryptedFieldUsageError(TypeError):
    """An operation an encrypted column cannot support (lookups, ordering, raw writes)."""


class StoredEnvelope:
    """An envelope as loaded from the database, not decrypted yet; ``row`` is the key of the row
    it is bound to (None: the instance's own row)."""

    __slots__ = ("envelope", "row")

    def __init__(self, envelope: str, row: object = None) -> None:
        self.envelope, self.row = envelope, row

    @property
    def kid(self) -> str | None:
        return kid_of(self.envelope)

    def __repr__(self) -> str:
        return f"<StoredEnvelope key id {self.kid}>"


class DecryptedValue(str):
    """The plaintext of a ``StoredEnvelope``, remembering that envelope and its row, so saving
    it unchanged writes the envelope back without encrypting again; its repr is masked."""

    envelope: str
    row: object

    def __new__(cls, plaintext: str, envelope: str, row: object) -> DecryptedValue:
        value = super().__new__(cls, plaintext)
        value.envelope, value.row = envelope, row
        return value

    def __repr__(self) -> str:
        return "'<redacted>'"


class EnvelopeToWrite(str):
    """An envelope on its way to the database: the only kind of str the column accepts, so a
    plaintext can never be written by mistake (``field.seal`` makes one)."""


def _loaded_value(instance: models.Model, name: str) -> object:
    """What an encrypted column of ``instance`` holds (a deferred one loaded); never decrypts."""
    field = instance._meta.get_field(name)
    if not isinstance(field, EncryptedTextField):
        raise EncryptedFieldUsageError(f"{instance._meta.label}.{name} is not encrypted")
    attname = field.attname
    if attname in instance.get_deferred_fields():
        instance.refresh_from_db(fields=[attname])  # loads the envelope, not decrypted
    return instance.__dict__.get(attname)


def has_stored_value(instance: models.Model, name: str) -> bool:
    """Whether an encrypted column of ``instance`` is not NULL, without decrypting it."""
    return _loaded_value(instance, name) is not None


def stored_envelope(instance: models.Model, name: str) -> str | None:
    """The envelope an encrypted column of ``instance`` holds, never decrypted (None: NULL, or
    a plaintext assigned and not saved yet). For reports of which key a value needs."""
    value = _loaded_value(instance, name)
    if isinstance(value, StoredEnvelope | DecryptedValue):
        return value.envelope
    return str(value) if isinstance(value, EnvelopeToWrite) else None


# While set, attribute reads hand back StoredEnvelopes undecrypted (refresh_from_db copies).
_envelopes_only: ContextVar[bool] = ContextVar("envelopes_only", default=False)


@contextmanager
def reading_envelopes_only() -> Iterator[None]:
    """Inside, reading an encrypted attribute returns its ``StoredEnvelope`` (no decryption)."""
    token = _envelopes_only.set(True)
    try:
        yield
    finally:
        _envelopes_only.reset(token)


class EncryptedAttribute(DeferredAttribute):
    """Decrypts a StoredEnvelope on first access and keeps the DecryptedValue."""

    field: EncryptedTextField

    def __get__(self, instance: models.Model | None, cls: type | None = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        if isinstance(value, StoredEnvelope) and not _envelopes_only.get():
            value = self.field.open(value, instance.pk)
            instance.__dict__[self.field.attname] = value
        return value

    def __set__(self, instance: models.Model, value: Any) -> None:
        instance.__dict__[self.field.attname] = value


class EncryptedExact(Exact):  # type: ignore[type-arg,unused-ignore]  # generic in some stubs
    """Only ``= None`` (which Django turns into IS NULL) is allowed."""

    def __init__(self, lhs: Any, rhs: Any) -> None:
        if rhs is not None:
            raise self.lhs_field_error(lhs, "exact")
        super().__init__(lhs, rhs)

    @staticmethod
    def lhs_field_error(lhs: Any, lookup: str) -> EncryptedFieldUsageError:
        field = getattr(lhs, "target", None) or getattr(lhs, "output_field", None)
        column = f"{field.model._meta.label}.{field.name}" if field is not None else "The column"
        return EncryptedFieldUsageError(
            f"{column} is encrypted: only isnull lookups work, not {lookup!r}"
        )


# Generic parameters for django-stubs only: TextField cannot be subscripted at run time.
if TYPE_CHECKING:
    _TextField = models.TextField[str | None, str | None]
else:
    _TextField = models.TextField


class EncryptedTextField(_TextField):
    """A TextField whose values are sealed with the configured keyring."""

    description = "Text encrypted at rest (AES-256-GCM envelope)"
    descriptor_class = EncryptedAttribute

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        for option in ("unique", "db_index", "primary_key"):
            if kwargs.get(option):
                raise EncryptedFieldUsageError(
                    f"EncryptedTextField cannot be {option}: ciphertexts are randomized"
                )
        super().__init__(*args, **{"null": True, "blank": True, "editable": False, **kwargs})

    # --- sealing and opening -------------------------------------------------------------
    def context(self, row: object) -> str:
        return f"{self.model._meta.label_lower}|{self.name}|{row}"

    def seal(self, plaintext: str, row: object) -> EnvelopeToWrite:
        return EnvelopeToWrite(configured.keyring().encrypt(plaintext, self.context(row)))

    def open(self, sealed: StoredEnvelope, row: object) -> DecryptedValue:
        row = sealed.row if sealed.row is not None else row
        keyring = configured.keyring()
        try:
            plaintext = keyring.decrypt(sealed.envelope, self.context(row))
        except EnvelopeError as exc:
            raise EncryptedDataError(
                self.model._meta.label, self.name, row, exc.kid, exc.reason, keyring.kids
            ) from None
        return DecryptedValue(plaintext, sealed.envelope, row)

    def reseal(self, sealed: StoredEnvelope, row: object) -> EnvelopeToWrite:
        """The same value sealed again under the active key, for the same row (key rotation)."""
        row = sealed.row if sealed.row is not None else row
        return self.seal(str(self.open(sealed, row)), row)

    def stored_envelope(self, instance: models.Model) -> str | None:
        """The envelope this instance would store, without decrypting anything unneeded."""
        value = instance.__dict__.get(self.attname)
        if value is None:
            return None
        if isinstance(value, (StoredEnvelope, DecryptedValue)) and value.row in (None, instance.pk):
            return value.envelope
        if isinstance(value, StoredEnvelope):  # the row's key changed: re-bind to the new row
            value = self.open(value, instance.pk)
        return self.seal(str(value), instance.pk)

    # --- Django hooks ---------------------------------------------------------------------
    def from_db_value(
        self, value: str | None, expression: Any, connection: Any
    ) -> StoredEnvelope | None:
        return None if value is None else StoredEnvelope(value)

    def pre_save(self, model_instance: models.Model, add: bool) -> EnvelopeToWrite | None:
        envelope = self.stored_envelope(model_instance)
        return None if envelope is None else EnvelopeToWrite(envelope)

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, EnvelopeToWrite):
            return str(value)
        if isinstance(value, (StoredEnvelope, DecryptedValue)):
            # loaddata saves raw (no pre_save): the envelope as it was stored, bound to its row.
            return value.envelope
        raise EncryptedFieldUsageError(
            f"{self.model._meta.label}.{self.name} is encrypted: assign the value and save() the "
            "instance, or pass field.seal(plaintext, row) to update()"
        )

    def to_python(self, value: Any) -> Any:
        # Deserializers (loaddata) hand over what dumpdata wrote: the stored envelope.
        if isinstance(value, str) and kid_of(value) is not None:
            return StoredEnvelope(value)
        return value

    def value_from_object(self, obj: models.Model) -> str | None:
        # Serializers (dumpdata) and forms get the envelope, never the plaintext.
        return self.stored_envelope(obj)

    def value_to_string(self, obj: models.Model) -> str:
        # Serializers call this only for a value that is not None (None is written as null).
        return self.stored_envelope(obj) or ""

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "isnull":
            return IsNull
        if lookup_name == "exact":
            return EncryptedExact
        raise EncryptedFieldUsageError(
            f"{self.model._meta.label}.{self.name} is encrypted: only isnull lookups work, "
            f"not {lookup_name!r}"
        )

    def get_transform(self, lookup_name: str) -> Any:
        return self.get_lookup(lookup_name)

    def check(self, **kwargs: Any) -> list[checks.CheckMessage]:
        errors = super().check(**kwargs)
        ordering = [str(name).lstrip("-") for name in self.model._meta.ordering or ()]
        if self.name in ordering:
            errors.append(
                checks.Error(
                    f"{self.model._meta.label}.{self.name} is encrypted and cannot be ordered by.",
                    obj=self,
                    id="installations.E010",
                )
            )
        return errors
