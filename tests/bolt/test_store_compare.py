"""The same scenarios against slack_sdk's own stores and ours; every returned field compared.

Deliberate differences are normalised in one place each, with the reason next to it:
- slack_sdk's SQLite3 store returns its ``""`` storage placeholder for an absent enterprise or
  team id; its SQLAlchemy store and Bolt's own objects use None, and so do we.
- ``Bot.installed_at`` after a user-only flow: slack_sdk keeps the bot row's own time; our
  Workspace has one ``installed_at`` (the latest flow), so find_bot reports that (USER_ONLY_FLOW).
- deletes: slack_sdk keeps a deleted bot's token in its installation rows (find_installation still
  returns it); we erase it, so our bot fields are None there (see test_delete_bot).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore

from installations.bolt.store import DjangoInstallationStore
from tests.support.factories import T0, fake_token, store_installation
from tests.support.store import StampedSQLite3Store, found_bot, found_installation

pytestmark = pytest.mark.django_db

# see the module docstring: after a user-only flow our Bot.installed_at is that flow's time
USER_ONLY_FLOW = ("installed_at",)
DEAD_BOT = ("bot_token", "bot_id", "bot_user_id", "bot_refresh_token", "bot_token_expires_at")


def normal(found: Installation | Bot | None) -> dict[str, Any] | None:
    if found is None:
        return None
    if isinstance(found.bot_scopes, str):
        # slack_sdk's SQLite3 store merges the latest bot's scopes as a raw string (its bug:
        # to_dict() would join the characters); read it as the comma-separated list it means.
        found.bot_scopes = found.bot_scopes.split(",") if found.bot_scopes else []
    data = found.to_dict()
    for name in ("enterprise_id", "team_id"):
        if data.get(name) == "":  # the SQLite3 store's placeholder for "absent"
            data[name] = None
    return data


class Pair:
    """Runs each call on the reference store and on ours, and compares what they return."""

    def __init__(self, reference: Any, ours: DjangoInstallationStore) -> None:
        self.reference, self.ours = reference, ours

    def run(self, method: str, *args: Any, **kwargs: Any) -> None:
        getattr(self.reference, method)(*args, **kwargs)
        getattr(self.ours, method)(*args, **kwargs)

    def save(self, installation: Installation) -> None:
        self.run("save", installation)

    def both(
        self, method: str, **kwargs: Any
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        expected = normal(getattr(self.reference, method)(**kwargs))
        actual = normal(getattr(self.ours, method)(**kwargs))
        return expected, actual

    def same(
        self, method: str, *, ignore: tuple[str, ...] = (), **kwargs: Any
    ) -> dict[str, Any] | None:
        expected, actual = self.both(method, **kwargs)
        if expected and actual:
            for name in ignore:
                expected.pop(name), actual.pop(name)
        assert actual == expected, f"{method}({kwargs})"
        return actual

    def found(self, method: str, *, ignore: tuple[str, ...] = (), **kwargs: Any) -> dict[str, Any]:
        """``same``, for a call that must find something."""
        actual = self.same(method, ignore=ignore, **kwargs)
        assert actual is not None, f"{method}({kwargs}) found nothing"
        return actual


@pytest.fixture
def pair(reference_store: Any, our_store: DjangoInstallationStore) -> Pair:
    return Pair(reference_store, our_store)


TEAM: dict[str, Any] = {"enterprise_id": None, "team_id": "T0TEAM1"}


def test_bot_only_install(pair: Pair) -> None:
    pair.save(store_installation(user_token=None, user_scopes=""))
    bot = pair.same("find_bot", **TEAM)
    assert bot is not None and bot["bot_token"].startswith("xoxb-")
    found = pair.found("find_installation", **TEAM)
    assert found is not None and found["user_token"] is None
    pair.same("find_installation", **TEAM, user_id="U0INSTALL1")


def test_bot_and_user_install(pair: Pair) -> None:
    installation = store_installation()
    pair.save(installation)
    found = pair.found("find_installation", **TEAM)
    assert found["user_token"] == installation.user_token
    assert found["bot_token"] == installation.bot_token
    pair.same("find_installation", **TEAM, user_id="U0INSTALL1")
    pair.same("find_bot", **TEAM)


def test_two_users_latest_wins_and_each_user_gets_the_latest_bot(pair: Pair) -> None:
    first = store_installation(0, user_id="U0ALICE")
    second = store_installation(5, user_id="U0BOB", bot_scopes="commands,chat:write,users:read")
    pair.save(first)
    pair.save(second)
    latest = pair.found("find_installation", **TEAM)
    assert latest["user_id"] == "U0BOB"
    alice = pair.found("find_installation", **TEAM, user_id="U0ALICE")
    assert alice["user_token"] == first.user_token
    assert alice["bot_token"] == second.bot_token  # the latest bot, merged in
    pair.same("find_installation", **TEAM, user_id="U0BOB")
    assert pair.found("find_bot", **TEAM)["bot_token"] == second.bot_token


def test_user_only_authorization_after_a_bot_install(pair: Pair) -> None:
    bot_install = store_installation(0, user_id="U0ALICE")
    pair.save(bot_install)
    user_only = store_installation(
        3, user_id="U0BOB", bot_token=None, bot_id=None, bot_user_id=None, bot_scopes=""
    )
    pair.save(user_only)
    latest = pair.found("find_installation", **TEAM)
    assert latest["user_id"] == "U0BOB" and latest["bot_token"] == bot_install.bot_token
    pair.same("find_installation", **TEAM, user_id="U0BOB")
    pair.same("find_bot", **TEAM, ignore=USER_ONLY_FLOW)


def test_reinstall_with_more_scopes(pair: Pair) -> None:
    pair.save(store_installation(0))
    again = store_installation(
        10, bot_scopes="commands,chat:write,channels:read", user_scopes="a,b"
    )
    pair.save(again)
    assert pair.found("find_bot", **TEAM)["bot_scopes"] == "commands,chat:write,channels:read"
    found = pair.found("find_installation", **TEAM, user_id="U0INSTALL1")
    assert found["user_scopes"] == "a,b" and found["user_token"] == again.user_token
    pair.same("find_installation", **TEAM)


def test_org_wide_install_found_with_team_none(pair: Pair) -> None:
    org = store_installation(
        enterprise_id="E0ORG",
        enterprise_name="Org",
        enterprise_url="https://org.enterprise.slack.com/",
        team_id=None,
        team_name=None,
        is_enterprise_install=True,
    )
    pair.save(org)
    lookup: dict[str, Any] = {
        "enterprise_id": "E0ORG",
        "team_id": None,
        "is_enterprise_install": True,
    }
    assert pair.found("find_bot", **lookup)["bot_token"] == org.bot_token
    found = pair.found("find_installation", **lookup)
    assert found["enterprise_url"] == "https://org.enterprise.slack.com/"
    pair.same("find_installation", **lookup, user_id="U0INSTALL1")
    # with is_enterprise_install=True the team_id argument is ignored, as slack_sdk's stores do
    inside = {**lookup, "team_id": "T0INORG"}
    assert pair.same("find_bot", **inside) is not None
    assert pair.same("find_installation", **inside) is not None


def test_workspace_inside_a_grid(pair: Pair) -> None:
    pair.save(store_installation(enterprise_id="E0GRID", enterprise_name="Grid"))
    assert pair.same("find_bot", enterprise_id="E0GRID", team_id="T0TEAM1") is not None
    pair.same("find_installation", enterprise_id="E0GRID", team_id="T0TEAM1")
    # the same team id without the enterprise is another target
    assert pair.same("find_bot", **TEAM) is None


def test_incoming_webhook(pair: Pair) -> None:
    hook: dict[str, Any] = {
        "incoming_webhook_url": f"https://hooks.example.invalid/services/{fake_token('T')}",
        "incoming_webhook_channel": "#general",
        "incoming_webhook_channel_id": "C0GENERAL",
        "incoming_webhook_configuration_url": "https://team.example.invalid/services/B0",
    }
    pair.save(store_installation(**hook))
    found = pair.found("find_installation", **TEAM)
    assert {k: found[k] for k in hook} == hook
    pair.same("find_installation", **TEAM, user_id="U0INSTALL1")


def test_rotation_fields(pair: Pair) -> None:
    rotating = store_installation(
        bot_token=fake_token("xoxe.xoxb-1"),
        bot_refresh_token=fake_token("xoxe-1"),
        bot_token_expires_at=int((T0 + timedelta(hours=12)).timestamp()),
        user_token=fake_token("xoxe.xoxp-1"),
        user_refresh_token=fake_token("xoxe-1"),
        user_token_expires_at=int((T0 + timedelta(hours=11)).timestamp()),
    )
    pair.save(rotating)
    bot = pair.found("find_bot", **TEAM)
    assert bot["bot_refresh_token"] == rotating.bot_refresh_token
    found = pair.found("find_installation", **TEAM, user_id="U0INSTALL1")
    assert found["user_refresh_token"] == rotating.user_refresh_token
    assert found["user_token_expires_at"] == T0 + timedelta(hours=11)
    pair.same("find_installation", **TEAM)


def test_resave_after_rotation_updates_in_place(pair: Pair) -> None:
    if isinstance(pair.reference, SQLite3InstallationStore):
        pytest.skip("the SQLite3 store inserts a re-save as a second row with the same time")
    refresh: dict[str, Any] = {
        "bot_refresh_token": fake_token("xoxe-1"),
        "user_refresh_token": fake_token("xoxe-1"),
    }
    rotating = store_installation(**refresh)
    pair.save(rotating)
    refreshed = found_installation(pair.ours, **TEAM)
    refreshed.bot_token, refreshed.bot_refresh_token = (
        fake_token("xoxe.xoxb-1"),
        fake_token("xoxe-1"),
    )
    refreshed.user_token, refreshed.user_refresh_token = (
        fake_token("xoxe.xoxp-1"),
        fake_token("xoxe-1"),
    )
    pair.save(refreshed)  # what Bolt's authorize does after perform_token_rotation
    found = pair.found("find_installation", **TEAM)
    assert found["bot_token"] == refreshed.bot_token
    assert found["user_token"] == refreshed.user_token
    assert pair.found("find_bot", **TEAM)["bot_token"] == refreshed.bot_token


def test_save_bot_after_rotation(pair: Pair) -> None:
    pair.save(store_installation(bot_refresh_token=fake_token("xoxe-1")))
    bot = found_bot(pair.ours, **TEAM)
    rotated = Bot(**{**bot.to_dict_for_copying(), "bot_token": fake_token("xoxe.xoxb-1")})
    pair.run("save_bot", rotated)
    assert pair.found("find_bot", **TEAM)["bot_token"] == rotated.bot_token
    # slack_sdk's stores keep returning the installation row's old bot token here (bolt-python
    # #664 class); ours merges the current bot, so Bolt never authorizes with a stale token.
    expected, actual = pair.both("find_installation", **TEAM)
    assert expected is not None
    assert actual == {**expected, "bot_token": rotated.bot_token}


def test_delete_bot(pair: Pair) -> None:
    pair.save(store_installation())
    pair.run("delete_bot", **TEAM)
    assert pair.same("find_bot", **TEAM) is None
    # Deliberate: slack_sdk's installation rows still carry the deleted bot token; ours do not.
    expected, actual = pair.both("find_installation", **TEAM)
    assert expected is not None and actual is not None
    assert actual == {**expected, **dict.fromkeys(DEAD_BOT)}
    assert actual["user_token"] is not None  # the user's token is untouched


def test_delete_installation_of_one_user(pair: Pair) -> None:
    pair.save(store_installation(0, user_id="U0ALICE"))
    pair.save(
        store_installation(
            4, user_id="U0BOB", bot_token=None, bot_id=None, bot_user_id=None, bot_scopes=""
        )
    )
    pair.run("delete_installation", **TEAM, user_id="U0BOB")
    assert pair.same("find_installation", **TEAM, user_id="U0BOB") is None
    assert pair.found("find_installation", **TEAM)["user_id"] == "U0ALICE"
    pair.same("find_installation", **TEAM, user_id="U0ALICE")
    pair.same("find_bot", **TEAM, ignore=USER_ONLY_FLOW)


def test_delete_installation_of_everyone_keeps_the_bot(pair: Pair) -> None:
    pair.save(store_installation(0, user_id="U0ALICE"))
    pair.save(store_installation(2, user_id="U0BOB"))
    pair.run("delete_installation", **TEAM)
    assert pair.same("find_installation", **TEAM) is None
    assert pair.same("find_installation", **TEAM, user_id="U0ALICE") is None
    assert pair.same("find_bot", **TEAM) is not None


def test_delete_all(pair: Pair) -> None:
    pair.save(store_installation(0, user_id="U0ALICE"))
    pair.run("delete_all", **TEAM)
    assert pair.same("find_bot", **TEAM) is None
    assert pair.same("find_installation", **TEAM) is None
    assert pair.same("find_installation", **TEAM, user_id="U0ALICE") is None


def test_reinstall_after_delete_all(pair: Pair) -> None:
    pair.save(store_installation(0))
    pair.run("delete_all", **TEAM)
    again = store_installation(30)
    pair.save(again)
    assert pair.found("find_bot", **TEAM)["bot_token"] == again.bot_token
    pair.same("find_installation", **TEAM)
    pair.same("find_installation", **TEAM, user_id="U0INSTALL1")


def test_unknown_targets(pair: Pair) -> None:
    pair.save(store_installation())
    assert pair.same("find_bot", enterprise_id=None, team_id="T0NOPE") is None
    assert pair.same("find_installation", enterprise_id=None, team_id="T0NOPE") is None
    assert pair.same("find_installation", **TEAM, user_id="U0STRANGER") is None
    assert pair.same("find_bot", enterprise_id="E0NOPE", team_id=None) is None
    lookup: dict[str, Any] = {
        "enterprise_id": "E0NOPE",
        "team_id": None,
        "is_enterprise_install": True,
    }
    assert pair.same("find_installation", **lookup) is None
    pair.run("delete_all", enterprise_id=None, team_id="T0NOPE")  # no error either way


def other_reference(reference: Any) -> Any:
    if isinstance(reference, SQLAlchemyInstallationStore):
        return SQLAlchemyInstallationStore(client_id="9999.0000", engine=reference.engine)
    return StampedSQLite3Store(database=reference.database, client_id="9999.0000")


def test_client_id_scoping(pair: Pair) -> None:
    other = Pair(other_reference(pair.reference), DjangoInstallationStore(client_id="9999.0000"))
    mine = store_installation(0)
    theirs = store_installation(5)
    pair.save(mine)
    other.save(theirs)
    assert pair.found("find_bot", **TEAM)["bot_token"] == mine.bot_token
    assert other.found("find_bot", **TEAM)["bot_token"] == theirs.bot_token
    pair.same("find_installation", **TEAM, user_id="U0INSTALL1")
    other.run("delete_all", **TEAM)
    assert pair.found("find_installation", **TEAM)["bot_token"] == mine.bot_token
    assert other.same("find_installation", **TEAM) is None


def test_every_lookup_returns_the_same_fields(
    pair: Pair, installation_factory: Callable[..., Installation]
) -> None:
    pair.save(
        installation_factory(incoming_webhook_url=fake_token("https://hooks.example.invalid/x"))
    )
    found = pair.found("find_installation", **TEAM)
    assert set(found) == set(store_installation().to_dict())
