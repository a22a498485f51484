"""Forgetting a workspace or org, and the retention purge (docs/privacy.md).

``forget`` revokes the target's tokens at Slack (best effort), then erases every row about it in
one transaction, sign-in identities and the admin's log included, leaving one anonymous
tombstone per workspace row. The rows are locked for the erase and checked again: tokens that an
install stored after the revocations are revoked in another round, never erased unrevoked. A
process that cannot decrypt a stored token erases nothing (ForgetRefused): a token forgotten here
but still honoured by Slack could never be revoked later. ``purge_history`` erases in batches,
each batch locked and checked again, so a workspace reinstalled meanwhile stays; it can be rerun.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from installations.conf import RETENTION_WORDS, valid_days
from installations.encryption.fields import EncryptedDataError
from installations.lifecycle.revocation import live_tokens
from installations.lifecycle.staff_actions import revoke_workspace
from installations.models import (
    ForgottenWorkspace,
    Installation,
    LifecycleEvent,
    OrgTeamAccess,
    Workspace,
)

logger = logging.getLogger(__name__)

# A workspace (T…) or an Enterprise Grid org (E…) id, as Slack writes them.
TARGET_ID = re.compile(r"[TE][A-Z0-9]{2,31}")
# Any id a row's id column can hold that is safe to look up (no NUL, no space, no surrogate).
LOOKUP_ID = re.compile(r"[!-~]{1,32}")


@dataclass
class ForgetOutcome:
    """What ``forget`` did, in counts and plain words: never a token, name or email."""

    workspaces: int = 0
    identities: int = 0
    accounts_emptied: int = 0
    org_mentions: int = 0
    tokens_revoked: int = 0
    revoke_problems: list[str] = field(default_factory=list)
    tombstones: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.workspaces or self.identities or self.org_mentions)


class ForgetRefused(Exception):
    """Nothing was erased; the message says why in one line."""


# Each round revokes what an install stored since the last one; a third means installs keep
# arriving: stop and say so.
FORGET_ROUNDS = 3


def forget(target_id: str, *, actor: str, revoke: bool = True) -> ForgetOutcome:
    """Revoke (when ``revoke``) and erase everything stored about workspace or org
    ``target_id``. Raises ValueError for an id that is neither, ForgetRefused (nothing erased)
    when a stored token cannot be decrypted here or installs keep arriving."""
    if not is_target(target_id):
        raise ValueError("not a Slack workspace (T…) or org (E…) id")
    outcome = ForgetOutcome()
    rows = _rows_of(target_id)
    # Rows whose tokens Slack did not confirm revoked, and the install they were of: erased all
    # the same (best effort). Any other row still holding a token got it after the revocations.
    kept: dict[uuid.UUID, datetime] = {}
    for _ in range(FORGET_ROUNDS):
        if revoke:
            _revoke_holding(rows, kept, actor, outcome)
        with transaction.atomic():
            locked = dict(rows.select_for_update().order_by("pk").values_list("pk", "installed_at"))
            holding = set(rows.filter(holds_tokens()).values_list("pk", flat=True))
            arrived = [
                pk for pk in holding if revoke and (pk not in kept or kept[pk] != locked.get(pk))
            ]
            if not arrived:
                erase_workspaces(list(locked), outcome)
                _erase_identities(target_id, outcome)
                _erase_org_mentions(target_id, outcome)
                break
    else:
        raise ForgetRefused(
            f"{target_id} was installed again each time its tokens were revoked: nothing was "
            "erased; run it again"
        )
    if not outcome.found:
        logger.info("asked to forget a workspace or org by %s: nothing was stored", actor)
        return outcome
    logger.info(
        "forgot a workspace or org on request of %s: %d row(s), %d identity(ies); tombstones %s",
        actor, outcome.workspaces, outcome.identities, ", ".join(outcome.tombstones) or "none",
    )  # fmt: skip
    return outcome


def is_target(target_id: str) -> bool:
    """Whether ``target_id`` can be forgotten: a workspace or org id as Slack writes them, or the
    exact id a stored row holds in another form (every stored row must be erasable)."""
    if TARGET_ID.fullmatch(target_id):
        return True
    return LOOKUP_ID.fullmatch(target_id) is not None and _rows_of(target_id).exists()


def _rows_of(target_id: str) -> QuerySet[Workspace]:
    return Workspace.objects.filter(Q(team_id=target_id) | Q(enterprise_id=target_id))


def holds_tokens() -> Q:
    """Workspace rows that still hold a token Slack may honour: the bot's access or refresh
    token, or a user's on any history row (``revocation.live_tokens``). Not the row's status:
    a user token outlives a bot that Slack revoked (``tokens_revoked`` names the bot alone), and
    a refresh token outlives its expired access token; each must be revoked before its row is
    erased."""
    users = Q(installations__user_token__isnull=False) | Q(
        installations__user_refresh_token__isnull=False
    )
    return Q(bot_token__isnull=False) | Q(bot_refresh_token__isnull=False) | users


def describe(target: str, outcome: ForgetOutcome) -> str:
    """The outcome in plain words, for the command and the admin."""
    lines = [
        f"Forgot {target}: {outcome.workspaces} workspace row(s) and {outcome.identities} "
        f"Sign in with Slack identity(ies) erased; {outcome.accounts_emptied} account(s) "
        "that sign-in created emptied and deactivated; "
        f"{outcome.org_mentions} mention(s) in an org's records removed.",
        f"Tokens revoked at Slack: {outcome.tokens_revoked}.",
    ]
    if outcome.revoke_problems:
        lines.append(
            "Slack did not confirm every revocation ("
            + ", ".join(sorted(set(outcome.revoke_problems)))
            + "): the tokens were erased here all the same; the workspace's admins can remove "
            "the app from Slack to end them."
        )
    lines.append(f"Tombstone(s): {', '.join(outcome.tombstones) or 'none'}.")
    return "\n".join(lines)


def _revoke_holding(
    rows: QuerySet[Workspace], kept: dict[uuid.UUID, datetime], actor: str, outcome: ForgetOutcome
) -> None:
    """Revoke the tokens of every row holding some, but those Slack already would not confirm
    for the same install; first check that this process can read them all (ForgetRefused,
    before any call to Slack)."""
    due = [
        ws for ws in rows.filter(holds_tokens()).distinct() if kept.get(ws.pk) != ws.installed_at
    ]
    for workspace in due:
        try:
            live_tokens(workspace)
        except EncryptedDataError as exc:
            done = (
                f"{outcome.tokens_revoked} token(s) were revoked before this, nothing was erased"
                if outcome.tokens_revoked
                else "nothing was revoked or erased"
            )
            raise ForgetRefused(
                f"a stored token of {workspace.team_id or workspace.enterprise_id} cannot be "
                f"decrypted with this server's keys ({exc.key_problem}): {done}; fix "
                "TOKEN_ENCRYPTION_KEYS and run it again"
            ) from None
    for workspace in due:
        installed_at = workspace.installed_at  # as read: revoking may read the row anew
        if not _revoke(workspace, actor, outcome):
            kept[workspace.pk] = installed_at


def _revoke(workspace: Workspace, actor: str, outcome: ForgetOutcome) -> bool:
    """Best effort: a token Slack did not confirm is reported, and erased all the same. Whether
    Slack confirmed every one."""
    result = revoke_workspace(workspace, actor=actor)
    outcome.tokens_revoked += result.tokens_revoked
    if not result.revoked:
        outcome.revoke_problems.append(result.error or "not_revoked")
    return result.revoked


def erase_workspaces(pks: Sequence[uuid.UUID], outcome: ForgetOutcome) -> None:
    """Delete these workspace rows with everything that hangs off them, and the admin's log of
    them; leave a tombstone each. Runs inside the caller's transaction."""
    if not pks:
        return
    installation_pks = list(
        Installation.objects.filter(workspace__in=pks).values_list("pk", flat=True)
    )
    _erase_admin_log(Workspace, pks)
    _erase_admin_log(Installation, installation_pks)
    Workspace.objects.filter(pk__in=pks).delete()  # cascades: installations, events, access
    tombstones = ForgottenWorkspace.objects.bulk_create(ForgottenWorkspace() for _ in pks)
    outcome.workspaces += len(pks)
    outcome.tombstones.extend(str(stone.pk) for stone in tombstones)


