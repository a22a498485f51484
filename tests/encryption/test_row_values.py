"""RowValue: each row's own value from one JSON mapping, looked up by the database.

Properties, on SQLite and PostgreSQL alike: for any primary key and any text, the row gets exactly
its text (``row_key`` agrees with the database's text of the key; JSON escaping round-trips); a
row not in the mapping gets NULL.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import NotSupportedError, connection
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from installations.encryption.row_values import RowValue, row_key
from installations.models import Workspace

# Text a database column can hold: no NUL (PostgreSQL's text refuses it), no lone surrogates.
TEXT = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"))


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pk=st.uuids(), mine=TEXT, other=TEXT)
def test_each_row_gets_exactly_its_own_value(pk: uuid.UUID, mine: str, other: str) -> None:
    row = Workspace.objects.create(pk=pk, client_id="1111.2222", team_id="T0ROWVALUE")
    neighbour = Workspace.objects.create(client_id="1111.2222", team_id="T0NEIGHBOUR")
    absent = Workspace.objects.create(client_id="1111.2222", team_id="T0ABSENT")
    values = {row_key(Workspace, row.pk, connection): mine}
    values[row_key(Workspace, neighbour.pk, connection)] = other
    try:
        found = dict(
            Workspace.objects.annotate(value=RowValue(values)).values_list("team_id", "value")
        )
        assert found == {"T0ROWVALUE": mine, "T0NEIGHBOUR": other, "T0ABSENT": None}
    finally:
        Workspace.objects.filter(pk__in=[row.pk, neighbour.pk, absent.pk]).delete()


def test_another_database_is_refused_before_anything_is_written() -> None:
    with pytest.raises(NotSupportedError, match="PostgreSQL or SQLite"):
        RowValue({}).as_sql(None, connection)
