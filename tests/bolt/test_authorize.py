"""Our authorize (installations/bolt/authorize.py) against Bolt's InstallationStoreAuthorize.

The same installs, made through the stand-in and stored by our store, are authorized by both:
the results must be equal, field for field. Bolt's default calls ``auth.test`` for every
request (twice with a user token); ours asks it once per token, in a bounded cache that never
hands one user's token to another (Bolt's own ``cache_enabled`` does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from slack_bolt import BoltContext
from slack_bolt.authorization.authorize import InstallationStoreAuthorize
from slack_bolt.authorization.authorize_result import AuthorizeResult
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk import WebClient
from slack_sdk.web.async_client import AsyncWebClient

from installations.bolt.async_authorize import AsyncDjangoAuthorize
from installations.bolt.async_store import AsyncDjangoInstallationStore
from installations.bolt.authorize import DjangoAuthorize
from installations.bolt.store import DjangoInstallationStore
from installations.encryption.fields import EncryptedDataError
from installations.encryption.keyring import generate_key_entry
from installations.lifecycle import revocation
from slackstandin import SlackStandIn
from slackstandin.state import DEFAULT_ENTERPRISE_ID, INSTALLER_USER_ID

pytestmark = pytest.mark.django_db

OTHER_USER = "U0SOMEONE2"


class Pair:
    """Bolt's authorize and ours on one store, called alike; counts the auth.test calls."""

    def __init__(self, standin: SlackStandIn) -> None:
        self.standin = standin
        self.store = DjangoInstallationStore()
        self.client = WebClient(base_url=standin.api_url)
        self.bolt = InstallationStoreAuthorize(
            logger=logging.getLogger("test"), installation_store=self.store, client=self.client
        )
        self.ours = DjangoAuthorize(installation_store=self.store, token_rotation_minutes=120)

    def context(self, org: bool) -> BoltContext:
        return BoltContext({"client": self.client, "is_enterprise_install": org})

    def call(self, authorize: Any, **request: Any) -> AuthorizeResult | None:
        org = request.pop("org", False)
        return authorize(context=self.context(org), **request)  # type: ignore[no-any-return]

    def auth_tests(self) -> int:
        return len(self.standin.calls_to("auth.test"))

    def both(self, **request: Any) -> tuple[AuthorizeResult | None, AuthorizeResult | None]:
        """(Bolt's, ours); ours asks auth.test again for no token it has asked before."""
        bolt = self.call(self.bolt, **request)
        ours = self.call(self.ours, **request)
        before = self.auth_tests()
        assert self.call(self.ours, **request) == ours
        assert self.auth_tests() == before, "our authorize asked auth.test again"
        return bolt, ours


@pytest.fixture
def pair(standin: SlackStandIn) -> Pair:
    return Pair(standin)


def assert_same(bolt: AuthorizeResult | None, ours: AuthorizeResult | None, *, org: bool) -> None:
    """Field for field, as a dict and as the attributes Bolt's listeners read."""
    if bolt is None or ours is None:
        assert bolt is ours is None
        return
    assert dict(ours) == dict(bolt)
    for name in bolt:
        assert getattr(ours, name) == getattr(bolt, name)


TEAM: dict[str, Any] = {"enterprise_id": None, "team_id": "T0STANDIN1"}


@pytest.mark.parametrize("user_id", [INSTALLER_USER_ID, OTHER_USER, None])
@pytest.mark.parametrize("user_token", [False, True], ids=["bot_only", "bot_and_user"])
def test_a_workspace_install_authorizes_as_bolt_does(
    pair: Pair, install: Callable[..., Any], user_token: bool, user_id: str | None
) -> None:
    _, body = install(user_token=user_token)
    bolt, ours = pair.both(**TEAM, user_id=user_id)
    assert_same(bolt, ours, org=False)
    assert ours is not None and ours.bot_token == body["access_token"]
    assert ours.bot_id == "B0STANDIN" and ours.bot_user_id == "U0STANDINBOT"
    installer_token = body["authed_user"].get("access_token")
    # an event without a user gets the installer's token too: Bolt looks the user up with
    # user_id=None, which finds the latest installation
    by_installer = user_token and user_id in (INSTALLER_USER_ID, None)
    assert ours.user_token == (installer_token if by_installer else None)
    assert ours.user_id == (INSTALLER_USER_ID if by_installer else None)


