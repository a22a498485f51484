"""save_installation: history, in-place re-saves after rotation, what a re-save keeps."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from slack_sdk.oauth.installation_store import Installation as SdkInstallation

from installations.lifecycle.saving import save_installation
from installations.models import Installation, LifecycleEvent, Workspace
from tests.support.factories import sdk_installation

pytestmark = pytest.mark.django_db
CLIENT = "1111.2222"


def flow(user_id: str, *, at: object, **extra: object) -> SdkInstallation:
    """One install flow by ``user_id`` at ``at`` into T0TEST (tests/support/factories.py)."""
    values = {
        **{"app_id": "A0TEST", "team_id": "T0TEST", "team_name": "Test", "bot_id": "B0TEST"},
        **{"bot_user_id": "U0BOT", "bot_scopes": "chat:write", "user_id": user_id},
        "installed_at": at,
        **extra,
    }
    return sdk_installation(**values)


def test_reinstall_updates_the_workspace_and_appends_history() -> None:
    t0 = timezone.now() - timedelta(hours=1)
    first = flow("U1", at=t0)
    second = flow("U1", at=t0 + timedelta(minutes=5), bot_scopes="chat:write,commands")
    save_installation(first, client_id=CLIENT, source="oauth", actor="slack")
    save_installation(second, client_id=CLIENT, source="oauth", actor="slack")
    ws = Workspace.objects.get()
    assert ws.bot_token == second.bot_token and ws.bot_scopes == "chat:write,commands"
    rows = list(Installation.objects.order_by("installed_at"))
    assert [r.is_current for r in rows] == [False, True]
    assert rows[0].user_token is None  # the superseded user token is erased
    assert rows[1].user_token == second.user_token
    kinds = list(LifecycleEvent.objects.order_by("occurred_at").values_list("kind", flat=True))
    assert kinds == ["installed", "reinstalled"]


def test_an_older_flow_finishing_late_does_not_displace_the_newer_one() -> None:
    t0 = timezone.now() - timedelta(hours=1)
    newer, older = flow("U1", at=t0 + timedelta(minutes=5)), flow("U1", at=t0)
    save_installation(newer, client_id=CLIENT, source="oauth", actor="slack")
    save_installation(older, client_id=CLIENT, source="oauth", actor="slack")
    assert Workspace.objects.get().bot_token == newer.bot_token
    current = Installation.objects.get(is_current=True)
    assert current.user_token == newer.user_token


def test_resave_without_user_token_keeps_the_stored_one() -> None:
    """Bolt re-saves with user_token=None when another user triggered the bot's rotation."""
    t0 = timezone.now() - timedelta(hours=1)
    original = flow("U1", at=t0, bot_refresh_token="xoxe-1-test-old", bot_token_expires_in=60)
    save_installation(original, client_id=CLIENT, source="oauth", actor="slack")
    rotated = flow(
        "U1", at=t0, user_token=None, bot_refresh_token="xoxe-1-test-new",
        bot_token_expires_in=43200,
    )  # fmt: skip
    save_installation(rotated, client_id=CLIENT, source="store", actor="bolt")
    assert Installation.objects.count() == 1
    row = Installation.objects.get()
    assert row.user_token == original.user_token
    ws = Workspace.objects.get()
    assert (ws.bot_token, ws.bot_refresh_token) == (rotated.bot_token, "xoxe-1-test-new")


def test_resave_of_an_older_users_row_still_saves_the_rotated_bot() -> None:
    t0 = timezone.now() - timedelta(hours=1)
    alice = flow("UALICE", at=t0, bot_refresh_token="xoxe-1-test-a")
    bob = flow("UBOB", at=t0 + timedelta(minutes=5), bot_refresh_token="xoxe-1-test-b")
    save_installation(alice, client_id=CLIENT, source="oauth", actor="slack")
    save_installation(bob, client_id=CLIENT, source="oauth", actor="slack")
    # Bolt, acting for Alice, rotated the current bot and re-saves Alice's (older) row.
    rotated = flow("UALICE", at=t0, user_token=alice.user_token, bot_refresh_token="xoxe-1-test-c")
    save_installation(rotated, client_id=CLIENT, source="store", actor="bolt")
    ws = Workspace.objects.get()
    assert (ws.bot_token, ws.bot_refresh_token) == (rotated.bot_token, "xoxe-1-test-c")
    # The latest install stays the latest: its time and its installer.
    assert ws.installed_at.timestamp() == pytest.approx(bob.installed_at)
    assert ws.installer_user_id == "UBOB"
    assert Installation.objects.count() == 2


def test_a_rotated_bot_saved_by_bolt_clears_an_earlier_refresh_failure() -> None:
    t0 = timezone.now() - timedelta(hours=1)
    first = flow("U1", at=t0, bot_refresh_token="xoxe-1-test-a")
    save_installation(first, client_id=CLIENT, source="oauth", actor="slack")
    Workspace.objects.update(refresh_failed_at=timezone.now())  # our refresher lost a race
    same_token = flow("U1", at=t0, bot_token=first.bot_token, bot_refresh_token="xoxe-1-test-a")
    save_installation(same_token, client_id=CLIENT, source="store", actor="bolt")
    assert Workspace.objects.get().refresh_failed_at is not None  # nothing new: still failed
    rotated = flow("U1", at=t0, bot_refresh_token="xoxe-1-test-b")
    save_installation(rotated, client_id=CLIENT, source="store", actor="bolt")
    assert Workspace.objects.get().refresh_failed_at is None


def test_a_resave_keeps_the_bot_scopes_that_flow_granted_in_history() -> None:
    t0 = timezone.now() - timedelta(hours=1)
    alice = flow("UALICE", at=t0, bot_scopes="commands")
    bob = flow("UBOB", at=t0 + timedelta(minutes=5), bot_scopes="commands,chat:write")
    save_installation(alice, client_id=CLIENT, source="oauth", actor="slack")
    save_installation(bob, client_id=CLIENT, source="oauth", actor="slack")
    # Bolt re-saves Alice's installation with today's bot merged in (after a user refresh).
    resaved = flow("UALICE", at=t0, bot_token=bob.bot_token, bot_scopes="commands,chat:write")
    save_installation(resaved, client_id=CLIENT, source="store", actor="bolt")
    assert Installation.objects.get(user_id="UALICE").bot_scopes == "commands"
    assert Workspace.objects.get().bot_scopes == "commands,chat:write"
