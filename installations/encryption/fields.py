"""EncryptedTextField: a text column that holds only AES-GCM envelopes (see crypto.py).

Values load sealed and are opened on first attribute access, with the row's primary key in the
associated data, so a ciphertext moved to another row or column fails closed. Saving a value that
was loaded and not changed writes the stored envelope back untouched: ciphertext is never
mistaken for plaintext and never encrypted twice. ``None`` is NULL; ``""`` is encrypted.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.core import checks
from django.db import models
from django.db.models.lookups import Exact, IsNull
from django.db.models.query_utils import DeferredAttribute

from installations import conf
from installations.encryption.keyring import EnvelopeError, KeyringError, kid_of


class EncryptedDataError(Exception):
    """A stored token cannot be read. Names model, field, row and key id, never the value.

    An unreadable value is a configuration error of the process that read it (its
    TOKEN_ENCRYPTION_KEYS lacks the key, or holds another key under that id), never a fact about
    the workspace: callers change nothing and say so with ``key_problem`` / ``unreadable_summary``.
    """

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
        return conf.keyring().kids
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


class Sealed:
    """An envelope as read from the database, not opened yet; ``row`` is its row's key."""

    __slots__ = ("envelope", "row")

    def __init__(self, envelope: str, row: object = None) -> None:
        self.envelope = envelope
        self.row = row

    @property
    def kid(self) -> str | None:
        return kid_of(self.envelope)

    def __repr__(self) -> str:
        return f"<Sealed key id {self.kid}>"


class Opened(str):
    """A decrypted value that remembers the envelope it came from; its repr is masked."""

    envelope: str
    row: object

    def __new__(cls, plaintext: str, envelope: str, row: object) -> Opened:
        value = super().__new__(cls, plaintext)
        value.envelope = envelope
        value.row = row
        return value

    def __repr__(self) -> str:
        return "'<redacted>'"


class Ciphertext(str):
    """An envelope ready for the database: the only kind of string the column accepts."""


def holds_value(instance: models.Model, name: str) -> bool:
    """Whether an encrypted column of ``instance`` holds a value, without decrypting it
    (presence checks must work, and stay cheap, even when the value cannot be opened)."""
    attname = instance._meta.get_field(name).attname
    if attname in instance.get_deferred_fields():
        instance.refresh_from_db(fields=[attname])  # loads the envelope, still sealed
    return instance.__dict__.get(attname) is not None


# While set, attribute reads hand back stored values still sealed (refresh_from_db copies).
_reading_sealed: ContextVar[bool] = ContextVar("reading_sealed", default=False)


@contextmanager
def sealed_reads() -> Iterator[None]:
    token = _reading_sealed.set(True)
    try:
        yield
    finally:
        _reading_sealed.reset(token)


class EncryptedAttribute(DeferredAttribute):
    """Opens a sealed value on first access and keeps the plaintext for the instance."""

    def __get__(self, instance: models.Model | None, cls: type | None = None) -> Any:
        if instance is None:
            return self
        value = super().__get__(instance, cls)
        if isinstance(value, Sealed) and not _reading_sealed.get():
            value = self.field.open(value, instance.pk)
            instance.__dict__[self.field.attname] = value
        return value

    def __set__(self, instance: models.Model, value: Any) -> None:
        instance.__dict__[self.field.attname] = value


class EncryptedExact(Exact):
    """Only ``= None`` (which Django turns into IS NULL) is allowed."""

    def __init__(self, lhs: Any, rhs: Any) -> None:
        if rhs is not None:
            raise self.lhs_field_error(lhs, "exact")
        super().__init__(lhs, rhs)

    @staticmethod
    def lhs_field_error(lhs: Any, lookup: str) -> EncryptedFieldUsageError:
        field = getattr(lhs, "target", None) or getattr(lhs, "output_field", None)
        return EncryptedFieldUsageError(
            f"{field.model._meta.label}.{field.name} is encrypted: only isnull lookups work, "
            f"not {lookup!r}"
        )


class EncryptedTextField(models.TextField):
    """A TextField whose values are sealed with the configured keyring."""

    description = "Text encrypted at rest (AES-256-GCM envelope)"
    descriptor_class = EncryptedAttribute

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        for option in ("unique", "db_index", "primary_key"):
            if kwargs.get(option):
                raise EncryptedFieldUsageError(
                    f"EncryptedTextField cannot be {option}: ciphertexts are randomized"
                )
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    # --- sealing and opening -------------------------------------------------------------
    def context(self, row: object) -> str:
        return f"{self.model._meta.label_lower}|{self.name}|{row}"

    def seal(self, plaintext: str, row: object) -> Ciphertext:
        return Ciphertext(conf.keyring().encrypt(plaintext, self.context(row)))

    def open(self, sealed: Sealed, row: object) -> Opened:
        row = sealed.row if sealed.row is not None else row
        keyring = conf.keyring()
        try:
            plaintext = keyring.decrypt(sealed.envelope, self.context(row))
        except EnvelopeError as exc:
            raise EncryptedDataError(
                self.model._meta.label, self.name, row, exc.kid, exc.reason, keyring.kids
            ) from None
        return Opened(plaintext, sealed.envelope, row)

    def stored_envelope(self, instance: models.Model) -> str | None:
        """The envelope this instance would store, without decrypting anything unneeded."""
        value = instance.__dict__.get(self.attname)
        if value is None:
            return None
        if isinstance(value, (Sealed, Opened)) and value.row in (None, instance.pk):
            return value.envelope
        if isinstance(value, Sealed):  # the row's key changed: re-bind to the new row
            value = self.open(value, instance.pk)
        return self.seal(str(value), instance.pk)

    # --- Django hooks ---------------------------------------------------------------------
    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Sealed | None:
        return None if value is None else Sealed(value)

    def pre_save(self, model_instance: models.Model, add: bool) -> Ciphertext | None:
        envelope = self.stored_envelope(model_instance)
        return None if envelope is None else Ciphertext(envelope)

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, Ciphertext):
            return str(value)
        if isinstance(value, (Sealed, Opened)):
            # loaddata saves raw (no pre_save): the envelope as it was stored, bound to its row.
            return value.envelope
        raise EncryptedFieldUsageError(
            f"{self.model._meta.label}.{self.name} is encrypted: assign the value and save() the "
            "instance, or pass field.seal(plaintext, row) to update()"
        )

    def to_python(self, value: Any) -> Any:
        # Deserializers (loaddata) hand over what dumpdata wrote: the stored envelope.
        if isinstance(value, str) and kid_of(value) is not None:
            return Sealed(value)
        return value

    def value_from_object(self, obj: models.Model) -> str | None:
        # Serializers (dumpdata) and forms get the envelope, never the plaintext.
        return self.stored_envelope(obj)

    def value_to_string(self, obj: models.Model) -> str | None:
        return self.stored_envelope(obj)

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
        ordering = [str(name).lstrip("-") for name in self.model._meta.ordering]
        if self.name in ordering:
            errors.append(
                checks.Error(
                    f"{self.model._meta.label}.{self.name} is encrypted and cannot be ordered by.",
                    obj=self,
                    id="installations.E010",
                )
            )
        return errors
