"""Which key ids the stored envelopes name, read in SQL from their clear prefix ``v1.<kid>.``:
one query per column, without reading or decrypting a value."""

from __future__ import annotations

from collections import Counter

from django.db.models import Case, CharField, Count, F, IntegerField, TextField, Value, When
from django.db.models.functions import Cast, StrIndex, Substr
from django.db.models.lookups import GreaterThan, StartsWith

from installations.encryption.keyring import FORMAT

_PREFIX = len(FORMAT) + 2  # 1-based position of the kid: after "v1."


def kid_expression(column: str) -> Case:
    """The key id an envelope column names, computed by the database; "" for text that is no
    envelope (never an error: PostgreSQL refuses a negative substring length)."""
    text = Cast(F(column), TextField())
    dot = StrIndex(Substr(text, _PREFIX), Value("."))  # 0: no "." after the format
    kid = Substr(text, _PREFIX, dot - Value(1, output_field=IntegerField()))
    return Case(
        When(
            StartsWith(text, Value(f"{FORMAT}.")),
            then=Case(When(GreaterThan(dot, 1), then=kid), default=Value("")),
        ),
        default=Value(""),
        output_field=CharField(),
    )


def kid_counts() -> Counter[str]:
    """How many stored values each key id protects ("" for text that is no envelope), over every
    encrypted column of every model: one GROUP BY per column."""
    from installations.encryption.reencrypt import encrypted_models  # needs the app registry

    counts: Counter[str] = Counter()
    for model, fields in encrypted_models():
        for field in fields:
            rows = (
                model._base_manager.filter(**{f"{field.attname}__isnull": False})
                .annotate(stored_kid=kid_expression(field.attname))
                .order_by()
                .values("stored_kid")
                .annotate(n=Count("*"))
                .values_list("stored_kid", "n")
            )
            for kid, n in rows:
                counts[kid] += n
    return counts


def stored_kids() -> set[str]:
    """Every key id some stored value of an encrypted column names (all models)."""
    return {kid for kid in kid_counts() if kid}
