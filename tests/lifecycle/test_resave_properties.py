"""Property: whatever the interleaving, no token a revocation reached is ever stored again.

Hypothesis writes the history of one workspace: installs by two users, Bolt requests that read
an installation (or the bot) and rotate its tokens, revocations of every kind landing while
those requests are still to save, and the saves. A revocation kills every token of the kinds it
covers that exists at that moment: the stored ones and the rotated ones Bolt holds in memory.
After every step, nothing killed is in the database; and a save none of whose tokens was killed
still lands (the rule refuses what was revoked, nothing more).

Bolt's read, rotation and save happen within one request, milliseconds apart; an install is a
person's browser flow, seconds long. So a pending save spans revocations, never a new install:
each install first lets the pending saves land.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.installation_store import Installation as SdkInstallation

from installations.bolt.store import DjangoInstallationStore
from installations.lifecycle import revocation
from installations.models import Installation, LifecycleEvent, ProcessedSlackEvent, Workspace
from installations.slack.sdk_mapping import as_datetime
from tests.lifecycle.test_resave_after_revocation import rotated, rotated_bot, slack_event
from tests.support.factories import fake_token, store_installation

pytestmark = pytest.mark.django_db

TEAM: dict[str, Any] = {"enterprise_id": None, "team_id": "T0TEAM1"}
USERS = ("U0ALICE", "U0BOB")


@dataclass
class Pending:
    """A Bolt request between its rotation and its save."""

    data: Any  # the rotated Installation or Bot it will save
    killed: bool = False  # a revocation reached one of the tokens it carries


@dataclass
class World:
    store: DjangoInstallationStore
    pending: list[Pending] = field(default_factory=list)
    dead: set[str] = field(default_factory=set)

    def stored(self) -> dict[str, str]:
        """Every token and webhook URL in the database, by where it is."""
        values: dict[str, str | None] = {}
        for ws in Workspace.objects.all():
            values |= {"bot_token": ws.bot_token, "bot_refresh_token": ws.bot_refresh_token}
        for row in Installation.objects.all():
            for name in ("user_token", "user_refresh_token", "incoming_webhook_url"):
                values[f"{row.user_id}.{row.installed_at.timestamp()}.{name}"] = getattr(row, name)
        return {where: value for where, value in values.items() if value is not None}

    def kill(self, *, bot: bool, users: tuple[str, ...] | None, webhooks: bool) -> None:
        """Record what a revocation reaches: stored values and pending rotated ones."""
        for where, value in self.stored().items():
            name = where.rsplit(".", 1)[-1]
            user = where.split(".", 1)[0]
            if (
                (bot and name.startswith("bot_"))
                or (name.startswith("user_") and (users is None or user in users))
                or (webhooks and name == "incoming_webhook_url")
            ):
                self.dead.add(value)
        for pending in self.pending:
            carried = []
            if bot and pending.data.bot_token:
                carried += [pending.data.bot_token, pending.data.bot_refresh_token]
            user_id = getattr(pending.data, "user_id", None)
            if getattr(pending.data, "user_token", None) and (users is None or user_id in users):
                carried += [pending.data.user_token, pending.data.user_refresh_token]
            self.dead.update(carried)
            pending.killed = pending.killed or bool(carried)


# --- steps -------------------------------------------------------------------------------------


def install(world: World, user: str) -> None:
    while world.pending:  # a browser flow takes seconds: Bolt's requests have saved meanwhile
        save(world, 0)
    world.store.save(
        store_installation(
            installed_at=time.time(),
            user_id=user,
            bot_refresh_token=fake_token("xoxe-1"),
            user_refresh_token=fake_token("xoxe-1"),
            incoming_webhook_url=fake_token("https://hooks.slack.invalid/services/T0TEAM1"),
        )
    )


def bolt_reads(world: World, user: str, via: str) -> None:
    """Bolt's authorize: the lookup, then the rotation (new tokens, in memory)."""
    if via == "bot":
        bot = world.store.find_bot(**TEAM)
        if bot is not None:
            world.pending.append(Pending(rotated_bot(bot)))
        return
    found = world.store.find_installation(**TEAM, user_id=None if via == "latest" else user)
    if found is None:
        return
    if via == "latest" and found.user_id != user:  # Bolt drops the installer's user token
        found.user_token = found.user_refresh_token = found.user_token_expires_at = None
    if found.bot_refresh_token or found.user_refresh_token:  # else nothing to rotate or save
        world.pending.append(Pending(rotated(found)))


