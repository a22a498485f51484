"""Sign in with Slack became a Django app of its own: databases keep every identity.

A database at the old state (``installations`` 0006: the table created by that app's 0005, the
model in its state) is migrated to the new one, and the identity is still there, now read through
the ``installations.signin`` app's model, on the same table. Real migrations on SQLite and
PostgreSQL through Django's migration executor.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from installations.signin.models import SlackIdentity

OLD_INSTALLATIONS = ("installations", "0006_installation_installed_by")
OLD_STATE = [OLD_INSTALLATIONS, ("slackinstall_signin", None)]
TABLE = "installations_slackidentity"

pytestmark = pytest.mark.django_db(transaction=True)


def migrate(targets: list[tuple[str, str | None]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor


def latest() -> list[tuple[str, str | None]]:
    return list(MigrationExecutor(connection).loader.graph.leaf_nodes())


def tables() -> list[str]:
    return connection.introspection.table_names()


@pytest.fixture
def back_at_the_old_state() -> Iterator[MigrationExecutor]:
    """The database as the previous release left it; migrated to the latest state afterwards."""
    executor = migrate(OLD_STATE)
    try:
        yield executor
    finally:
        migrate(latest())


def test_an_identity_of_the_old_state_survives_the_move_to_the_signin_app(
    back_at_the_old_state: MigrationExecutor,
) -> None:
    old = back_at_the_old_state.loader.project_state(OLD_INSTALLATIONS).apps
    old_identity = old.get_model("installations", "SlackIdentity")
    assert old_identity._meta.db_table == TABLE
    if TABLE not in tables():  # what the previous release's 0005 created on every database
        with connection.schema_editor() as editor:
            editor.create_model(old_identity)
    user = old.get_model("auth", "User").objects.create(username="kept-identity")
    old_identity.objects.create(
        user_id=user.pk, home="E0KEPT", slack_user_id="U0KEPT", team_id="T0KEPT", email="k@x.test"
    )

    migrate(latest())

    identity = SlackIdentity.objects.select_related("user").get()
    assert (identity.home, identity.slack_user_id, identity.team_id) == (
        "E0KEPT",
        "U0KEPT",
        "T0KEPT",
    )
    assert identity.user.username == "kept-identity"
    assert SlackIdentity._meta.app_label == "slackinstall_signin"
    assert SlackIdentity._meta.db_table == TABLE


def test_a_database_that_never_had_the_table_gets_it_from_the_signin_app(
    back_at_the_old_state: MigrationExecutor,
) -> None:
    if TABLE in tables():
        with connection.schema_editor() as editor:
            old = back_at_the_old_state.loader.project_state(OLD_INSTALLATIONS).apps
            editor.delete_model(old.get_model("installations", "SlackIdentity"))
    migrate(latest())
    assert TABLE in tables()
    assert SlackIdentity.objects.count() == 0


def test_unapplying_the_signin_app_drops_its_table_and_the_core_state_has_no_model() -> None:
    executor = migrate([("slackinstall_signin", None)])
    try:
        assert TABLE not in tables()
        state = executor.loader.project_state(("installations", "0007_slackidentity_to_signin_app"))
        assert ("installations", "slackidentity") not in state.models
    finally:
        migrate(latest())
    assert TABLE in tables()
