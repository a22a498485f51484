"""Token health: auth.test with each workspace's bot token, and what its answer means.

docs.slack.dev/reference/methods/auth.test; docs/slack-protocol.md §5. ``token_revoked`` and
``account_inactive`` mean the token is dead; ``invalid_auth`` can be an IP allow-list refusal,
so it makes a workspace suspect and dead only on the second failure in a row; a network error
or a rate limit says nothing about the token (health unknown, never dead), and neither does any
other fault of the call (a timeout, an answer of the wrong shape): it is recorded as the reason
code and the run goes on. Granted bot scopes come from the ``x-oauth-scopes`` header of the same
answer.

A stored token this process cannot decrypt is a configuration error of the process (its
TOKEN_ENCRYPTION_KEYS lacks the key), never a fact about the workspace: it is logged at ERROR
with the key ids and nothing is recorded. auth.test is called outside any transaction; the
verdict is written in a short one afterwards.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from urllib.error import URLError

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from slack_sdk import WebClient
from slack_sdk.web import SlackResponse

from installations.encryption.fields import EncryptedDataError, has_stored_value, key_problem
from installations.exceptions import SlackInstallError, SlackRefused
from installations.lifecycle import rotation
from installations.lifecycle.job_threads import in_threads
from installations.lifecycle.saving import record_event
from installations.lifecycle.sharding import EVERYTHING, Shard, rows_by_key
from installations.models import Health, LifecycleEvent, Workspace
from installations.slack import api as slack_api

logger = logging.getLogger(__name__)

DEAD_CODES = frozenset({"token_revoked", "account_inactive"})
SUSPECT_CODES = frozenset({"invalid_auth"})
RATE_LIMIT_RETRIES = 3

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
    "ratelimited": "Slack rate-limited the check; health unknown until the next run.",
    "slack_unavailable": "Slack could not be reached; health unknown until the next run.",
    "slack_http_error": "Slack answered with a server error; health unknown until the next run.",
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
    return MESSAGES.get(code) or f"Slack answered {code}."


@dataclass(frozen=True)
class _Answer:
    code: str  # "ok" or an error code
    response: SlackResponse | None = None
    about_token: bool = True  # False: a fault of the call, which says nothing about the token
    needed_kid: str = ""  # set when this process cannot decrypt the stored token


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
        return _Answer("undecryptable", needed_kid=exc.needed_kid)
    if token is None:
        return _Answer("no_token")
    try:
        return _Answer("ok", slack_api.auth_test(token, client=client))
    except SlackRefused as exc:
        return _Answer(exc.reason)
    except SlackInstallError as exc:  # unreachable, rate-limited, an answer we cannot use
        return _Answer(exc.reason, about_token=False)
    except (URLError, OSError) as exc:
        logger.warning("auth.test for %s unreachable: %s", workspace.pk, type(exc).__name__)
        return _Answer("slack_unavailable", about_token=False)


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
    """auth.test with the bot token; records health, scopes and errors on the workspace.

    A check that found the token working is logged as a lifecycle event when the health or the
    scopes changed, or when ``log_unchanged`` (someone asked for this check). Scheduled runs
    (``verify_active``) pass False, so the log holds changes, not one line per workspace per run.
    """
    answer = _auth_test(workspace, client)
    if answer.code == "token_expired" and has_stored_value(workspace, "bot_refresh_token"):
        refreshed = rotation.refresh_workspace(workspace, actor=actor, within_minutes=None)
        if refreshed.unreadable:  # the refresh token needs a key we lack: record nothing
            return _unrecorded(workspace, "undecryptable", unreadable=refreshed.unreadable)
        if refreshed.bot_refreshed:
            workspace.refresh_from_db()
            answer = _auth_test(workspace, client)
    if answer.needed_kid:
        return _unrecorded(workspace, answer.code, unreadable=(answer.needed_kid,))
    if answer.code == "no_token":
        return _unrecorded(workspace, answer.code)
    return _record(
        workspace,
        answer.code,
        answer.response,
        actor=actor,
        about_token=answer.about_token,
        log_unchanged=log_unchanged,
    )


def _same_bot_token(stored: Workspace, tested: Workspace) -> bool:
    try:
        return stored.bot_token == tested.bot_token
    except EncryptedDataError:  # unreadable: the same stored envelope means the same token
        field = Workspace._meta.get_field("bot_token")
        return field.stored_envelope(stored) == field.stored_envelope(tested)


@transaction.atomic  # the health update and its lifecycle event commit together
def _record(
    tested: Workspace,
    code: str,
    response: SlackResponse | None,
    *,
    actor: str,
    about_token: bool,
    log_unchanged: bool,
) -> VerifyOutcome:
    # Re-read under the row lock: a reinstall or refresh during the call must not be marked
    # with the verdict on the token it replaced, nor have its scopes rolled back.
    workspace = Workspace.objects.select_for_update().get(pk=tested.pk)
    if not _same_bot_token(workspace, tested):
        logger.info("verify of workspace %s: token changed meanwhile, not recorded", tested.pk)
        return VerifyOutcome(
            str(workspace.pk), str(workspace), workspace.health, "changed_meanwhile",
            message=_message("changed_meanwhile"),
        )  # fmt: skip
    now = timezone.now()
    before = (workspace.health, workspace.bot_scopes)
    scopes = slack_api.granted_scopes(response) if response is not None else None
    reachable = about_token
    if code == "ok":
        workspace.health, workspace.verify_failures, workspace.last_error = Health.OK, 0, ""
        workspace.last_verified_at = now
        if scopes is not None:
            workspace.bot_scopes = ",".join(scopes)
    elif not reachable:
        workspace.health = Health.UNKNOWN  # says nothing about the token itself
    else:
        workspace.verify_failures += 1
        workspace.last_verified_at = now
        if code in DEAD_CODES or (code in SUSPECT_CODES and workspace.verify_failures >= 2):
            workspace.health = Health.DEAD
        elif code in SUSPECT_CODES or code == "token_expired":
            workspace.health = Health.SUSPECT
        else:  # a policy or migration answer (no_permission, org_login_required...): not dead
            workspace.health = Health.UNKNOWN
    if code != "ok":
        workspace.last_error, workspace.last_error_at = code, now
    workspace.save(
        update_fields=[
            "health", "verify_failures", "last_verified_at", "last_error", "last_error_at",
            "bot_scopes", "updated_at",
        ]
    )  # fmt: skip
    if code == "ok" and (log_unchanged or before != (workspace.health, workspace.bot_scopes)):
        record_event(workspace, LifecycleEvent.Kind.VERIFIED, actor,
                     f"health ok; bot scopes: {workspace.bot_scopes or 'none'}")  # fmt: skip
    elif code != "ok":
        record_event(workspace, LifecycleEvent.Kind.VERIFY_FAILED, actor,
                     f"{code}; health {workspace.health}")  # fmt: skip
    logger.info("verified workspace %s: %s (health %s)", workspace.pk, code, workspace.health)
    return VerifyOutcome(
        workspace_id=str(workspace.pk),
        label=str(workspace),
        health=workspace.health,
        error="" if code == "ok" else code,
        scopes=scopes,
        message=_message(code),
        reachable=reachable,
    )


BATCH_SIZE = 500  # rows per keyset page: one query per page, a page at most in memory
# Threads of a scheduled run. auth.test waits on Slack (~50 ms away) far longer than it works, and
# its rate limit ("hundreds of requests per minute", docs.slack.dev/reference/methods/auth.test)
# applies per workspace (docs.slack.dev/apis/web-api/rate-limits): calls to different workspaces
# may run side by side. Each thread holds one database connection.
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
    # A command may wait out Slack's 429 Retry-After (docs.slack.dev/apis/web-api/rate-limits),
    # a request may not; a Retry-After that is unreadable or huge never crashes it nor makes it
    # sleep for a day (slack_api.patient_client).
    return slack_api.patient_client(retries=RATE_LIMIT_RETRIES)


def iter_verify_active(
    *, actor: str, concurrency: int = DEFAULT_CONCURRENCY, shard: Shard = EVERYTHING
) -> Iterator[VerifyOutcome]:
    """auth.test every active installation of ``shard``, at most ``concurrency`` at a time;
    outcomes as they come (in key order with one thread), memory flat in the number of rows.

    One Slack client per thread, on that thread's kept-alive connection; one short transaction
    per verdict, with its lifecycle event (``_record``): a crash loses at most the checks in
    flight, which the next run repeats.
    """
    workspaces = active_workspaces(shard)
    if concurrency <= 1:
        client = _patient_client()
        for workspace in workspaces:
            yield verify_workspace(workspace, actor=actor, client=client, log_unchanged=False)
        return
    clients = threading.local()

    def check(workspace: Workspace) -> VerifyOutcome:
        client = getattr(clients, "client", None)
        if client is None:
            client = clients.client = _patient_client()
        return verify_workspace(workspace, actor=actor, client=client, log_unchanged=False)

    yield from in_threads(workspaces, check, threads=concurrency, name="slack-verify")


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