def save(world: World, index: int) -> None:
    if not world.pending:
        return
    pending = world.pending.pop(index % len(world.pending))
    if isinstance(pending.data, Bot):
        world.store.save_bot(pending.data)
    else:
        world.store.save(pending.data)
    if pending.killed:
        return
    # nothing it carries was revoked: its rotation lands (unless a newer bot took the target)
    workspace = Workspace.objects.get()
    if pending.data.bot_token and workspace.installed_at == as_datetime(pending.data.installed_at):
        assert workspace.bot_token == pending.data.bot_token
    if isinstance(pending.data, SdkInstallation) and pending.data.user_token:
        [row] = [
            row
            for row in Installation.objects.filter(user_id=pending.data.user_id)
            if row.installed_at == as_datetime(pending.data.installed_at)
        ]
        assert row.user_token == pending.data.user_token


def revoke(world: World, kind: str, users: tuple[str, ...]) -> None:
    if not Workspace.objects.exists():
        return
    store = world.store
    if kind == "app_uninstalled":
        world.kill(bot=True, users=None, webhooks=True)
        slack_event({"type": "app_uninstalled"})
    elif kind == "bolt_delete_all":
        world.kill(bot=True, users=None, webhooks=True)
        store.delete_all(**TEAM)
    elif kind == "staff_revoke":
        world.kill(bot=True, users=None, webhooks=True)
        target = Workspace.objects.get()
        revocation.mark_revoked_by_staff(
            target, actor="staff:t", detail="t", revoked=revocation.live_tokens(target)
        )
    elif kind in ("tokens_revoked_bot", "bolt_delete_bot"):
        world.kill(bot=True, users=(), webhooks=False)
        if kind == "bolt_delete_bot":
            store.delete_bot(**TEAM)
        else:
            slack_event({"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["U0BOTUSER"]}})
    elif kind == "tokens_revoked_users" and users:
        world.kill(bot=False, users=users, webhooks=False)
        slack_event({"type": "tokens_revoked", "tokens": {"oauth": list(users), "bot": []}})
    elif kind == "bolt_delete_installation":
        world.kill(bot=False, users=users[:1] or None, webhooks=False)
        store.delete_installation(**TEAM, user_id=users[0] if users else None)


user_st = st.sampled_from(USERS)
STEP = st.one_of(
    st.tuples(st.just("install"), user_st),
    st.tuples(st.just("read"), user_st, st.sampled_from(["own", "latest", "bot"])),
    st.tuples(st.just("save"), st.integers(0, 3)),
    st.tuples(
        st.just("revoke"),
        st.sampled_from(
            [
                "app_uninstalled",
                "bolt_delete_all",
                "staff_revoke",
                "tokens_revoked_bot",
                "bolt_delete_bot",
                "tokens_revoked_users",
                "bolt_delete_installation",
            ]
        ),
        st.lists(user_st, max_size=2, unique=True).map(tuple),
    ),
)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(STEP, min_size=1, max_size=12))
def test_no_revoked_token_is_ever_stored_again(
    our_store: DjangoInstallationStore, steps: list[tuple[Any, ...]]
) -> None:
    for model in (Workspace, LifecycleEvent, ProcessedSlackEvent):
        model.objects.all().delete()
    world = World(our_store)
    install(world, USERS[0])
    for step in [*steps, ("save", 0), ("save", 0), ("save", 0), ("save", 0)]:
        if step[0] == "install":
            install(world, step[1])
        elif step[0] == "read":
            bolt_reads(world, step[1], step[2])
        elif step[0] == "save":
            save(world, step[1])
        else:
            revoke(world, step[1], step[2])
        resurrected = {where for where, value in world.stored().items() if value in world.dead}
        assert not resurrected, (step, resurrected)