def _erase_admin_log(model: type[models.Model], pks: Sequence[object]) -> None:
    """Django admin's history names the object (``object_repr``): it goes with the object."""
    if pks:
        content_type = ContentType.objects.get_for_model(model)
        LogEntry.objects.filter(
            content_type=content_type, object_id__in=[str(pk) for pk in pks]
        ).delete()


FORGOTTEN_MENTION = "(a forgotten workspace)"


def _erase_org_mentions(target_id: str, outcome: ForgetOutcome) -> None:
    """An org-wide install outlives the workspaces it covers: its coverage rows and the history
    of its team access events (``"workspaces: T1, T2"``) name them. The rows go; in the history
    the id alone is replaced, so the org's other workspaces keep their record (an entry attached
    to no workspace goes whole). An id is matched whole: forgetting ``T0AB`` leaves ``T0ABC``."""
    outcome.org_mentions += OrgTeamAccess.objects.filter(team_id=target_id).delete()[0]
    mention = re.compile(rf"(?<![A-Za-z0-9]){re.escape(target_id)}(?![A-Za-z0-9])")
    candidates = LifecycleEvent.objects.filter(detail__contains=target_id)
    named = [(pk, d) for pk, d in candidates.values_list("pk", "detail") if mention.search(d)]
    for pk, detail in named:
        LifecycleEvent.objects.filter(pk=pk).update(
            detail=mention.sub(FORGOTTEN_MENTION, detail)[:255]
        )
    LifecycleEvent.objects.filter(pk__in=[pk for pk, _ in named], workspace=None).delete()
    outcome.org_mentions += len(named)


