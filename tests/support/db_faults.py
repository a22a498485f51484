"""Real database failures for tests: a trigger makes the database itself refuse a write.

Nothing of ours is patched: the code under test meets the error the database driver raises, as
it would on a full disk or a lost connection mid-write. Works on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection

MESSAGE = "injected write failure"


def refuse_writes(
    table: str, *, event: str = "INSERT", column: str | None = None, when: str | None = None
) -> Callable[[], None]:
    """Refuse every ``event`` on ``table`` (only writes of ``column``; only rows where ``when``,
    an SQL condition on NEW). Returns a function that lifts the refusal."""
    name = f"refuse_{event.lower()}_{table}"
    of = f" OF {column}" if column else ""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            condition = f" WHEN {when}" if when else ""
            cursor.execute(
                f"CREATE TRIGGER {name} BEFORE {event}{of} ON {table}{condition} "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )
        else:
            condition = f" WHEN ({when})" if when else ""
            cursor.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN "
                f"RAISE EXCEPTION '{MESSAGE}'; END $$ LANGUAGE plpgsql"
            )
            cursor.execute(
                f"CREATE TRIGGER {name} BEFORE {event}{of} ON {table} "
                f"FOR EACH ROW{condition} EXECUTE FUNCTION {name}()"
            )

    def lift() -> None:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute(f"DROP TRIGGER {name}")
            else:
                cursor.execute(f"DROP TRIGGER {name} ON {table}")
                cursor.execute(f"DROP FUNCTION {name}()")

    return lift
