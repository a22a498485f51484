"""Our authorize (installations/bolt/authorize.py) against Bolt's InstallationStoreAuthorize.

The same installs, made through the stand-in and stored by our store, are authorized by both:
the results must be equal field for field, except the two Bolt reads from ``auth.test`` that we
do not store (``user``, a display name; ``url`` of a workspace install), which are None in ours.
Bolt calls ``auth.test`` for every request (twice with a user token); ours never does.
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
from slack_sdk import WebClient

from installations.bolt.async_store import AsyncDjangoInstallationStore
from installations.bolt.authorize import AsyncDjangoAuthorize, DjangoAuthorize
from installations.bolt.store import DjangoInstallationStore
from installations.encryption.fields import EncryptedDataError
from installations.encryption.keyring import generate_key_entry
from installations.lifecycle import revocation
from slackstandin import SlackStandIn
from slackstandin.state import DEFAULT_ENTERPRISE_ID, INSTALLER_USER_ID

pytestmark = pytest.mark.django_db

OTHER_USER = "U0SOMEONE2"
NOT_STORED = ("user",)  # auth.test's display name of the token's user


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
        """(Bolt's, ours); ours must not call auth.test."""
        bolt = self.call(self.bolt, **request)
        before = self.auth_tests()
        ours = self.call(self.ours, **request)
        assert self.auth_tests() == before, "our authorize called auth.test"
        return bolt, ours


@pytest.fixture
def pair(standin: SlackStandIn) -> Pair:
    return Pair(standin)


def assert_same(bolt: AuthorizeResult | None, ours: AuthorizeResult | None, *, org: bool) -> None:
    """Field for field, but for what we do not store (None in ours)."""
    if bolt is None or ours is None:
        assert bolt is ours is None
        return
    assert set(ours) == set(bolt)
    not_stored = (*NOT_STORED, *(() if org else ("url",)))
    for name in not_stored:
        assert ours[name] is None
    expected = {k: v for k, v in bolt.items() if k not in not_stored}
    assert {k: v for k, v in ours.items() if k not in not_stored} == expected
    for name in expected:  # Bolt's listeners read the attributes, not the dict
        assert getattr(ours, name) == getattr(bolt, name)


TEAM = {"enterprise_id": None, "team_id": "T0STANDIN1"}


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
    request = {"enterprise_id": DEFAULT_ENTERPRISE_ID, "team_id": "T0INORG01", "org": True}
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
    for user_id in (INSTALLER_USER_ID, OTHER_USER):
        ours = pair.call(pair.ours, **TEAM, user_id=user_id)
        before = pair.auth_tests()
        theirs = async_to_sync(twin.__call__)(context=pair.context(False), **TEAM, user_id=user_id)
        assert theirs == ours and pair.auth_tests() == before
    nobody = {"enterprise_id": None, "team_id": "T0NONE", "user_id": None}
    assert async_to_sync(twin.__call__)(context=pair.context(False), **nobody) is None


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
