"""Token rotation: refresh expiring bot and user tokens, one refresh token spent exactly once.

No transaction stays open while Slack answers, so each refresh is three short steps: read and
open the token, then claim it with one conditional UPDATE on the token read (only the claimer
calls Slack); call Slack outside any transaction, never retrying a request that may have reached
it; lock the row and, while it still holds the spent refresh token, write the new pair or the
failure and release the claim. A new pair the row no longer takes (uninstalled, revoked, deleted,
reinstalled or replaced while Slack answered) is revoked at Slack once the transaction is over,
refresh token first: with rotation auth.revoke ends only the token it is called with, never a
newer install's (docs/slack-protocol.md §5). An unusable answer that carried new tokens spent the
refresh token: the workspace needs a reinstall at once, as when Slack refuses the token.

A stored value this process cannot decrypt is a key configuration error of the process, never a
fact about the workspace: logged at ERROR with the key ids, nothing written, the token stays due.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, TypeVar
from urllib.error import URLError

from django.db import Error, InterfaceError, OperationalError, connection, transaction
from django.db.models import (
    BooleanField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.db.models.lookups import Exact
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from slack_sdk.errors import SlackTokenRotationError
from slack_sdk.oauth.token_rotation import TokenRotator

from installations.conf import slack_config
from installations.encryption.fields import EncryptedDataError, EncryptedTextField, key_problem
from installations.exceptions import SlackInstallError
from installations.lifecycle.job_threads import in_thread_batches
from installations.lifecycle.revocation import ENDED, revoke_at_slack
from installations.lifecycle.saving import record_event
from installations.lifecycle.sdk_rows import (
    BOT_FIELDS,
    USER_FIELDS,
    to_sdk_bot,
    to_sdk_user_installation,
)
from installations.lifecycle.sharding import EVERYTHING, Shard, rows_by_key
from installations.models import Health, Installation, LifecycleEvent, Workspace
from installations.slack import api as slack_api
from installations.slack.client import SpentRefreshAnswer
from installations.slack.sdk_mapping import as_datetime

logger = logging.getLogger(__name__)

FORCE_MINUTES = 10 * 365 * 24 * 60  # "refresh now": any expiry is within ten years
CLAIM_LEASE = timedelta(minutes=2)  # outlasts any HTTP deadline: only a dead runner's expires
# Slack spent the refresh token in an answer we cannot use (the client revoked what it carried).
UNUSABLE_REFRESH_ANSWER = SpentRefreshAnswer.reason
# Slack refused the refresh token itself, or spent it and we lost the only live pair: a
# reinstall is needed.
REINSTALL_CODES = frozenset(
    {
        "invalid_refresh_token",
        "token_revoked",
        "account_inactive",
        "save_failed",
        UNUSABLE_REFRESH_ANSWER,
    }
)
# Plain words for staff, beside the code, where the code alone does not say what happened.
REINSTALL_WORDS = {
    UNUSABLE_REFRESH_ANSWER: "Slack spent the refresh token but answered with tokens that "
    "could not be used; they were revoked",
    "save_failed": "Slack spent the refresh token but the new tokens could not be saved",
}
UNDECRYPTABLE = "undecryptable"  # the error of any outcome when a stored value was unreadable
# A discarded new pair that Slack did not confirm revoked: it may still be live, unstored.
DISCARD_NOT_REVOKED = "discarded_tokens_not_revoked"
SAVE_ATTEMPTS = 3  # a write the database refused (a constraint, a trigger): tried this often
# A database out of reach (restarted, failed over, connections refused): a write is tried again
# for this long, backing off; see ``_retry_pause``.
SAVE_PATIENCE_SECONDS = 60.0
# A request thread (an event's refresh, a staff action) waits this long at most: Slack wants its
# answer within seconds, and every thread of a worker would otherwise wait out the outage.
REQUEST_SAVE_PATIENCE_SECONDS = 5.0
SAVE_MAX_PAUSE_SECONDS = 5.0
# A command waits out Slack's 429 this many times (slack_api.PATIENT_RETRY_AFTER_SECONDS at most
# each): with the HTTP deadline of each try, well inside CLAIM_LEASE.
RATE_LIMIT_RETRIES = 2


class TokenRefresh(Enum):
    """How one refresh of one token ended, when it did not fail (a failure is RefreshFailed)."""

    NOT_DUE = "not_due"
    REFRESHED = "refreshed"
    SKIPPED = "skipped"  # another runner holds the claim, or the row moved on since it was read
    CHANGED_MEANWHILE = "changed_meanwhile"  # reinstalled, revoked or replaced meanwhile
    UNREADABLE = "unreadable"  # this process cannot decrypt the token: nothing was changed
    STOPPED = "stopped"  # the run was stopped before it was sent to Slack: claim released


@dataclass(frozen=True)
class RefreshFailed:
    """A refresh that failed, with the error code recorded on the workspace."""

    code: str


@dataclass(frozen=True)
class RefreshDiscarded:
    """Slack issued a new pair, but the row no longer took it (uninstalled, revoked, deleted,
    reinstalled or replaced while Slack answered): the pair was revoked at Slack, refresh token
    first. ``problem``: why Slack did not confirm a revocation ("" when it confirmed all)."""

    problem: str = ""


TokenResult = TokenRefresh | RefreshFailed | RefreshDiscarded
Row = Workspace | Installation  # the bot's token lives on the Workspace, a user's on its row
ClaimedRow = TypeVar("ClaimedRow", Workspace, Installation)
Opened = TypeVar("Opened")

BOT_ROTATING = Q(
    bot_token__isnull=False,
    bot_refresh_token__isnull=False,
    bot_token_expires_at__isnull=False,
    bot_revoked_at__isnull=True,
    uninstalled_at__isnull=True,
)
USER_DUE = Q(
    is_current=True,
    user_refresh_token__isnull=False,
    user_token_expires_at__isnull=False,
    user_token_revoked_at__isnull=True,
    deleted_at__isnull=True,
)


def _unclaimed(column: str, now: datetime) -> Q:
    return Q(**{f"{column}__isnull": True}) | Q(**{f"{column}__lt": now})


@dataclass(frozen=True)
class RefreshOutcome:
    """What one refresh run did for a workspace; ``unreadable``: the key id each unreadable
    stored value needs. Never holds a token."""

    workspace_id: str
    label: str
    bot_refreshed: bool = False
    users_refreshed: int = 0
    error: str = ""
    skipped: bool = False
    unreadable: tuple[str, ...] = ()
    discarded: int = 0  # new pairs Slack issued that the row no longer took (RefreshDiscarded)
    discard_problem: str = ""  # why Slack did not confirm revoking one ("" when it did)
    left: int = 0  # tokens not sent to Slack because the run was stopped (STOPPED)

    @property
    def refreshed(self) -> bool:
        return self.bot_refreshed or self.users_refreshed > 0

    @property
    def message(self) -> str:
        parts = ["skipped: another runner is refreshing it"] if self.skipped else []
        if self.bot_refreshed:
            parts.append("bot token refreshed")
        if self.users_refreshed:
            parts.append(f"{self.users_refreshed} user token(s) refreshed")
        if self.discarded:
            fate = (
                f"they could not be revoked ({self.discard_problem}) and may still be live"
                if self.discard_problem
                else "revoked at Slack"
            )
            parts.append(
                f"{self.discarded} refresh(es) discarded: the workspace was revoked, removed or "
                f"reinstalled while Slack answered, so the new tokens were not stored; {fate}"
            )
        if self.unreadable:
            parts.append(
                f"not refreshed: {len(self.unreadable)} stored value(s) cannot be decrypted with "
                f"this process's keys ({key_problem(self.unreadable)}); a key configuration "
                "problem (check TOKEN_ENCRYPTION_KEYS), nothing was changed"
            )
        if self.left:
            parts.append(f"{self.left} token(s) left for the next run: the run was stopped")
        if self.error and self.error not in (UNDECRYPTABLE, DISCARD_NOT_REVOKED):
            reinstall = " (reinstall needed)" if self.error in REINSTALL_CODES else ""
            parts.append(f"refresh failed: {self.error}{reinstall}")
        return "; ".join(parts) or "nothing was due"


@dataclass(frozen=True)
class _Claim:
    """A claimed refresh: enough to tell later whether the row still holds what was spent."""

    model: type[Workspace] | type[Installation]
    pk: Any
    workspace_id: Any
    until: datetime
    envelope: str  # the stored refresh token's envelope when it was claimed
    installed_at: datetime

    @property
    def column(self) -> str:
        return (
            "bot_refresh_claimed_until" if self.model is Workspace else "user_refresh_claimed_until"
        )

    @property
    def refresh_field(self) -> str:
        return "bot_refresh_token" if self.model is Workspace else "user_refresh_token"


def _envelope_of(instance: Row, name: str) -> str | None:
    """The envelope an encrypted column of the row stores (None: NULL), never decrypted."""
    field = instance._meta.get_field(name)
    return field.stored_envelope(instance) if isinstance(field, EncryptedTextField) else None


def _stored_envelope(instance: Row, name: str) -> str:
    """The envelope a claimed refresh token is stored in (the claim's filter says it is set)."""
    envelope = _envelope_of(instance, name)
    if envelope is None:  # unreachable: claimed rows hold the token
        raise AssertionError(f"a claimed {name} vanished inside its transaction")
    return envelope


def _spent(token: str | None) -> str:
    """A refresh token read inside the claim (its filter guarantees one)."""
    if token is None:  # unreachable: the claim's filter
        raise AssertionError("a claimed refresh token vanished inside its transaction")
    return token


@sensitive_variables("spent")
def _holds_spent_token(instance: Row, claim: _Claim, spent: str) -> bool:
    """Whether the locked row still holds, for the same install, the refresh token we spent (an
    envelope this process cannot open is still ours: Slack honours a refresh token once)."""
    if instance.installed_at != claim.installed_at:
        return False
    envelope = _envelope_of(instance, claim.refresh_field)
    if envelope is None or envelope == claim.envelope:
        return envelope is not None
    try:
        return bool(getattr(instance, claim.refresh_field) == spent)
    except EncryptedDataError:
        return True


def _claimed_by_another(instance: Row, claim: _Claim) -> bool:
    """Another runner took the token over after our lease ran out, and its lease still runs."""
    held = getattr(instance, claim.column)
    return held is not None and held != claim.until and held > timezone.now()


def _release(instance: Row, claim: _Claim) -> list[str]:
    """Clear our claim on the locked row (never another runner's); the fields to save."""
    if getattr(instance, claim.column) != claim.until:
        return []
    setattr(instance, claim.column, None)
    return [claim.column]


def _log_unreadable(exc: EncryptedDataError, workspace_id: Any, who: str) -> str:
    logger.error(
        "cannot refresh the %s token of workspace %s: %s; this process's keys: %s. A key "
        "configuration problem (check TOKEN_ENCRYPTION_KEYS): nothing was changed, the token "
        "stays due",
        who,
        workspace_id,
        exc,
        ", ".join(exc.configured) or "none",
    )
    return exc.needed_kid


def _error_code(exc: SlackTokenRotationError) -> str:
    response = exc.api_error.response
    if response.status_code == 429:
        return "ratelimited"
    data = response.data if isinstance(response.data, dict) else {}
    return str(data.get("error") or f"http_{response.status_code}")


@sensitive_variables("rotate")
def _ask_slack(rotate: Callable[[], Any], workspace_id: Any, who: str) -> tuple[Any, str]:
    """(rotated carrier, '') or (None, error code). Runs outside any transaction."""
    try:
        rotated = rotate()
    except SlackTokenRotationError as exc:
        return None, _error_code(exc)
    except SlackInstallError as exc:  # timeout, dropped connection, odd answer: not the token
        logger.warning("%s refresh for %s: %s", who, workspace_id, exc.reason)
        return None, exc.reason
    except (URLError, OSError) as exc:  # may have reached Slack: never retried here
        logger.warning("%s refresh for %s unreachable: %s", who, workspace_id, type(exc).__name__)
        return None, "slack_unavailable"
    except (KeyError, TypeError, ValueError) as exc:  # slack_sdk read a field of the wrong shape
        logger.warning("%s refresh for %s: odd answer (%s)", who, workspace_id, type(exc).__name__)
        return None, "unexpected_response"
    if rotated is None:  # we checked it was due: None means an answer of another token_type
        logger.warning("%s refresh for %s: answer for another token type", who, workspace_id)
        return None, "unexpected_response"
    return rotated, ""


def _claim_row(
    due: QuerySet[ClaimedRow],
    *,
    column: str,
    refresh_field: str,
    now: datetime,
    until: datetime,
    opened: Callable[[ClaimedRow], Opened],
    read: ClaimedRow | None = None,
) -> tuple[ClaimedRow, Opened, str] | TokenRefresh:
    """Read the one row of ``due`` (or take ``read``, the row a run's page read) and open its
    tokens (``opened`` may raise EncryptedDataError: nothing is claimed yet), then claim it with
    one conditional UPDATE that lands only while it is due, unclaimed and holds the refresh
    token read (of two racing runners, one wins; a row read earlier that moved on since loses).
    (row, what ``opened`` made, the refresh token's envelope), SKIPPED or NOT_DUE."""
    row = due.first() if read is None else read
    if row is None:
        return TokenRefresh.NOT_DUE
    held = getattr(row, column)
    if held is not None and held >= now:
        return TokenRefresh.SKIPPED
    value = opened(row)
    envelope = _stored_envelope(row, refresh_field)
    # The stored envelope compared as stored text (encrypted fields refuse other lookups).
    still = due.filter(Exact(F(refresh_field), Value(envelope)), _unclaimed(column, now))
    if not still.update(**{column: until}):
        return TokenRefresh.SKIPPED  # another runner, or a new token, came first
    setattr(row, column, until)
    return row, value, envelope


@dataclass(frozen=True)
class _Spend:
    """A claimed refresh token and the Slack call that spends it (outside any transaction)."""

    claim: _Claim
    who: str
    spent: str
    rotate: Callable[[], Any]


@sensitive_variables("bot")
def _claim_bot(
    workspace_id: Any,
    rotator: TokenRotator,
    minutes: int,
    *,
    retry_failed: bool,
    read: Workspace | None = None,
) -> _Spend | TokenRefresh:
    """The bot token claimed (a _Spend), NOT_DUE or SKIPPED; EncryptedDataError (nothing
    claimed) if unreadable. ``read``: the workspace as a run's page read it, due then."""
    now = timezone.now()
    until = now + CLAIM_LEASE
    horizon = now + timedelta(minutes=minutes)
    due = Workspace.objects.filter(BOT_ROTATING, pk=workspace_id, bot_token_expires_at__lte=horizon)
    if not retry_failed:
        due = due.filter(refresh_failed_at__isnull=True)
    claimed = _claim_row(
        due.only(*BOT_FIELDS, "bot_refresh_claimed_until"),
        column="bot_refresh_claimed_until", refresh_field="bot_refresh_token",
        now=now, until=until, opened=to_sdk_bot, read=read,
    )  # fmt: skip
    if isinstance(claimed, TokenRefresh):
        return claimed
    workspace, bot, envelope = claimed
    if bot is None:  # unreachable: the claim's filter
        raise AssertionError("a claimed bot token vanished")
    claim = _Claim(Workspace, workspace_id, workspace_id, until, envelope, workspace.installed_at)
    return _Spend(
        claim,
        "bot",
        _spent(bot.bot_refresh_token),
        lambda: rotator.perform_bot_token_rotation(bot=bot, minutes_before_expiration=minutes),
    )


@sensitive_variables("installation")
def _claim_user(row_id: Any, rotator: TokenRotator, minutes: int) -> _Spend | TokenRefresh:
    """The user-token twin of _claim_bot."""
    now = timezone.now()
    until = now + CLAIM_LEASE
    horizon = now + timedelta(minutes=minutes)
    due = Installation.objects.filter(USER_DUE, pk=row_id, user_token_expires_at__lte=horizon)
    claimed = _claim_row(
        due.only(*USER_FIELDS, "workspace", "user_refresh_claimed_until"),
        column="user_refresh_claimed_until", refresh_field="user_refresh_token",
        now=now, until=until, opened=to_sdk_user_installation,
    )  # fmt: skip
    if isinstance(claimed, TokenRefresh):
        return claimed
    row, installation, envelope = claimed
    claim = _Claim(Installation, row_id, row.workspace_id, until, envelope, row.installed_at)
    return _Spend(
        claim,
        f"user {installation.user_id}",
        _spent(installation.user_refresh_token),
        lambda: rotator.perform_user_token_rotation(
            installation=installation, minutes_before_expiration=minutes
        ),
    )


def _ask(spend: _Spend) -> tuple[Any, str]:
    return _ask_slack(spend.rotate, spend.claim.workspace_id, spend.who)


@sensitive_variables("answer")
def _finish(
    spend: _Spend,
    answer: tuple[Any, str] | None,
    actor: str,
    patience: float = SAVE_PATIENCE_SECONDS,
) -> TokenResult:
    """Write what Slack answered: the new pair, or the failure, waiting out a database out of
    reach for ``patience`` seconds. None: never sent (the run was stopped): the claim is
    released, the token stays due for the next run."""
    if answer is None:
        return _unsent(spend.claim)
    rotated, code = answer
    if code:
        return _failed(spend.claim, spend.spent, code, actor, who=spend.who, patience=patience)
    return _store(spend.claim, spend.spent, rotated, actor, who=spend.who, patience=patience)


def _unsent(claim: _Claim) -> TokenResult:
    """Release the claim of a token never sent to Slack (only ours: the lease still runs)."""
    claimed = claim.model.objects.filter(pk=claim.pk, **{claim.column: claim.until})
    _patiently(lambda: claimed.update(**{claim.column: None}), "releasing a claim", claim.pk)
    return TokenRefresh.STOPPED


def _spend_here(claimed: _Spend | TokenRefresh, actor: str) -> TokenResult:
    """Spend a claimed token in this (request) thread: Slack, then the write."""
    if isinstance(claimed, TokenRefresh):
        return claimed
    return _finish(claimed, _ask(claimed), actor, REQUEST_SAVE_PATIENCE_SECONDS)


def _apply(instance: Row, rotated: Any) -> list[str]:
    """Put the new pair on the locked row; the fields to save."""
    if isinstance(instance, Workspace):
        instance.bot_token = rotated.bot_token
        instance.bot_refresh_token = rotated.bot_refresh_token
        instance.bot_token_expires_at = as_datetime(rotated.bot_token_expires_at)
        instance.refresh_failed_at = None  # a refresh that worked disproves an earlier failure
        instance.last_error = ""
        return [
            "bot_token", "bot_refresh_token", "bot_token_expires_at", "refresh_failed_at",
            "last_error", "updated_at", *_forget_refusals(instance),
        ]  # fmt: skip
    instance.user_token = rotated.user_token
    instance.user_refresh_token = rotated.user_refresh_token
    instance.user_token_expires_at = as_datetime(rotated.user_token_expires_at)
    return ["user_token", "user_refresh_token", "user_token_expires_at"]


def _forget_refusals(workspace: Workspace) -> list[str]:
    """A verification's refusals were of the old bot token (the refresh revoked it): with a new
    one stored, its health is not known yet, and no refusal counts against it. A verdict that
    the token works stands (Slack just issued a working one). The fields changed."""
    if workspace.health in (Health.OK, Health.UNKNOWN) and not workspace.verify_failures:
        return []
    if workspace.health != Health.OK:
        workspace.health = Health.UNKNOWN
    workspace.verify_failures = 0
    return ["health", "verify_failures"]


def _workspace_of(instance: Row) -> Workspace:
    return instance if isinstance(instance, Workspace) else instance.workspace


def _still_live(instance: Row) -> bool:
    if isinstance(instance, Workspace):
        return instance.uninstalled_at is None and instance.bot_revoked_at is None
    return (
        instance.is_current
        and instance.deleted_at is None
        and instance.user_token_revoked_at is None
    )


# What a store or a failure reads of the locked row (and refresh_failed_at and health, which they
# may set). The access token too: a new pair is never revoked while the row holds one of its
# tokens.
LOCKED_FIELDS = {
    Workspace: (
        "bot_token",
        "uninstalled_at",
        "bot_revoked_at",
        "refresh_failed_at",
        "health",
        "verify_failures",
    ),
    Installation: ("user_token", "workspace", "is_current", "deleted_at", "user_token_revoked_at"),
}


def _locked(claim: _Claim) -> Row | None:
    """The claimed row, locked, with the fields a store or a failure reads."""
    fields = ("installed_at", claim.refresh_field, claim.column, *LOCKED_FIELDS[claim.model])
    return claim.model.objects.select_for_update().only(*fields).filter(pk=claim.pk).first()


@sensitive_variables("rotated")
def _issued(claim: _Claim, rotated: Any) -> tuple[str, ...]:
    """The new pair Slack issued, refresh token first (auth.revoke ends one token only)."""
    if claim.model is Workspace:
        pair = (rotated.bot_refresh_token, rotated.bot_token)
    else:
        pair = (rotated.user_refresh_token, rotated.user_token)
    return tuple(token for token in pair if isinstance(token, str) and token)


@sensitive_variables("issued", "held")
def _not_held(locked: Row | None, claim: _Claim, issued: tuple[str, ...]) -> tuple[str, ...] | None:
    """The tokens of ``issued`` the locked row does not hold, safe to revoke: whatever the row
    holds stays live (a runner whose lease ran out may have stored this very pair). None when
    the row holds a token this process cannot decrypt: it might be one of them, so none is
    revoked (an unstored live pair is better than a stored dead one)."""
    if locked is None or not issued:
        return issued
    access = "bot_token" if claim.model is Workspace else "user_token"
    try:
        held = {getattr(locked, claim.refresh_field), getattr(locked, access)}
    except EncryptedDataError as exc:
        logger.error(
            "cannot tell whether workspace %s holds a discarded new token: %s; this process's "
            "keys: %s. The new tokens were not revoked",
            claim.workspace_id, exc, ", ".join(exc.configured) or "none",
        )  # fmt: skip
        return None
    return tuple(token for token in issued if token not in held)


@sensitive_variables("tokens", "token")
def _revoke_discarded(tokens: tuple[str, ...], claim: _Claim, *, who: str) -> str:
    """auth.revoke each token of a new pair that was not stored, refresh token first, outside
    any transaction; with rotation that ends only these tokens, never a newer install's. Every
    token is tried; the first problem Slack's answers showed ("" when all ended)."""
    results = [revoke_at_slack(token, claim.workspace_id) for token in tokens]
    problem = next((result for result in results if result not in ENDED), "")
    if problem:
        logger.error(
            "%s refresh of workspace %s: the new tokens were not stored and Slack did not confirm "
            "their revocation (%s): they may stay live until the app is removed",
            who, claim.workspace_id, problem,
        )  # fmt: skip
    elif tokens:
        logger.warning(
            "%s refresh of workspace %s: the new tokens were not stored; %d revoked at Slack",
            who, claim.workspace_id, len(tokens),
        )  # fmt: skip
    return problem


@sensitive_variables("spent", "rotated", "issued")
def _write(
    claim: _Claim, spent: str, rotated: Any, actor: str, *, who: str
) -> tuple[TokenRefresh, tuple[str, ...] | None]:
    """In one transaction, store the new pair while the row is live and still holds the spent
    token: (REFRESHED, ()); else leave the row's newer state: (CHANGED_MEANWHILE, the tokens of
    the new pair to revoke once the transaction is over, or None: see ``_not_held``)."""
    with transaction.atomic():
        locked = _locked(claim)
        if (
            locked is None
            or not _still_live(locked)
            or not _holds_spent_token(locked, claim, spent)
        ):
            issued = _issued(claim, rotated)
            return _discard(claim, locked, who=who), _not_held(locked, claim, issued)
        locked.save(update_fields=_apply(locked, rotated) + _release(locked, claim))
        _record_refreshed(locked, actor, who)
    return TokenRefresh.REFRESHED, ()


Written = TypeVar("Written")


def _unreachable(exc: Error) -> bool:
    """Whether a failed write says the database is out of reach (a connection lost, refused or
    closed under us), not that it refused this write: the former passes in seconds."""
    return isinstance(exc, (OperationalError, InterfaceError))


def _retry_pause(exc: Error, attempt: int, started: float, patience: float) -> float | None:
    """Seconds to wait before trying a failed write again, or None to give up.

    A database out of reach is tried again for ``patience`` seconds, backing off, each try on
    a new connection (the old one may be dead: even the first query after an outage fails on
    it): a restart or a failover takes seconds, and the new pair Slack issued is the only live
    one. The bound stays well inside CLAIM_LEASE, so while we wait no other runner spends the
    token, and a run whose database stays away ends instead of waiting on every pair. Inside a
    caller's transaction a lost connection cannot be replaced, and a write the database refused
    (a constraint, a trigger) is tried SAVE_ATTEMPTS times, briefly."""
    if _unreachable(exc) and not connection.in_atomic_block:
        waited = time.monotonic() - started
        if waited >= patience:
            return None
        connection.close()
        backoff: float = 0.1 * 2 ** (attempt - 1)
        return min(backoff, SAVE_MAX_PAUSE_SECONDS, patience - waited)
    return 0.05 * attempt if attempt < SAVE_ATTEMPTS else None


def _patiently(
    write: Callable[[], Written],
    what: str,
    workspace_id: Any,
    patience: float = SAVE_PATIENCE_SECONDS,
) -> Written:
    """``write()``, tried again after a failure as ``_retry_pause`` says; its last error."""
    started = time.monotonic()
    attempt = 1
    while True:
        try:
            return write()
        except Error as exc:
            pause = _retry_pause(exc, attempt, started, patience)
            logger.warning(
                "%s of workspace %s failed (try %d): %s",
                what, workspace_id, attempt, type(exc).__name__,
            )  # fmt: skip
            if pause is None:
                raise
        time.sleep(pause)
        attempt += 1


@sensitive_variables("spent", "rotated", "unstored")
def _store(
    claim: _Claim,
    spent: str,
    rotated: Any,
    actor: str,
    *,
    who: str,
    patience: float = SAVE_PATIENCE_SECONDS,
) -> TokenResult:
    """Write the new pair, the only live one, whenever the row still holds the spent token, even
    if our lease ran out; a failed write is tried again (``_patiently``). A pair the row no
    longer takes is revoked after the transaction (no Slack call under a row lock). REFRESHED,
    RefreshDiscarded or save_failed."""
    try:
        result, unstored = _patiently(
            lambda: _write(claim, spent, rotated, actor, who=who),
            f"saving the refreshed {who} token",
            claim.workspace_id,
            patience,
        )
    except Error:
        logger.error(
            "refreshed %s token of workspace %s could not be saved; the old refresh token is "
            "spent: reinstall needed",
            who,
            claim.workspace_id,
        )
        failed = _failed(claim, spent, "save_failed", actor, who=who)
        if isinstance(failed, RefreshFailed):  # the row still holds the spent pair, not ours
            _revoke_discarded(_issued(claim, rotated), claim, who=who)
        return failed
    if result is TokenRefresh.REFRESHED:
        return result
    if unstored is None:
        return RefreshDiscarded(UNDECRYPTABLE)
    if not unstored:  # the row holds the very pair Slack gave us: stored, by another runner
        return TokenRefresh.CHANGED_MEANWHILE
    return RefreshDiscarded(_revoke_discarded(unstored, claim, who=who))


def _record_refreshed(row: Row, actor: str, who: str) -> None:
    record_event(_workspace_of(row), LifecycleEvent.Kind.REFRESHED, actor, f"{who} token refreshed")


def _discard(claim: _Claim, locked: Row | None, *, who: str) -> TokenRefresh:
    """The row changed while Slack answered: keep its newer state, release our claim if it
    still stands. A new pair Slack issued meanwhile is the caller's to revoke (``_not_held``)."""
    if locked is not None and _release(locked, claim):
        type(locked).objects.filter(pk=claim.pk).update(**{claim.column: None})
    logger.info(
        "%s refresh of workspace %s: the row changed while Slack answered; left as it is",
        who,
        claim.workspace_id,
    )
    return TokenRefresh.CHANGED_MEANWHILE


def _failure_detail(who: str, code: str) -> str:
    """The REFRESH_FAILED event's words: the code, and for a reinstall, why in plain words."""
    if code not in REINSTALL_CODES:
        return f"{who}: {code}"
    words = REINSTALL_WORDS.get(code)
    return f"{who}: {code}{f' ({words})' if words else ''}; reinstall needed"


@sensitive_variables("spent")
def _failed(
    claim: _Claim,
    spent: str,
    code: str,
    actor: str,
    *,
    who: str,
    patience: float = SAVE_PATIENCE_SECONDS,
) -> TokenResult:
    """Record a failed refresh and release the claim; CHANGED_MEANWHILE when the row moved on.
    A refused refresh token marks a reinstall only while the row still holds that token. A
    database out of reach is waited for as by a store (``_patiently``), except after a store
    that already waited for it: then a failed write ends the run."""

    def record() -> TokenResult:
        return _write_failure(claim, spent, code, actor, who=who)

    if code == "save_failed":
        return record()
    return _patiently(record, f"recording a failed {who} refresh", claim.workspace_id, patience)


@sensitive_variables("spent")
def _write_failure(claim: _Claim, spent: str, code: str, actor: str, *, who: str) -> TokenResult:
    """``_failed``'s one transaction."""
    now = timezone.now()
    dead = code in REINSTALL_CODES
    with transaction.atomic():
        locked = _locked(claim)
        if (
            locked is None
            or _claimed_by_another(locked, claim)
            or not _holds_spent_token(locked, claim, spent)
        ):
            return _discard(claim, locked, who=who)
        fields = _release(locked, claim)
        if dead and isinstance(locked, Workspace):
            locked.refresh_failed_at = now
            fields.append("refresh_failed_at")
        elif dead and isinstance(locked, Installation):
            locked.user_token = locked.user_refresh_token = None
            locked.user_token_revoked_at = now
            fields += ["user_token", "user_refresh_token", "user_token_revoked_at"]
        if fields:
            locked.save(update_fields=fields)
        Workspace.objects.filter(pk=claim.workspace_id).update(
            last_error=code, last_error_at=now, updated_at=now
        )
        record_event(
            _workspace_of(locked), LifecycleEvent.Kind.REFRESH_FAILED, actor,
            _failure_detail(who, code),
        )  # fmt: skip
    logger.warning("token refresh for workspace %s (%s) failed: %s", claim.workspace_id, who, code)
    return RefreshFailed(code)


@dataclass(frozen=True)
class _Claims:
    """A workspace's due tokens, each claimed (a _Spend) or why not."""

    workspace: Workspace
    tokens: list[_Spend | TokenResult]  # the bot's first
    unreadable: list[str]  # the key id each token this process cannot decrypt needs


def _claim_workspace(
    workspace: Workspace,
    rotator: TokenRotator,
    minutes: int,
    *,
    retry_failed: bool,
    from_page: bool = False,
) -> _Claims:
    """Claim the bot token and each current user token due within ``minutes``. ``from_page``:
    ``workspace`` is a row of ``_due``'s page, whose annotations say which tokens were due
    when it was read; the bot is then claimed on that row, without reading it again."""
    read = workspace if from_page else None
    unreadable: list[str] = []
    bot: _Spend | TokenResult = TokenRefresh.NOT_DUE
    if getattr(read, "bot_due", True):
        try:
            bot = _claim_bot(workspace.pk, rotator, minutes, retry_failed=retry_failed, read=read)
        except EncryptedDataError as exc:
            bot = TokenRefresh.UNREADABLE
            unreadable.append(_log_unreadable(exc, workspace.pk, "bot"))
    users: list[_Spend | TokenResult] = []
    if getattr(read, "users_due", True):  # a bot-only page row builds no user query at all
        rows = Installation.objects.filter(USER_DUE, workspace_id=workspace.pk)
        for row_id in list(rows.values_list("pk", flat=True)):
            try:
                users.append(_claim_user(row_id, rotator, minutes))
            except EncryptedDataError as exc:
                unreadable.append(_log_unreadable(exc, workspace.pk, "user"))
    return _Claims(workspace, [bot, *users], unreadable)


Asked = tuple[_Spend, tuple[Any, str] | None]  # a claimed token and Slack's answer, if sent
NEVER_STOPS = threading.Event()  # a run nobody stops


def _asked(claims: _Claims, stop: threading.Event = NEVER_STOPS) -> list[TokenResult | Asked]:
    """Slack's answer for each claimed token, beside it (None: not sent, the run was stopped
    first); no database."""
    return [
        (t, None if stop.is_set() else _ask(t)) if isinstance(t, _Spend) else t
        for t in claims.tokens
    ]


def _finished(
    claims: _Claims,
    asked: list[TokenResult | Asked],
    actor: str,
    patience: float = SAVE_PATIENCE_SECONDS,
) -> RefreshOutcome:
    """Write each answer (``_finish``); the workspace's outcome."""
    bot, *users = [
        _finish(*item, actor, patience) if isinstance(item, tuple) else item for item in asked
    ]
    errors = [r.code for r in [bot, *users] if isinstance(r, RefreshFailed)]
    discarded = [r for r in [bot, *users] if isinstance(r, RefreshDiscarded)]
    problems = [r.problem for r in discarded if r.problem]
    if problems:  # a live token nobody stores: as much a failure of the run as a refused one
        errors.append(DISCARD_NOT_REVOKED)
    return RefreshOutcome(
        workspace_id=str(claims.workspace.pk),
        label=str(claims.workspace),
        bot_refreshed=bot is TokenRefresh.REFRESHED,
        users_refreshed=users.count(TokenRefresh.REFRESHED),
        error=errors[0] if errors else (UNDECRYPTABLE if claims.unreadable else ""),
        skipped=bot is TokenRefresh.SKIPPED,
        unreadable=tuple(claims.unreadable),
        discarded=len(discarded),
        discard_problem=problems[0] if problems else "",
        left=[bot, *users].count(TokenRefresh.STOPPED),
    )


def refresh_workspace(
    workspace: Workspace,
    *,
    actor: str,
    within_minutes: int | None = None,
    retry_failed: bool = True,
) -> RefreshOutcome:
    """Refresh the bot token and each current user token due within ``within_minutes`` (None:
    all now), for a staff action or a verification: a database out of reach is waited for
    REQUEST_SAVE_PATIENCE_SECONDS. ``retry_failed=False`` leaves a bot token Slack already
    refused alone."""
    minutes = FORCE_MINUTES if within_minutes is None else within_minutes
    rotator = slack_api.token_rotator()
    claims = _claim_workspace(workspace, rotator, minutes, retry_failed=retry_failed)
    return _finished(claims, _asked(claims), actor, REQUEST_SAVE_PATIENCE_SECONDS)


@dataclass(frozen=True)
class RequestRefresh:
    """Per token, what ``refresh_for_request`` did; None when not asked for or not stored."""

    bot: TokenResult | None = None
    user: TokenResult | None = None


def refresh_for_request(
    *,
    client_id: str,
    enterprise_id: str,
    team_id: str,
    user_id: str | None,
    bot: bool,
    minutes: int,
    actor: str,
) -> RequestRefresh:
    """Refresh the bot token (``bot``) and ``user_id``'s user token a request is about to use,
    when due within ``minutes``, by the scheduled run's claims. EncryptedDataError when a token
    is unreadable: the request should fail, not pass for "not installed"."""
    workspace_id = (
        Workspace.objects.filter(client_id=client_id, enterprise_id=enterprise_id, team_id=team_id)
        .values_list("pk", flat=True)
        .first()
    )
    if workspace_id is None:
        return RequestRefresh()
    rotator = slack_api.token_rotator()
    bot_result = None
    if bot:
        claimed = _claim_bot(workspace_id, rotator, minutes, retry_failed=False)
        bot_result = _spend_here(claimed, actor)
    user_result: TokenResult | None = None
    if user_id:
        rows = Installation.objects.filter(USER_DUE, workspace_id=workspace_id, user_id=user_id)
        row_id = rows.order_by("-installed_at").values_list("pk", flat=True).first()
        if row_id is not None:
            user_result = _spend_here(_claim_user(row_id, rotator, minutes), actor)
    return RequestRefresh(bot=bot_result, user=user_result)


BATCH_SIZE = 500  # rows per keyset page of a run
DEFAULT_CONCURRENCY = 24  # refreshes mostly wait on Slack; the threads only wait on it


def _users_due(within_minutes: int) -> QuerySet[Installation]:
    now = timezone.now()
    horizon = now + timedelta(minutes=within_minutes)
    return Installation.objects.filter(USER_DUE, user_token_expires_at__lte=horizon).filter(
        _unclaimed("user_refresh_claimed_until", now)
    )


def _due(within_minutes: int) -> QuerySet[Workspace]:
    """Active workspaces with an unclaimed rotating token expiring within the window."""
    now = timezone.now()
    horizon = now + timedelta(minutes=within_minutes)
    users = _users_due(within_minutes)
    bot_due = (
        BOT_ROTATING
        & Q(bot_token_expires_at__lte=horizon, refresh_failed_at__isnull=True)
        & _unclaimed("bot_refresh_claimed_until", now)
    )  # refresh_failed_at: needs a reinstall, trying again cannot help
    return (
        Workspace.objects.filter(uninstalled_at__isnull=True)
        .filter(bot_due | Q(pk__in=users.values("workspace_id")))
        .annotate(
            bot_due=ExpressionWrapper(bot_due, output_field=BooleanField()),
            users_due=Exists(users.filter(workspace_id=OuterRef("pk"))),
        )
    )


def iter_due_workspaces(
    within_minutes: int, shard: Shard = EVERYTHING, *, batch_size: int = BATCH_SIZE
) -> Iterator[Workspace]:
    """The due workspaces of ``shard`` by primary key, a keyset page (asked afresh) at a time."""
    return rows_by_key(lambda: _due(within_minutes), shard, batch_size=batch_size)


def due_workspaces(within_minutes: int) -> list[Workspace]:
    return list(iter_due_workspaces(within_minutes))


def count_due(within_minutes: int, shard: Shard = EVERYTHING) -> int:
    """How many workspaces of ``shard`` have a token due within the window and unclaimed."""
    keys = _due(within_minutes).values_list("pk", flat=True).iterator(chunk_size=BATCH_SIZE)
    return sum(1 for pk in keys if shard.holds(pk))


def iter_refresh_due(
    *,
    within_minutes: int | None = None,
    actor: str,
    shard: Shard = EVERYTHING,
    concurrency: int = DEFAULT_CONCURRENCY,
    stop: threading.Event = NEVER_STOPS,
) -> Iterator[RefreshOutcome]:
    """Refresh every workspace of ``shard`` due within the window, ``concurrency`` at a time;
    outcomes as they come. Each refresh token is claimed before it is spent, so threads,
    runners and overlapping shards never spend one twice. Slack's 429s are waited out (a 429
    means Slack did not act: nothing is spent twice), RATE_LIMIT_RETRIES times.

    Once ``stop`` is set, nothing more is claimed or sent to Slack (a claimed token not yet sent
    is released), and every refresh already sent is finished: its new pair stored. A database
    error while claiming stops the run the same way, then is raised."""
    minutes = slack_config().token_rotation_minutes if within_minutes is None else within_minutes
    rotator = slack_api.token_rotator(rate_limit_retries=RATE_LIMIT_RETRIES)
    lost: list[Error] = []

    def claimed() -> Iterator[_Claims]:  # pulled in this thread, as the workers free up
        try:
            for workspace in iter_due_workspaces(minutes, shard):
                if stop.is_set():
                    return
                yield _claim_workspace(
                    workspace, rotator, minutes, retry_failed=False, from_page=True
                )
        except Error as exc:  # a claim spends nothing: finish what is in flight, then raise
            lost.append(exc)

    def ask(claims: _Claims) -> tuple[_Claims, list[TokenResult | Asked]]:
        return claims, _asked(claims, stop)

    # The threads only wait on Slack; this thread claims and writes, one connection for the run.
    for batch in in_thread_batches(claimed(), ask, threads=concurrency, name="slack-refresh"):
        for claims, asked in batch:
            yield _finished(claims, asked, actor)
    if lost:
        raise lost[0]


def refresh_due(
    *,
    within_minutes: int | None = None,
    actor: str,
    shard: Shard = EVERYTHING,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> list[RefreshOutcome]:
    """``iter_refresh_due`` as a list in label order."""
    outcomes = iter_refresh_due(
        within_minutes=within_minutes, actor=actor, shard=shard, concurrency=concurrency
    )
    return sorted(outcomes, key=lambda o: o.label)
