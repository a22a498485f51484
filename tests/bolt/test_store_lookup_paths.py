"""The precompiled store lookups keep answering right when Django's private internals change.

installations/bolt/compiled_lookup.py rests on Django's private query API. These tests break
that API on purpose (what a future Django release may do) and require the same answers from the
plain queryset path, with one WARNING, and no second try of the broken path. The whole store
suite also runs with the compiled path on and off (tests/bolt/conftest.py, ``lookup_path``).
"""

from __future__ import annotations

import logging
import weakref
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.db.models.sql.compiler import SQLCompiler

from installations.bolt import compiled_lookup, store
from installations.bolt.async_store import AsyncDjangoInstallationStore
from installations.bolt.compiled_lookup import CompiledLookup, difference
from installations.bolt.store import DjangoInstallationStore
from installations.models import Installation, Workspace
from tests.support.factories import store_installation

pytestmark = pytest.mark.django_db

TEAM = {"enterprise_id": None, "team_id": "T0TEAM1"}
LOOKUPS = (store.BOT, store.LATEST, store.USERS_LATEST)


@pytest.fixture
def fresh_lookups(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    """Each lookup as a new process has it: nothing compiled, self-test not run, no fallback
    (monkeypatch puts the process's own state back afterwards)."""
    settings.SLACK_COMPILED_LOOKUPS = True
    for lookup in LOOKUPS:
        monkeypatch.setattr(lookup, "compiled", weakref.WeakKeyDictionary())
        monkeypatch.setattr(lookup, "verified", False)
        monkeypatch.setattr(lookup, "fallback_reason", "")


@pytest.fixture
def saved(our_store: DjangoInstallationStore) -> Any:
    data = store_installation(0, user_id="U0ALICE")
    our_store.save(data)
    return data


def warnings_from_lookups(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == compiled_lookup.__name__ and r.levelno == logging.WARNING
    ]


def every_lookup(our_store: DjangoInstallationStore) -> tuple[Any, Any, Any]:
    return (
        our_store.find_bot(**TEAM),
        our_store.find_installation(**TEAM),
        our_store.find_installation(**TEAM, user_id="U0ALICE"),
    )


def assert_right(found: tuple[Any, Any, Any], data: Any) -> None:
    bot, latest, alice = found
    assert bot.bot_token == data.bot_token and bot.team_id == "T0TEAM1"
    assert latest.user_token == data.user_token and latest.bot_token == data.bot_token
    assert alice.user_id == "U0ALICE" and alice.team_name == "Team One"


def no_deferred_marker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Django renames or drops ``django.db.models.base.DEFERRED`` (the compiled path builds
    full-width rows with it)."""
    monkeypatch.setattr(compiled_lookup, "_DEFERRED", None)


def related_rows_lose_their_setters(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiler's ``klass_info`` for a select_related row no longer names the setters that
    attach it to its parent (the compiled path reads ``local_setter`` / ``remote_setter``)."""
    original = CompiledLookup._compile

    def without_setters(self: CompiledLookup[Any], connection: Any) -> Any:
        with monkeypatch.context() as patch:
            real_as_sql = SQLCompiler.as_sql

            def as_sql(compiler: Any, *args: Any, **kwargs: Any) -> Any:
                result = real_as_sql(compiler, *args, **kwargs)
                for related in (compiler.klass_info or {}).get("related_klass_infos", []):
                    related.pop("local_setter", None)
                return result

            patch.setattr(SQLCompiler, "as_sql", as_sql)
            return original(self, connection)

    monkeypatch.setattr(CompiledLookup, "_compile", without_setters)


def compiler_renamed_klass_info(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our compiled path reads the compiler's ``klass_info`` after ``as_sql``; the plain path
    never sees what we read, so only ours meets the change."""
    original = CompiledLookup._compile

    def renamed(self: CompiledLookup[Any], connection: Any) -> Any:
        with monkeypatch.context() as patch:
            real_as_sql = SQLCompiler.as_sql

            def as_sql(compiler: Any, *args: Any, **kwargs: Any) -> Any:
                result = real_as_sql(compiler, *args, **kwargs)
                compiler.row_layout, compiler.klass_info = compiler.klass_info, None
                return result

            patch.setattr(SQLCompiler, "as_sql", as_sql)
            return original(self, connection)

    monkeypatch.setattr(CompiledLookup, "_compile", renamed)


WITH_RELATED_ROWS = (store.LATEST, store.USERS_LATEST)  # find_bot reads one table


@pytest.mark.usefixtures("fresh_lookups")
@pytest.mark.parametrize(
    ("break_django", "affected"),
    [
        (no_deferred_marker, LOOKUPS),
        (related_rows_lose_their_setters, WITH_RELATED_ROWS),
        (compiler_renamed_klass_info, LOOKUPS),
    ],
)
def test_changed_django_internals_fall_back_to_plain_querysets_with_one_warning(
    our_store: DjangoInstallationStore,
    saved: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    break_django: Any,
    affected: tuple[CompiledLookup[Any], ...],
) -> None:
    break_django(monkeypatch)
    with caplog.at_level(logging.WARNING):
        assert_right(every_lookup(our_store), saved)
        assert_right(every_lookup(our_store), saved)  # the broken path is not tried again
    warnings = warnings_from_lookups(caplog)
    assert len(warnings) == len(affected), warnings  # one per affected lookup, once
    assert all("plain querysets" in w and "same answers" in w for w in warnings)
    assert [bool(lookup.fallback_reason) for lookup in LOOKUPS] == [
        lookup in affected for lookup in LOOKUPS
    ]
    assert our_store.find_bot(enterprise_id=None, team_id="T0NOPE") is None


@pytest.mark.usefixtures("fresh_lookups")
def test_a_compiled_row_that_differs_from_the_plain_one_is_caught_by_the_self_test(
    our_store: DjangoInstallationStore,
    saved: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Internals that still run but build the row differently (a converter skipped, a column
    shifted) would hand Bolt a wrong value: the first found row is checked against the plain
    queryset, and the plain answer wins."""
    original = CompiledLookup._run_compiled

    def drifted(self: CompiledLookup[Any], values: dict[str, str]) -> Any:
        row = original(self, values)
        if row is not None:
            row.__dict__["team_name"] = "Team One, shifted"
        return row

    monkeypatch.setattr(CompiledLookup, "_run_compiled", drifted)
    with caplog.at_level(logging.WARNING):
        assert_right(every_lookup(our_store), saved)
        assert_right(every_lookup(our_store), saved)
    warnings = warnings_from_lookups(caplog)
    assert len(warnings) == len(LOOKUPS), warnings
    assert all("self-test" in w and "team_name differs" in w for w in warnings), warnings


@pytest.mark.usefixtures("fresh_lookups")
def test_the_self_test_passes_on_this_django_and_the_compiled_path_stays_on(
    our_store: DjangoInstallationStore, saved: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert_right(every_lookup(our_store), saved)
    assert warnings_from_lookups(caplog) == []
    assert all(lookup.verified and not lookup.fallback_reason for lookup in LOOKUPS)
    assert all(lookup.compiled for lookup in LOOKUPS)


@pytest.mark.usefixtures("fresh_lookups")
def test_with_compiled_lookups_off_nothing_is_compiled(
    our_store: DjangoInstallationStore,
    saved: Any,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
) -> None:
    settings.SLACK_COMPILED_LOOKUPS = False

    def refuse(self: Any, connection: Any) -> Any:
        raise AssertionError("compiled although SLACK_COMPILED_LOOKUPS is off")

    monkeypatch.setattr(CompiledLookup, "_compile", refuse)
    assert_right(every_lookup(our_store), saved)


@pytest.mark.usefixtures("fresh_lookups")
def test_the_async_store_runs_the_same_lookups(saved: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = CompiledLookup.first

    def counted(self: CompiledLookup[Any], **values: str) -> Any:
        calls.append(self.name)
        return original(self, **values)

    monkeypatch.setattr(CompiledLookup, "first", counted)
    ours = AsyncDjangoInstallationStore(client_id="1111.2222")
    bot = async_to_sync(ours.async_find_bot)(**TEAM)
    latest = async_to_sync(ours.async_find_installation)(**TEAM)
    alice = async_to_sync(ours.async_find_installation)(**TEAM, user_id="U0ALICE")
    assert_right((bot, latest, alice), saved)
    assert calls == ["find_bot", "find_installation", "find_installation(user_id)"]


def test_difference_names_the_first_field_that_differs(saved: Any) -> None:
    row = Installation.objects.select_related("workspace").get()
    same = Installation.objects.select_related("workspace").get()
    assert difference(row, same) == ""
    other = Installation.objects.select_related("workspace").get()
    other.workspace.team_name = "Another"
    assert difference(row, other) == "row.workspace.team_name differs"
    unjoined = Installation.objects.get()
    assert difference(row, unjoined) == "row.workspace: related row loaded on one path only"
    assert difference(unjoined, row) == "row.workspace: related row loaded on one path only"
    assert difference(Workspace.objects.get(), None) == "row: one path found no row"
    deferred = Installation.objects.select_related("workspace").defer("custom_values").get()
    assert difference(row, deferred) == "row: other columns loaded"
