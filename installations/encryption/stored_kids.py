"""Which key ids the stored envelopes name, read in SQL from their clear prefix.

An envelope is ``v1.<kid>.<body>``: the key id is not secret and sits in clear text, so the
database can list the distinct ids with one DISTINCT per column, without reading a single value
into Python or decrypting anything. ``slack_reencrypt --check`` counts per key id by walking
every row; this is the cheap question a system check can afford: "is anything stored under a
key this process does not hold?"
"""

from __future__ import annotations

from django.db.models import F, IntegerField, TextField, Value
from django.db.models.functions import Cast, StrIndex, Substr

from installations.encryption.keyring import FORMAT

_PREFIX = len(FORMAT) + 2  # 1-based position of the kid: after "v1."


def _kid_expression(column: str) -> Substr:
    after_format = Substr(Cast(F(column), TextField()), _PREFIX)
    length = StrIndex(after_format, Value(".")) - Value(1, output_field=IntegerField())
    return Substr(Cast(F(column), TextField()), _PREFIX, length)


def stored_kids() -> set[str]:
    """Every key id some stored value of an encrypted column names (all models)."""
    from installations.encryption.reencrypt import encrypted_models  # needs the app registry

    kids: set[str] = set()
    for model, fields in encrypted_models():
        for field in fields:
            rows = (
                model._base_manager.filter(**{f"{field.attname}__isnull": False})
                .annotate(stored_kid=_kid_expression(field.attname))
                .order_by()
                .values_list("stored_kid", flat=True)
                .distinct()
            )
            kids.update(kid for kid in rows if kid)
    return kids
