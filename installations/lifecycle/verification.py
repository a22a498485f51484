"""Token health: auth.test with each workspace's bot token, and what its answer means.

docs/slack-protocol.md §5: ``token_revoked`` and ``account_inactive`` mean dead; ``invalid_auth``
(maybe an IP allow-list) means suspect, dead on the second in a row; a policy or migration code
means the token is alive; a rate limit, Slack's own fault or any other code says nothing about
the token (``what_code_says`` sorts them, the one place that does). A working token that Slack
says is another workspace's or app's is dead for this one. auth.test runs outside any
transaction; the verdict is written by one conditional UPDATE that lands only while the row
still holds what it was computed from. A token this process cannot decrypt is logged at ERROR
and nothing is recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any
from urllib.error import URLError

from django.db import transaction
from django.db.models import F, QuerySet, Value
from django.db.models.lookups import Exact
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from slack_sdk import WebClient
from slack_sdk.web import SlackResponse

from installations import signals
from installations.encryption.fields import EncryptedDataError, has_stored_value, key_problem
from installations.exceptions import SlackInstallError
from installations.lifecycle import rotation
from installations.lifecycle.job_threads import in_thread_batches
from installations.lifecycle.saving import record_event
from installations.lifecycle.sharding import EVERYTHING, Shard, rows_by_key
from installations.models import Health, LifecycleEvent, Workspace
from installations.slack import api as slack_api
from installations.slack.answers import TokenOwner, auth_test_answer, foreign_fields, owner_unsaid

logger = logging.getLogger(__name__)

DEAD_CODES = frozenset({"token_revoked", "account_inactive"})
SUSPECT_CODES = frozenset({"invalid_auth"})
EXPIRED_CODES = frozenset({"token_expired"})
# The token authenticated; a policy, a missing grant or an org migration stops the call.
ALIVE_CODES = frozenset(
    {
        "no_permission",
        "ekm_access_denied",
        "org_login_required",
        "team_added_to_org",
        "missing_scope",
        "team_access_not_granted",
    }
)
# Ours, not Slack's: auth.test worked, for another workspace, org or app than the row's.
FOREIGN_TOKEN = "foreign_token"  # noqa: S105 (a verdict's code, not a secret)
RATE_LIMIT_RETRIES = 3


class TokenSays(Enum):
    """What one auth.test outcome says about the token it was called with."""

    WORKS = "works"
    DEAD = "dead"  # revoked, its workspace or installer gone, or not this workspace's token
    REFUSED = "refused"  # invalid_auth: dead, or an IP allow-list: dead the second time in a row
    EXPIRED = "expired"  # a rotating token past its time that could not be refreshed
    ALIVE = "alive"  # the token authenticated; something else stops it
    NOTHING = "nothing"  # a rate limit, Slack's fault, no usable answer, a code we do not know


def what_code_says(code: str) -> TokenSays:
    """The one classification of auth.test outcomes: only the codes that speak of the token
    count against it; every other code, known or not, says nothing about it."""
    if code == "ok":
        return TokenSays.WORKS
    if code in DEAD_CODES or code == FOREIGN_TOKEN:
        return TokenSays.DEAD
    if code in SUSPECT_CODES:
        return TokenSays.REFUSED
    if code in EXPIRED_CODES:
        return TokenSays.EXPIRED
    if code in ALIVE_CODES:
        return TokenSays.ALIVE
    return TokenSays.NOTHING


MESSAGES = {
    "ok": "The bot token works.",
    "token_revoked": "Slack says the token was revoked: the app needs a reinstall.",
    "account_inactive": "Slack says the workspace or its installer is gone: reinstall needed.",
    "invalid_auth": "Slack refused the token (it may be an IP allow-list); checked again next run.",
    "token_expired": "The rotating token had expired and could not be refreshed.",
    "no_token": "No bot token is stored: the app was uninstalled or its token revoked.",
    "undecryptable": "Not verified: the stored token cannot be decrypted with this server's keys. "
    "A key configuration problem (check TOKEN_ENCRYPTION_KEYS), not a problem with the "
    "workspace; nothing was changed.",
    FOREIGN_TOKEN: "Slack says the stored token is another workspace's or another app's, not "
    "this one's: it cannot act here; reinstall needed.",
    "ratelimited": "Slack rate-limited the check; health unknown until the next run.",
    "slack_unavailable": "Slack could not be reached; health unknown until the next run.",
    "slack_http_error": "Slack answered with a server error; health unknown until the next run.",
    "unexpected_response": "Slack sent an answer we could not use; health unknown until the "
    "next run.",
    "changed_meanwhile": "The token changed while it was checked (a reinstall or refresh): "
    "nothing recorded; check again.",
}


@dataclass(frozen=True)
class VerifyOutcome:
    """What one auth.test said, in plain words; never holds a token."""

    workspace_id: str
    label: str
    health: str
    error: str = ""
    scopes: tuple[str, ...] | None = None
    message: str = ""
    reachable: bool = True
    unreadable: tuple[str, ...] = ()  # the key id a token this process cannot decrypt needs

    @property
    def outcome(self) -> str:
        return self.error or self.health


def _message(code: str) -> str:
    known = MESSAGES.get(code)
    if known:
        return known
    says = what_code_says(code)
    if says is TokenSays.ALIVE:
        return f"Slack answered {code}: the token is alive; a policy, grant or migration stops it."
    if says is TokenSays.NOTHING:
        return f"Slack answered {code}, which says nothing about the token; health unknown."
    return f"Slack answered {code}."


@dataclass(frozen=True)
class _Answer:
    code: str  # "ok", Slack's error code, FOREIGN_TOKEN, or the reason a call failed
    response: SlackResponse | None = None
    unreadable: tuple[str, ...] = ()  # the key ids needed when this process cannot decrypt


@sensitive_variables("token")
def _auth_test(workspace: Workspace, client: WebClient | None) -> _Answer:
    """What auth.test said about the stored bot token. Reads the token only here."""
    try:
        token = workspace.bot_token
    except EncryptedDataError as exc:
        logger.error(
            "cannot verify workspace %s: %s; this process's keys: %s. A key configuration "
            "problem (check TOKEN_ENCRYPTION_KEYS): nothing was recorded",
            workspace.pk, exc, ", ".join(exc.configured) or "none",
        )  # fmt: skip
        return _Answer("undecryptable", unreadable=(exc.needed_kid,))
    if token is None:
        return _Answer("no_token")
    try:
        response = slack_api.auth_test(token, client=client)
    except SlackInstallError as exc:  # a refusal, unreachable, an answer we cannot use
        return _Answer(exc.reason)
    except (URLError, OSError) as exc:
        logger.warning("auth.test for %s unreachable: %s", workspace.pk, type(exc).__name__)
        return _Answer("slack_unavailable")
    return _Answer(_whose(workspace, response), response)


def _whose(workspace: Workspace, response: SlackResponse) -> str:
    """What a working auth.test says of whose the token is: "ok" for the row's app and
    workspace or org, FOREIGN_TOKEN for another, "unexpected_response" when it does not say."""
    try:
        tested = auth_test_answer(response.data)
    except SlackInstallError as exc:
        return exc.reason
    owner = TokenOwner.of(workspace)
    unsaid = owner_unsaid(tested, org_wide=owner.is_enterprise_install)
    if unsaid:
        logger.warning("auth.test for %s does not say %s", workspace.pk, ",".join(unsaid))
        return "unexpected_response"
    foreign = foreign_fields(tested, owner)
    if foreign:
        logger.warning("auth.test for %s names another %s", workspace.pk, ",".join(foreign))
        return FOREIGN_TOKEN
    return "ok"


def _unrecorded(
    workspace: Workspace, code: str, *, unreadable: tuple[str, ...] = ()
) -> VerifyOutcome:
    message = _message(code)
    if unreadable:
        message = f"{message} ({key_problem(unreadable)})"
    return VerifyOutcome(
        str(workspace.pk), str(workspace), workspace.health, code, message=message,
        unreadable=unreadable,
    )  # fmt: skip


def verify_workspace(
    workspace: Workspace,
    *,
    actor: str,
    client: WebClient | None = None,
    log_unchanged: bool = True,
) -> VerifyOutcome:
    """auth.test with the bot token; records health, scopes and errors on the workspace. A
    working token gets a lifecycle event only on a change, or when ``log_unchanged``."""
    answer = _ask(workspace, actor=actor, client=client)
    return _decide(workspace, answer, actor=actor, log_unchanged=log_unchanged)


def _ask(workspace: Workspace, *, actor: str, client: WebClient | None) -> _Answer:
    """What Slack says of the stored bot token: the part of a check that waits on Slack. An
    expired rotating token is refreshed first (rotation.py writes the new pair)."""
    answer = _auth_test(workspace, client)
    if answer.code == "token_expired" and has_stored_value(workspace, "bot_refresh_token"):
        refreshed = rotation.refresh_workspace(workspace, actor=actor, within_minutes=None)
        if refreshed.unreadable:  # the refresh token needs a key we lack: record nothing
            return _Answer("undecryptable", unreadable=refreshed.unreadable)
        if refreshed.bot_refreshed:
            workspace.refresh_from_db()
            answer = _auth_test(workspace, client)
    return answer


def _decide(
    workspace: Workspace, answer: _Answer, *, actor: str, log_unchanged: bool
) -> VerifyOutcome:
    """The verdict on ``answer``, recorded unless it says nothing that can be recorded."""
    if answer.unreadable:
        return _unrecorded(workspace, answer.code, unreadable=answer.unreadable)
    if answer.code == "no_token":
        return _unrecorded(workspace, answer.code)
    return _record(
        workspace, answer.code, answer.response, actor=actor, log_unchanged=log_unchanged
    )


_BOT_TOKEN = Workspace._meta.get_field("bot_token")
# A verdict is written only on the row as it was computed from; a row that moved on meanwhile
# is read again and the verdict decided again, a few times at most.
VERDICT_ATTEMPTS = 3


def _same_bot_token(stored: Workspace, tested: Workspace) -> bool:
    try:
        return stored.bot_token == tested.bot_token
    except EncryptedDataError:  # unreadable: the same stored envelope means the same token
        return _BOT_TOKEN.stored_envelope(stored) == _BOT_TOKEN.stored_envelope(tested)


def _verdict(
    row: Workspace, code: str, scopes: tuple[str, ...] | None, *, now: datetime
) -> dict[str, Any]:
    """The fields a verdict sets on ``row``, by name. Only a code that speaks of the token
    counts against it (``what_code_says``); ``verify_failures`` counts those in a row."""
    changes: dict[str, Any]
    says = what_code_says(code)
    if says is TokenSays.WORKS:
        changes = {"health": Health.OK, "verify_failures": 0, "last_error": ""}
        changes["last_verified_at"] = now
        if scopes is not None:
            changes["bot_scopes"] = ",".join(scopes)
    elif says is TokenSays.NOTHING:
        changes = {"health": Health.UNKNOWN}  # the count and the last verification stand
    elif says is TokenSays.ALIVE:  # alive, so a run of refusals is broken; not working either
        changes = {"verify_failures": 0, "last_verified_at": now, "health": Health.UNKNOWN}
    else:
        failures = row.verify_failures + 1
        if says is TokenSays.DEAD or (says is TokenSays.REFUSED and failures >= 2):
            health = Health.DEAD
        else:  # refused once, or expired and not refreshed
            health = Health.SUSPECT
        changes = {"verify_failures": failures, "last_verified_at": now, "health": health}
    if code != "ok":
        changes["last_error"], changes["last_error_at"] = code, now
    changes["updated_at"] = now  # the field's auto_now, as save() sets it
    return changes


def _event(
    code: str, before: tuple[str, str], after: tuple[str, str], *, log_unchanged: bool
) -> tuple[str, str] | None:
    """(kind, detail) of the lifecycle event a verdict records, or None. ``before`` and
    ``after`` are (health, bot scopes) of the row."""
    health, scopes = after
    if code != "ok":
        return LifecycleEvent.Kind.VERIFY_FAILED, f"{code}; health {health}"
    if log_unchanged or before != after:
        return LifecycleEvent.Kind.VERIFIED, f"health ok; bot scopes: {scopes or 'none'}"
    return None


def _outcome(workspace: Workspace, code: str, scopes: tuple[str, ...] | None) -> VerifyOutcome:
    logger.info("verified workspace %s: %s (health %s)", workspace.pk, code, workspace.health)
    return VerifyOutcome(
        workspace_id=str(workspace.pk),
        label=str(workspace),
        health=workspace.health,
        error="" if code == "ok" else code,
        scopes=scopes,
        message=_message(code),
        reachable=what_code_says(code) is not TokenSays.NOTHING,
    )


def _record(
    tested: Workspace,
    code: str,
    response: SlackResponse | None,
    *,
    actor: str,
    log_unchanged: bool,
) -> VerifyOutcome:
    """Record the verdict on the token ``tested`` holds; a row that changed meanwhile gets it
    decided again while it holds that token, else nothing (never on a replacing token)."""
    scopes = None if code != "ok" or response is None else slack_api.granted_scopes(response)
    row: Workspace | None = tested
    for _ in range(VERDICT_ATTEMPTS):
        if row is None or not _same_bot_token(row, tested):
            break
        changes = _write_verdict(row, code, scopes, actor=actor, log_unchanged=log_unchanged)
        if changes is not None:
            for name, value in changes.items():
                setattr(tested, name, value)
            return _outcome(tested, code, scopes)
        row = Workspace.objects.filter(pk=tested.pk).first()
    logger.info("verify of workspace %s: token changed meanwhile, not recorded", tested.pk)
    current = row or tested
    return VerifyOutcome(
        str(current.pk), str(current), current.health, "changed_meanwhile",
        message=_message("changed_meanwhile"),
    )  # fmt: skip


def _write_verdict(
    row: Workspace,
    code: str,
    scopes: tuple[str, ...] | None,
    *,
    actor: str,
    log_unchanged: bool,
) -> dict[str, Any] | None:
    """Write the verdict and its lifecycle event while the stored row holds the same bot token
    envelope (every seal has a fresh nonce), health, failure count and scopes as ``row``; the
    fields written, or None when the row had changed."""
    changes = _verdict(row, code, scopes, now=timezone.now())
    before = (row.health, row.bot_scopes)
    after = (changes.get("health", row.health), changes.get("bot_scopes", row.bot_scopes))
    event = _event(code, before, after, log_unchanged=log_unchanged)
    unchanged = Workspace.objects.filter(
        # The stored envelope compared as stored text, never a plaintext (the encrypted field's
        # own lookups refuse anything but isnull, so the lookup is spelt out).
        Exact(F("bot_token"), Value(_BOT_TOKEN.stored_envelope(row))),
        pk=row.pk,
        health=row.health,
        verify_failures=row.verify_failures,
        bot_scopes=row.bot_scopes,
    )
    # The verdict and its lifecycle event commit together (in the caller's transaction if any).
    with transaction.atomic(savepoint=False):
        if not unchanged.update(**changes):
            return None
        for name, value in changes.items():
            setattr(row, name, value)
        if event is not None:
            record_event(row, event[0], actor, event[1])
        if before[0] != after[0]:  # what Workspace.save() announces (installations/signals.py)
            signals.send_after_commit(
                signals.health_changed, Workspace, workspace=row, before=before[0], after=after[0]
            )
    return changes


BATCH_SIZE = 500  # rows per keyset page: one query per page, a page at most in memory
# auth.test mostly waits on Slack and is rate-limited per workspace; threads only wait on it.
DEFAULT_CONCURRENCY = 32


def _active() -> QuerySet[Workspace]:
    """Installations whose bot token should work: not uninstalled, not revoked, token stored."""
    return Workspace.objects.filter(
        uninstalled_at__isnull=True, bot_revoked_at__isnull=True, bot_token__isnull=False
    )


def active_workspaces(
    shard: Shard = EVERYTHING, *, batch_size: int = BATCH_SIZE
) -> Iterator[Workspace]:
    """The active installations of ``shard`` by primary key, a page at a time (memory flat)."""
    return rows_by_key(_active, shard, batch_size=batch_size)


def count_active(shard: Shard = EVERYTHING) -> int:
    """How many workspaces a run of ``shard`` checks (for progress), without loading rows."""
    if shard == EVERYTHING:
        return _active().count()
    keys = _active().values_list("pk", flat=True).iterator(chunk_size=BATCH_SIZE)
    return sum(1 for pk in keys if shard.holds(pk))


def _patient_client() -> WebClient:
    # A command may wait out Slack's 429 Retry-After (bounded: slack_api.patient_client).
    return slack_api.patient_client(retries=RATE_LIMIT_RETRIES)


def iter_verify_active(
    *, actor: str, concurrency: int = DEFAULT_CONCURRENCY, shard: Shard = EVERYTHING
) -> Iterator[VerifyOutcome]:
    """auth.test every active installation of ``shard``, ``concurrency`` at a time; outcomes
    as their verdicts commit."""
    client = _patient_client()  # one for the run: its calls share no state

    def ask(workspace: Workspace) -> tuple[Workspace, _Answer]:
        return workspace, _ask(workspace, actor=actor, client=client)

    # The threads wait on Slack; this thread writes the verdicts of the answers that came back
    # together in one transaction, rows in key order (two runners lock them in the same order).
    for batch in in_thread_batches(
        active_workspaces(shard), ask, threads=concurrency, name="slack-verify"
    ):
        with transaction.atomic():
            outcomes = [
                _decide(workspace, answer, actor=actor, log_unchanged=False)
                for workspace, answer in sorted(batch, key=lambda asked: asked[0].pk)
            ]
        yield from outcomes


def verify_active(
    *,
    actor: str,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Callable[[int, int], None] | None = None,
    shard: Shard = EVERYTHING,
) -> list[VerifyOutcome]:
    """``iter_verify_active`` as a list in label order (for callers that want them all)."""
    total = count_active(shard) if progress else 0
    outcomes = []
    for outcome in iter_verify_active(actor=actor, concurrency=concurrency, shard=shard):
        outcomes.append(outcome)
        if progress:
            progress(len(outcomes), total)
    return sorted(outcomes, key=lambda o: o.label)