def _identity_model() -> type[models.Model] | None:
    """Sign in with Slack's model, when that part of the app is installed."""
    try:
        return apps.get_model("slackinstall_signin", "SlackIdentity")
    except LookupError:  # a host that does not list installations.signin
        return None


def _erase_identities(target_id: str, outcome: ForgetOutcome) -> None:
    identity_model = _identity_model()
    if identity_model is None:
        return
    identities = identity_model._default_manager.filter(
        Q(team_id=target_id) | Q(enterprise_id=target_id) | Q(home=target_id)
    ).select_related("user")
    for identity in identities:
        home = str(getattr(identity, "home", "")).lower()
        user = getattr(identity, "user", None)
        if user is not None and str(user.get_username()).startswith(f"slack-{home}-"):
            _empty_account(user)
            outcome.accounts_emptied += 1
    _erase_admin_log(identity_model, list(identities.values_list("pk", flat=True)))
    outcome.identities += identities.delete()[0]


def _empty_account(user: models.Model) -> None:
    """An account sign-in created holds the Slack user's names and email in its username and
    fields: replace them with a random name and deactivate it; rows that point at it stay."""
    user_model = get_user_model()
    changes: dict[str, object] = {user_model.USERNAME_FIELD: f"forgotten-{uuid.uuid4().hex}"}
    for name in ("email", "first_name", "last_name"):
        if any(f.name == name for f in user_model._meta.get_fields()):
            changes[name] = ""
    changes["is_active"] = False
    user_model._default_manager.filter(pk=user.pk).update(**changes)
    _erase_admin_log(user_model, [user.pk])


# --- retention ----------------------------------------------------------------------------------


@dataclass
class PurgeOutcome:
    workspaces_forgotten: int = 0
    events_deleted: int = 0
    installations_deleted: int = 0


def purge_history(
    days: int, *, now: datetime | None = None, batch_size: int = 500
) -> Iterator[PurgeOutcome]:
    """Erase what is older than ``days``: workspaces uninstalled before then (as ``forget``, without
    calling Slack), lifecycle events, and replaced installation history. Yields the running
    totals after each committed batch; ValueError, before anything is erased, for a bad ``days``."""
    if valid_days(days) is None:
        raise ValueError(f"the retention must be {RETENTION_WORDS}")
    cutoff = (now or timezone.now()) - timedelta(days=days)
    totals = PurgeOutcome()
    gone = Workspace.objects.filter(uninstalled_at__lt=cutoff).order_by("pk")
    while batch := list(gone.values_list("pk", flat=True)[:batch_size]):
        outcome = ForgetOutcome()
        with transaction.atomic():  # locked and checked again: a reinstall clears uninstalled_at
            still_gone = gone.select_for_update().filter(pk__in=batch)
            erase_workspaces(list(still_gone.values_list("pk", flat=True)), outcome)
        totals.workspaces_forgotten += outcome.workspaces
        yield totals
    old_events = LifecycleEvent.objects.filter(occurred_at__lt=cutoff).order_by("pk")
    while event_pks := list(old_events.values_list("pk", flat=True)[:batch_size]):
        totals.events_deleted += LifecycleEvent.objects.filter(pk__in=event_pks).delete()[0]
        yield totals
    # A replaced row that still holds a user's tokens (a flow that finished late) is kept until
    # they are revoked: erasing them here would leave them live at Slack, out of reach.
    replaced = Installation.objects.filter(
        is_current=False,
        installed_at__lt=cutoff,
        user_token__isnull=True,
        user_refresh_token__isnull=True,
    )
    while batch := list(replaced.order_by("pk").values_list("pk", flat=True)[:batch_size]):
        with transaction.atomic():
            _erase_admin_log(Installation, batch)
            totals.installations_deleted += Installation.objects.filter(pk__in=batch).delete()[0]
        yield totals