def test_an_org_wide_install_authorizes_an_event_of_a_workspace_in_the_org(
    pair: Pair, install: Callable[..., Any]
) -> None:
    _, body = install(org_wide=True, user_token=True)
    request: dict[str, Any] = {
        "enterprise_id": DEFAULT_ENTERPRISE_ID,
        "team_id": "T0INORG01",
        "org": True,
    }
    for user_id in (INSTALLER_USER_ID, OTHER_USER):
        bolt, ours = pair.both(**request, user_id=user_id)
        assert_same(bolt, ours, org=True)
        assert ours is not None and ours.bot_token == body["access_token"]
        assert ours.enterprise_id == DEFAULT_ENTERPRISE_ID and ours.url


def test_an_enterprise_grid_workspace_install_authorizes_as_bolt_does(
    pair: Pair, install: Callable[..., Any]
) -> None:
    install(enterprise_id="E0GRID001", team_id="T0GRIDWS1", user_token=True)
    for user_id in (INSTALLER_USER_ID, OTHER_USER):
        bolt, ours = pair.both(enterprise_id="E0GRID001", team_id="T0GRIDWS1", user_id=user_id)
        assert_same(bolt, ours, org=False)
        assert ours is not None and ours.enterprise_id == "E0GRID001"


def test_a_workspace_never_installed_is_not_authorized(
    pair: Pair, install: Callable[..., Any]
) -> None:
    install()
    bolt, ours = pair.both(enterprise_id=None, team_id="T0ELSEWHR", user_id=INSTALLER_USER_ID)
    assert bolt is None and ours is None


def test_an_uninstalled_workspace_is_not_authorized(
    pair: Pair, install: Callable[..., Any]
) -> None:
    install(user_token=True)
    revocation.mark_uninstalled(
        client_id="1111.2222", enterprise_id="", team_id="T0STANDIN1", actor="slack"
    )
    for user_id in (INSTALLER_USER_ID, OTHER_USER):
        bolt, ours = pair.both(**TEAM, user_id=user_id)
        assert bolt is None and ours is None


@pytest.mark.parametrize("user_id", [INSTALLER_USER_ID, OTHER_USER])
def test_a_revoked_bot_leaves_only_the_installers_user_token(
    pair: Pair, install: Callable[..., Any], user_id: str
) -> None:
    _, body = install(user_token=True)
    revocation.mark_bot_revoked(
        client_id="1111.2222", enterprise_id="", team_id="T0STANDIN1", actor="slack"
    )
    bolt, ours = pair.both(**TEAM, user_id=user_id)
    assert_same(bolt, ours, org=False)
    if user_id == INSTALLER_USER_ID:  # the user token alone, and no bot
        assert ours is not None and ours.user_token == body["authed_user"]["access_token"]
        assert ours.bot_token is None and ours.bot_id is None
    else:
        assert ours is None


def test_a_revoked_user_token_is_not_handed_out(pair: Pair, install: Callable[..., Any]) -> None:
    install(user_token=True)
    pair.store.delete_installation(**TEAM, user_id=INSTALLER_USER_ID)
    bolt, ours = pair.both(**TEAM, user_id=INSTALLER_USER_ID)
    assert_same(bolt, ours, org=False)


def test_bolt_only_lookups_authorize_as_bolt_does(pair: Pair, install: Callable[..., Any]) -> None:
    install(user_token=True)
    pair.bolt.bot_only = True
    pair.ours = DjangoAuthorize(installation_store=pair.store, bot_only=True)
    bolt, ours = pair.both(**TEAM, user_id=INSTALLER_USER_ID)
    assert_same(bolt, ours, org=False)
    assert ours is not None and ours.user_token is None


