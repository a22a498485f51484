"""On PostgreSQL the store's compiled lookups run as prepared statements of each connection.

Planning the lookup's join was most of its database time (benchmarks/README.md, section 3), so
installations/bolt/compiled_lookup.py PREPAREs each lookup once per connection and EXECUTEs it
after. These tests hold what that must never change: the same answers, one query per lookup,
nothing prepared inside a transaction or where a session cannot keep a statement (a transaction
pooler, connections closed after each request), and a statement that went missing costs one
WARNING and the unprepared SQL, never a failed lookup.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext

from installations.bolt import compiled_lookup, store
from installations.bolt.async_store import AsyncDjangoInstallationStore
from installations.bolt.compiled_lookup import _Prepared
from installations.bolt.store import DjangoInstallationStore
from tests.support.factories import store_installation

TEAM = {"enterprise_id": None, "team_id": "T0TEAM1"}
LOOKUPS = (store.BOT, store.LATEST, store.USERS_LATEST)


def test_the_prepared_sql_numbers_the_placeholders_and_keeps_percent_signs() -> None:
    prepared = _Prepared.of(
        "find_installation(user_id)", "SELECT a FROM t WHERE b = %s AND c LIKE 'x%%' AND d = %s", 2
    )
    assert prepared.name.startswith("slackinstall_find_installation_user_id_")
    assert prepared.prepare_sql == (
        f"PREPARE {prepared.name} AS SELECT a FROM t WHERE b = $1 AND c LIKE 'x%' AND d = $2"
    )
    assert prepared.execute_sql == f"EXECUTE {prepared.name}(%s, %s)"
    other_sql = _Prepared.of("find_installation(user_id)", "SELECT b FROM t WHERE b = %s", 1)
    assert other_sql.name != prepared.name  # a name in a session always holds the same SQL
    with pytest.raises(ValueError, match="fewer placeholders"):
        _Prepared.of("find_bot", "SELECT 1 WHERE a = %s", 2)
    with pytest.raises(ValueError, match="more placeholders"):  # the plain path takes over
        _Prepared.of("find_bot", "SELECT 1 WHERE a = %s AND b = %s", 1)


# --- PostgreSQL (transactional: the lookups must run outside a transaction to prepare) ----------


@pytest.fixture
def fresh_lookups(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Iterator[None]:
    """Each lookup as a new process has it; afterwards the session holds none of our statements
    and the process's own lookups forget it held any (other tests start as they would)."""
    settings.SLACK_COMPILED_LOOKUPS = True
    originals = [lookup.prepared_on for lookup in LOOKUPS]
    for lookup in LOOKUPS:
        monkeypatch.setattr(lookup, "compiled", weakref.WeakKeyDictionary())
        monkeypatch.setattr(lookup, "verified", False)
        monkeypatch.setattr(lookup, "fallback_reason", "")
        monkeypatch.setattr(lookup, "prepared_on", weakref.WeakSet())
        monkeypatch.setattr(lookup, "unprepared_reason", "")
    yield
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    for prepared_on in originals:
        prepared_on.discard(connection.connection)


@pytest.fixture
def saved(our_store: DjangoInstallationStore) -> Any:
    our_store.save(store_installation(0, user_id="U0ALICE"))
    data = store_installation(5, user_id="U0BOB")
    our_store.save(data)
    return data


def every_lookup(our_store: DjangoInstallationStore) -> list[Any]:
    ours = AsyncDjangoInstallationStore(client_id=our_store.client_id)
    return [
        our_store.find_bot(**TEAM),
        our_store.find_installation(**TEAM),
        our_store.find_installation(**TEAM, user_id="U0ALICE"),
        async_to_sync(ours.async_find_installation)(**TEAM),
    ]


def assert_right(found: list[Any], data: Any) -> None:
    bot, latest, alice, latest_async = found
    assert bot.bot_token == data.bot_token
    assert latest.user_id == "U0BOB" and latest.user_token == data.user_token
    assert latest.bot_token == data.bot_token
    assert alice.user_id == "U0ALICE" and alice.bot_token == data.bot_token
    assert latest_async.user_token == data.user_token


