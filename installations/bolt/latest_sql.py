"""The lookups of every Slack event, each one statement written once per process.

Bolt's authorize calls ``find_installation`` (or ``find_bot``) for every event; as a queryset,
Django compiles the same query anew each time. Each statement is written from the models'
``_meta`` with its queryset's columns, conditions and order (tests/bolt/test_latest_sql.py
compares the two). The bot's row comes through ``Manager.raw``; the installation's join, which
``raw`` cannot attach, through a cursor, its row made into instances by ``Model.from_db``.
Encrypted fields stay sealed either way.

The cursor statement is the one exception to public querysets the architecture allows (a read
every event takes): it stays only while it takes at most half its queryset's time. It takes
about a quarter (SQLite) to a third (PostgreSQL); find_bot's ``Manager.raw`` about half.
"""

from __future__ import annotations

from datetime import UTC
from functools import cache
from typing import Any

from django.db import connections, router
from django.db.models import DateTimeField, Field, Model, QuerySet
from django.utils import timezone

from installations.lifecycle.sdk_rows import BOT_FIELDS
from installations.models import Installation, Workspace

# The columns slack_sdk's Installation and Bot are made of (sdk_mapping.py): nothing else loads.
INSTALLATION_FIELDS = (
    "id", "workspace", "app_id", "enterprise_id", "enterprise_name", "enterprise_url",
    "team_id", "team_name", "is_enterprise_install", "token_type", "user_id", "user_token",
    "user_scopes", "user_refresh_token", "user_token_expires_at", "bot_scopes",
    "incoming_webhook_url", "incoming_webhook_channel", "incoming_webhook_channel_id",
    "incoming_webhook_configuration_url", "installed_at", "user_token_revoked_at", "deleted_at",
    "custom_values",
)  # fmt: skip


@cache
def _fields(model: type[Model], names: tuple[str, ...]) -> list[Field[Any, Any]]:
    """The fields named, in the model's own order (``Model.from_db`` reads values so)."""
    return [field for field in model._meta.concrete_fields if field.name in names]


@cache
def statement(vendor: str, quote: Any, with_user: bool) -> str:
    """The lookup's SQL for one kind of database (``quote``: its ``ops.quote_name``)."""
    row, target = "i", "w"
    columns = [f"{row}.{quote(f.column)}" for f in _fields(Installation, INSTALLATION_FIELDS)]
    columns += [f"{target}.{quote(f.column)}" for f in _fields(Workspace, BOT_FIELDS)]
    workspace_column = quote(Installation._meta.get_field("workspace").column)
    conditions = [
        f"{row}.{quote('client_id')} = %s",
        f"{row}.{quote('enterprise_id')} = %s",
        f"{row}.{quote('team_id')} = %s",
        f"{row}.{quote('deleted_at')} IS NULL",
        f"{row}.{quote('user_token_revoked_at')} IS NULL",
        f"{target}.{quote('uninstalled_at')} IS NULL",
    ]
    if with_user:  # uses installation_user_latest_idx; is_current is the user's latest flow
        conditions += [f"{row}.{quote('user_id')} = %s", f"{row}.{quote('is_current')} = %s"]
    # Only names from the models' _meta go into the text; every value is a parameter.
    return (
        f"SELECT {', '.join(columns)} "  # noqa: S608
        f"FROM {quote(Installation._meta.db_table)} {row} "
        f"INNER JOIN {quote(Workspace._meta.db_table)} {target} "
        f"ON {row}.{workspace_column} = {target}.{quote('id')} "
        f"WHERE {' AND '.join(conditions)} "
        f"ORDER BY {row}.{quote('installed_at')} DESC LIMIT 1"
    )


@cache
def bot_statement(quote: Any) -> str:
    """The bot lookup's SQL: the target's one row by its unique key, the Bot's columns only."""
    columns = ", ".join(quote(f.column) for f in _fields(Workspace, BOT_FIELDS))
    keys = " AND ".join(f"{quote(name)} = %s" for name in ("client_id", "enterprise_id", "team_id"))
    return f"SELECT {columns} FROM {quote(Workspace._meta.db_table)} WHERE {keys}"  # noqa: S608


def bot_row(client_id: str, enterprise_id: str, team_id: str) -> Workspace | None:
    """``bot_as_queryset(...).first()`` as the one statement above, through ``Manager.raw``."""
    connection = connections[router.db_for_read(Workspace)]
    sql = bot_statement(connection.ops.quote_name)
    rows = Workspace.objects.using(connection.alias).raw(sql, [client_id, enterprise_id, team_id])
    return next(iter(rows), None)


def bot_as_queryset(client_id: str, enterprise_id: str, team_id: str) -> QuerySet[Workspace]:
    """The bot lookup as a queryset: one row by the unique key, only the Bot's columns."""
    return Workspace.objects.filter(
        client_id=client_id, enterprise_id=enterprise_id, team_id=team_id
    ).only(*BOT_FIELDS)


def as_queryset(
    client_id: str, enterprise_id: str, team_id: str, user_id: str | None
) -> QuerySet[Installation]:
    """The same lookup as a queryset: what the statement must answer alike (its tests)."""
    rows = (
        Installation.objects.select_related("workspace")
        .only(*INSTALLATION_FIELDS, *(f"workspace__{name}" for name in BOT_FIELDS))
        .filter(
            client_id=client_id,
            enterprise_id=enterprise_id,
            team_id=team_id,
            deleted_at__isnull=True,
            user_token_revoked_at__isnull=True,
            workspace__uninstalled_at__isnull=True,
        )
    )
    if user_id is not None:
        rows = rows.filter(user_id=user_id, is_current=True)
    return rows.order_by("-installed_at")


def _loaded(field: Field[Any, Any], value: Any, connection: Any) -> Any:
    """A column's value as a queryset's converters make it; a naive time (SQLite) is UTC."""
    if value is None:
        return None
    from_db_value = getattr(field, "from_db_value", None)
    if from_db_value is not None:
        return from_db_value(value, None, connection)
    value = field.to_python(value)
    if isinstance(field, DateTimeField) and timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    return value


def _instance(model: type[Model], names: tuple[str, ...], values: Any, connection: Any) -> Any:
    fields = _fields(model, names)
    loaded = [_loaded(f, v, connection) for f, v in zip(fields, values, strict=True)]
    return model.from_db(connection.alias, [f.attname for f in fields], loaded)


def latest_installation(
    client_id: str, enterprise_id: str, team_id: str, user_id: str | None
) -> Installation | None:
    """``installation_query(...).first()`` with its Workspace attached, in one statement."""
    connection = connections[router.db_for_read(Installation)]
    sql = statement(connection.vendor, connection.ops.quote_name, user_id is not None)
    params: list[Any] = [client_id, enterprise_id, team_id]
    if user_id is not None:
        params += [user_id, True]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchone()
    if found is None:
        return None
    split = len(INSTALLATION_FIELDS)
    row: Installation = _instance(Installation, INSTALLATION_FIELDS, found[:split], connection)
    row.workspace = _instance(Workspace, BOT_FIELDS, found[split:], connection)
    return row
