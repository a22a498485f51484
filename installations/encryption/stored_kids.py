"""Which key ids the stored envelopes name, read in SQL from their clear prefix.

An envelope is ``v1.<kid>.<body>``: the key id sits in clear text, so one DISTINCT (or GROUP BY,
for ``slack_reencrypt``) per column answers without reading or decrypting a value.
"""

from __future__ import annotations

from django.db.models import Case, CharField, F, IntegerField, TextField, Value, When
from django.db.models.functions import Cast, StrIndex, Substr
from django.db.models.lookups import GreaterThan, StartsWith

from installations.encryption.keyring import FORMAT

_PREFIX = len(FORMAT) + 2  # 1-based position of the kid: after "v1."


def kid_expression(column: str) -> Case:
    """The key id an envelope column names, computed by the database; "" for text that is no
    envelope (never an error: PostgreSQL refuses a negative substring length). Callers leave
    NULLs out (``isnull=False``)."""
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


def stored_kids() -> set[str]:
    """Every key id some stored value of an encrypted column names (all models)."""
    from installations.encryption.reencrypt import encrypted_models  # needs the app registry

    kids: set[str] = set()
    for model, fields in encrypted_models():
        for field in fields:
            rows = (
                model._base_manager.filter(**{f"{field.attname}__isnull": False})
                .annotate(stored_kid=kid_expression(field.attname))
                .order_by()
                .values_list("stored_kid", flat=True)
                .distinct()
            )
            kids.update(kid for kid in rows if kid)
    return kids