def prepared_statements() -> list[tuple[str, int]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "select name, generic_plans from pg_prepared_statements "
            "where name like 'slackinstall_%%' order by name"
        )
        return [(name, plans) for name, plans in cursor.fetchall()]


def warnings_from_lookups(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == compiled_lookup.__name__ and r.levelno == logging.WARNING
    ]


@pytest.mark.usefixtures("fresh_lookups")
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_lookups_run_as_prepared_statements_one_query_each_with_a_reused_plan(
    our_store: DjangoInstallationStore, saved: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        for _ in range(7):  # PostgreSQL plans the first five EXECUTEs one by one
            assert_right(every_lookup(our_store), saved)
    assert warnings_from_lookups(caplog) == []
    assert all(lookup.verified and not lookup.fallback_reason for lookup in LOOKUPS)
    statements = prepared_statements()
    assert [name.rsplit("_", 1)[0] for name, _ in statements] == [
        "slackinstall_find_bot",
        "slackinstall_find_installation",
        "slackinstall_find_installation_user_id",
    ]
    assert all(generic_plans > 0 for _, generic_plans in statements), statements
    with CaptureQueriesContext(connection) as queries:
        assert_right(every_lookup(our_store), saved)
    assert len(queries) == 4
    assert all(q["sql"].startswith("EXECUTE slackinstall_") for q in queries), queries


@pytest.mark.usefixtures("fresh_lookups")
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_statement_gone_from_the_session_costs_one_warning_and_the_plain_sql(
    our_store: DjangoInstallationStore, saved: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """DISCARD ALL / DEALLOCATE ALL from other code, or a transaction pooler that hands the
    EXECUTE to another server session: the lookup still answers, unprepared from then on."""
    assert_right(every_lookup(our_store), saved)
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    with caplog.at_level(logging.WARNING):
        assert_right(every_lookup(our_store), saved)
        assert_right(every_lookup(our_store), saved)
    warnings = warnings_from_lookups(caplog)
    assert len(warnings) == len(LOOKUPS), warnings  # one per lookup, once
    assert all("prepared statements off" in w and "26000" in w for w in warnings), warnings
    assert prepared_statements() == []  # not prepared again in this process
    assert all(lookup.verified and not lookup.fallback_reason for lookup in LOOKUPS)


@pytest.mark.usefixtures("fresh_lookups")
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_session_the_server_ended_is_replaced_and_prepared_again_without_a_warning(
    our_store: DjangoInstallationStore, saved: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The next request's health check (CONN_HEALTH_CHECKS) reconnects; the new session gets
    its own statements: prepared statements stay on."""
    assert_right(every_lookup(our_store), saved)
    ended = connection.connection
    with pytest.raises(OperationalError), connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    connection.health_check_done = False  # as at the start of a request
    with caplog.at_level(logging.WARNING):
        assert_right(every_lookup(our_store), saved)
    assert connection.connection is not ended
    assert warnings_from_lookups(caplog) == []
    assert len(prepared_statements()) == len(LOOKUPS)
    assert not any(lookup.unprepared_reason for lookup in LOOKUPS)


@pytest.mark.usefixtures("fresh_lookups")
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_nothing_is_prepared_inside_a_transaction(
    our_store: DjangoInstallationStore, saved: Any
) -> None:
    """A failed PREPARE or EXECUTE would abort the caller's transaction: there the lookups run
    the SQL itself."""
    with transaction.atomic():
        assert_right(every_lookup(our_store), saved)
        assert_right(every_lookup(our_store), saved)
    assert prepared_statements() == []


@pytest.mark.usefixtures("fresh_lookups")
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("DISABLE_SERVER_SIDE_CURSORS", True),  # a transaction pooler (docs/production.md)
        ("CONN_MAX_AGE", 0),  # a connection per request: a statement would serve once
    ],
)
def test_nothing_is_prepared_where_a_session_cannot_keep_it(
    our_store: DjangoInstallationStore,
    saved: Any,
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    value: object,
) -> None:
    monkeypatch.setitem(connection.settings_dict, setting, value)
    with CaptureQueriesContext(connection) as queries:
        assert_right(every_lookup(our_store), saved)
    assert not any(q["sql"].startswith(("PREPARE", "EXECUTE")) for q in queries)
    assert prepared_statements() == []