def test_the_async_twin_answers_the_same(pair: Pair, install: Callable[..., Any]) -> None:
    install(user_token=True)
    twin = AsyncDjangoAuthorize(installation_store=AsyncDjangoInstallationStore())
    context = AsyncBoltContext({"client": AsyncWebClient(base_url=pair.standin.api_url)})
    context["is_enterprise_install"] = False
    for user_id in (INSTALLER_USER_ID, OTHER_USER, INSTALLER_USER_ID):
        ours = pair.call(pair.ours, **TEAM, user_id=user_id)
        before = pair.auth_tests()
        theirs = async_to_sync(twin.__call__)(context=context, **TEAM, user_id=user_id)
        again = async_to_sync(twin.__call__)(context=context, **TEAM, user_id=user_id)
        assert theirs == again == ours and pair.auth_tests() <= before + 2
    assert len(twin.auth_tests) == 2  # the bot token and the installer's user token
    nobody: dict[str, Any] = {"enterprise_id": None, "team_id": "T0NONE", "user_id": None}
    assert async_to_sync(twin.__call__)(context=context, **nobody) is None


def test_one_users_token_is_never_handed_to_another(
    pair: Pair, install: Callable[..., Any]
) -> None:
    """Bolt's cache_enabled keeps the whole result under the bot token: the installer's user
    token then goes to everyone's events. Ours keeps auth.test answers per token only."""
    _, body = install(user_token=True)
    installer_token = body["authed_user"]["access_token"]
    bolts_cache = InstallationStoreAuthorize(
        logger=logging.getLogger("test"),
        installation_store=pair.store,
        client=pair.client,
        cache_enabled=True,
    )
    for authorize in (bolts_cache, pair.ours):
        first = pair.call(authorize, **TEAM, user_id=INSTALLER_USER_ID)
        assert first is not None and first.user_token == installer_token
    leaked = pair.call(bolts_cache, **TEAM, user_id=OTHER_USER)
    assert leaked is not None and leaked.user_token == installer_token  # Bolt's, as it stands
    bolt, ours = pair.both(**TEAM, user_id=OTHER_USER)
    assert_same(bolt, ours, org=False)
    assert ours is not None and ours.user_token is None and ours.user_id is None


def test_the_auth_test_cache_keeps_at_most_its_size(
    pair: Pair, install: Callable[..., Any]
) -> None:
    teams = ["T0CACHE01", "T0CACHE02", "T0CACHE03"]
    for team_id in teams:
        install(team_id=team_id)
    pair.ours = DjangoAuthorize(installation_store=pair.store, cache_size=2)
    for team_id in teams:
        assert pair.call(pair.ours, enterprise_id=None, team_id=team_id, user_id=None)
    assert len(pair.ours.auth_tests) == 2
    before = pair.auth_tests()
    for team_id in teams[1:]:  # the two most recent: remembered
        pair.call(pair.ours, enterprise_id=None, team_id=team_id, user_id=None)
    assert pair.auth_tests() == before
    pair.call(pair.ours, enterprise_id=None, team_id=teams[0], user_id=None)  # dropped: asked
    assert pair.auth_tests() == before + 1 and len(pair.ours.auth_tests) == 2


def test_a_token_slack_refuses_is_not_remembered(pair: Pair, install: Callable[..., Any]) -> None:
    install()
    pair.standin.fail_next("auth.test", error="token_revoked", times=2)
    bolt = pair.call(pair.bolt, **TEAM, user_id=None)
    ours = pair.call(pair.ours, **TEAM, user_id=None)
    assert bolt is None and ours is None  # Bolt's answer: not installed
    assert len(pair.ours.auth_tests) == 0
    assert pair.call(pair.ours, **TEAM, user_id=None) is not None  # asked again


def test_an_unreadable_token_fails_the_request_instead_of_not_installed(
    pair: Pair, install: Callable[..., Any], settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    _, body = install(user_token=True)
    settings.TOKEN_ENCRYPTION_KEYS = generate_key_entry("other")
    with pytest.raises(EncryptedDataError):
        pair.call(pair.ours, **TEAM, user_id=INSTALLER_USER_ID)
    assert body["access_token"] not in caplog.text


def test_no_token_reaches_the_logs(
    pair: Pair, install: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, body = install(user_token=True)
    pair.call(pair.ours, **TEAM, user_id=INSTALLER_USER_ID)
    pair.call(pair.ours, **TEAM, user_id=OTHER_USER)
    for token in (body["access_token"], body["authed_user"]["access_token"]):
        assert token not in caplog.text
        assert token not in pair.ours.auth_tests.by_digest  # remembered by digest only
