"""Token rotation inside our authorize: Bolt's own rotation steps, with the refresh itself
through lifecycle/rotation.py's claim protocol (ClaimingTokenRotator), so one refresh token is
spent once however many events race.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone
from slack_bolt import BoltContext
from slack_bolt.authorization.authorize_result import AuthorizeResult
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk import WebClient
from slack_sdk.web.async_client import AsyncWebClient

from installations.bolt.async_authorize import AsyncDjangoAuthorize
from installations.bolt.async_store import AsyncDjangoInstallationStore
from installations.bolt.authorize import DjangoAuthorize, TokenNotRefreshed
from installations.bolt.store import DjangoInstallationStore
from installations.models import Installation, LifecycleEvent, Workspace
from slackstandin import SlackStandIn
from slackstandin.state import INSTALLER_USER_ID
from tests.support.lifecycle import make_due, refresh_calls, run_at_once
from tests.support.store import stored_envelope

TEAM: dict[str, Any] = {"enterprise_id": None, "team_id": "T0STANDIN1"}


def authorize(standin: SlackStandIn, user_id: str = INSTALLER_USER_ID) -> AuthorizeResult | None:
    ours = DjangoAuthorize(installation_store=DjangoInstallationStore(), token_rotation_minutes=60)
    context = BoltContext({"client": WebClient(base_url=standin.api_url)})
    return ours(context=context, **TEAM, user_id=user_id)


def make_expired(workspace: Workspace) -> None:
    """Our record says the bot token has expired (the stand-in still honours its refresh)."""
    past = timezone.now() - timedelta(minutes=1)
    Workspace.objects.filter(pk=workspace.pk).update(bot_token_expires_at=past)


@pytest.mark.django_db
def test_a_token_near_expiry_is_refreshed_through_our_rotation(
    standin: SlackStandIn, install: Callable[..., Any]
) -> None:
    workspace, body = install(rotation=True, user_token=True, auth_test=False)
    make_due(workspace)
    result = authorize(standin)
    user = body["authed_user"]
    assert refresh_calls(standin) == [body["refresh_token"], user["refresh_token"]]
    workspace.refresh_from_db()
    row = Installation.objects.get(workspace=workspace)
    assert result is not None
    assert result.bot_token == workspace.bot_token != body["access_token"]
    assert result.user_token == row.user_token != user["access_token"]
    assert workspace.bot_token not in stored_envelope(workspace, "bot_token")
    events = LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.REFRESHED)
    assert set(events.values_list("actor", flat=True)) == {"bolt"} and events.count() == 2
    assert authorize(standin) == result  # now fresh: nothing more is spent
    assert len(refresh_calls(standin)) == 2
    workspace.refresh_from_db()
    assert workspace.refresh_failed_at is None and workspace.bot_revoked_at is None


@pytest.mark.django_db
def test_another_users_event_refreshes_the_bot_only(
    standin: SlackStandIn, install: Callable[..., Any]
) -> None:
    workspace, body = install(rotation=True, user_token=True, auth_test=False)
    make_due(workspace)
    result = authorize(standin, user_id="U0SOMEONE2")
    assert refresh_calls(standin) == [body["refresh_token"]]
    assert result is not None and result.user_token is None


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_events_for_an_expired_workspace_spend_its_refresh_token_once(
    standin: SlackStandIn, install: Callable[..., Any]
) -> None:
    workspace, body = install(rotation=True)
    make_expired(workspace)
    standin.fail_next("oauth.v2.access", delay=0.4)  # the first refresh is held at Slack
    results = run_at_once(2, lambda: authorize(standin))
    assert refresh_calls(standin) == [body["refresh_token"]]
    workspace.refresh_from_db()
    # the loser waited for the winner's token instead of using the expired one
    assert [r.bot_token if r else None for r in results] == [workspace.bot_token] * 2
    assert workspace.bot_token != body["access_token"]


@pytest.mark.django_db
def test_an_expired_token_slack_refuses_to_refresh_is_not_installed(
    standin: SlackStandIn, install: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    workspace, body = install(rotation=True)
    make_expired(workspace)
    standin.fail_next("oauth.v2.access", error="invalid_refresh_token")
    caplog.set_level(logging.DEBUG)
    assert authorize(standin) is None  # Bolt's answer when its rotation fails
    workspace.refresh_from_db()
    assert workspace.refresh_failed_at is not None  # a reinstall is needed
    assert authorize(standin) is None and len(refresh_calls(standin)) == 1  # not tried again
    for token in (body["access_token"], body["refresh_token"]):
        assert token not in caplog.text


@pytest.mark.django_db
def test_an_expired_token_that_failed_for_now_fails_the_request(
    standin: SlackStandIn, install: Callable[..., Any]
) -> None:
    workspace, _ = install(rotation=True)
    make_expired(workspace)
    standin.fail_next("oauth.v2.access", status=503)
    with pytest.raises(TokenNotRefreshed):  # a 500: Slack retries the event
        authorize(standin)
    assert authorize(standin) is not None  # the next try refreshes


@pytest.mark.django_db
def test_a_token_still_valid_is_used_when_its_refresh_fails(
    standin: SlackStandIn, install: Callable[..., Any]
) -> None:
    workspace, body = install(rotation=True)
    make_due(workspace)
    standin.fail_next("oauth.v2.access", status=503)
    result = authorize(standin)
    assert result is not None and result.bot_token == body["access_token"]


@pytest.mark.django_db(transaction=True)
def test_the_async_twin_refreshes_through_our_rotation(
    standin: SlackStandIn, install: Callable[..., Any]
) -> None:
    workspace, body = install(rotation=True)
    make_expired(workspace)
    ours = AsyncDjangoAuthorize(
        installation_store=AsyncDjangoInstallationStore(), token_rotation_minutes=60
    )
    context = AsyncBoltContext({"client": AsyncWebClient(base_url=standin.api_url)})
    result = async_to_sync(ours.__call__)(context=context, **TEAM, user_id=INSTALLER_USER_ID)
    workspace.refresh_from_db()
    assert refresh_calls(standin) == [body["refresh_token"]]
    assert result is not None and result.bot_token == workspace.bot_token != body["access_token"]
    events = LifecycleEvent.objects.filter(kind=LifecycleEvent.Kind.REFRESHED)
    assert list(events.values_list("actor", flat=True)) == ["bolt"]
