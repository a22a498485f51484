"""Bolt for Python stores over our models: slack_sdk's InstallationStore and OAuthStateStore.

Semantics follow slack_sdk's SQLAlchemy / SQLite3 stores (docs.slack.dev/tools/bolt-python/concepts/
authenticating-oauth): the latest install wins; a user's lookup gets that user's latest
installation with the target's latest bot merged in; org-wide installs are found with
``team_id=None, is_enterprise_install=True``; rows are scoped by ``client_id``. Unlike them,
deletes mark rows and erase tokens (revocation.py), so the admin keeps the history.

Lookups are one indexed query each and decrypt only the tokens they return.
"""

from __future__ import annotations

import logging
import re
import secrets
import weakref
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import connections, router, transaction
from django.db.models import Model, QuerySet
from django.db.models.query import get_related_populators
from django.utils import timezone
from slack_sdk.oauth.installation_store import Bot, InstallationStore
from slack_sdk.oauth.installation_store import Installation as SdkInstallation
from slack_sdk.oauth.state_store import OAuthStateStore

from . import oauth_state, revocation
from .conf import slack_config
from .models import Installation, OAuthState, Workspace
from .persistence import (
    as_datetime,
    join_scopes,
    save_installation,
    to_sdk_bot,
    to_sdk_installation,
)

logger = logging.getLogger(__name__)

ACTOR = "bolt"
QMARK = re.compile(r"(?<!%)%s")  # as django.db.backends.sqlite3 converts its placeholders


def target(
    client_id: str, enterprise_id: str | None, team_id: str | None, org: bool | None
) -> dict[str, str]:
    """The Workspace key. Org-wide installs are keyed with team_id "" whatever Bolt passes,
    as slack_sdk's stores do (``if is_enterprise_install or team_id is None: team_id = ""``)."""
    if org or team_id is None:
        team_id = ""
    return {"client_id": client_id, "enterprise_id": enterprise_id or "", "team_id": team_id}


# Only the columns to_sdk_bot / to_sdk_installation read: a lookup loads nothing else (and
# reading any other column of these rows would cost a query, which the tests would catch).
BOT_COLUMNS = (
    "app_id", "enterprise_id", "enterprise_name", "enterprise_url", "team_id", "team_name",
    "is_enterprise_install", "bot_token", "bot_id", "bot_user_id", "bot_scopes",
    "bot_refresh_token", "bot_token_expires_at", "installed_at", "uninstalled_at",
    "bot_revoked_at",
)  # fmt: skip
INSTALLATION_COLUMNS = (
    "workspace", "app_id", "enterprise_id", "enterprise_name", "enterprise_url", "team_id",
    "team_name", "is_enterprise_install", "token_type", "user_id", "user_token", "user_scopes",
    "user_refresh_token", "user_token_expires_at", "bot_scopes", "incoming_webhook_url",
    "incoming_webhook_channel", "incoming_webhook_channel_id",
    "incoming_webhook_configuration_url", "installed_at", "user_token_revoked_at", "deleted_at",
    "custom_values",
)  # fmt: skip


def bot_query(key: dict[str, str]) -> QuerySet[Workspace]:
    """One row by the unique (client_id, enterprise_id, team_id) key."""
    return Workspace.objects.filter(**key).only(*BOT_COLUMNS)


def installation_query(key: dict[str, str], user_id: str | None) -> QuerySet[Installation]:
    """The latest live history row (and its Workspace in the same query).

    Rows whose user token was revoked or deleted through this store are skipped, as slack_sdk's
    stores no longer have them; an uninstalled target has no installation at all.
    """
    columns = [*INSTALLATION_COLUMNS, *(f"workspace__{name}" for name in BOT_COLUMNS)]
    rows = (
        Installation.objects.select_related("workspace")
        .only(*columns)
        .filter(
            **key,
            deleted_at__isnull=True,
            user_token_revoked_at__isnull=True,
            workspace__uninstalled_at__isnull=True,
        )
    )
    if user_id is not None:
        # uses installation_user_latest_idx; is_current is the user's latest flow
        rows = rows.filter(user_id=user_id, is_current=True)
    return rows.order_by("-installed_at")[:1]


class CompiledLookup:
    """A lookup queryset compiled once per database connection and rerun with new values.

    Django compiles every queryset anew, which was about 80% of a lookup here (cProfile, see
    benchmarks/store_lookup.py), and Bolt runs these on every request. The SQL, the converters
    and the row layout are kept; rows become instances the way Django's ModelIterable builds
    them (``from_db`` + related populators), so encrypted fields still open lazily.
    """

    def __init__(self, build: Callable[..., QuerySet], *names: str) -> None:
        self.build = build
        self.slots = {name: f"\x00slot:{name}" for name in names}  # values no caller sends
        self.compiled: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _compile(self, connection: Any) -> tuple:
        compiler = self.build(**self.slots).query.get_compiler(connection=connection)
        sql, params = compiler.as_sql()
        names = {slot: name for name, slot in self.slots.items()}
        template = [(names.get(p) if isinstance(p, str) else None, p) for p in params]
        select, info = compiler.select, compiler.klass_info
        start, end = info["select_fields"][0], info["select_fields"][-1] + 1
        attnames = [column[0].target.attname for column in select[start:end]]
        populators = get_related_populators(info, select, connection.alias)
        converters = compiler.get_converters([column[0] for column in select])
        # SQLite: Django rewrites %s to ? with a regex on every execute (a third of a lookup)
        qmark = QMARK.sub("?", sql).replace("%%", "%") if connection.vendor == "sqlite" else None
        layout = (info["model"], start, end, attnames, populators, converters)
        return compiler, sql, qmark, template, layout

    def first(self, model: type[Model], **values: str) -> Any:
        connection = connections[router.db_for_read(model)]
        compiled = self.compiled.get(connection)
        if compiled is None:
            compiled = self.compiled[connection] = self._compile(connection)
        compiler, sql, qmark, template, layout = compiled
        cls, start, end, attnames, populators, converters = layout
        params = [values[name] if name else value for name, value in template]
        if qmark and not connection.queries_logged and not connection.execute_wrappers:
            connection.ensure_connection()
            with connection.wrap_database_errors:
                row = connection.connection.execute(qmark, params).fetchone()
        else:  # the ordinary path keeps query logging and execute wrappers working
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                row = cursor.fetchone()
        if row is None:
            return None
        if converters:
            row = next(iter(compiler.apply_converters([row], converters)))
        instance = cls.from_db(connection.alias, attnames, row[start:end])
        for populator in populators:
            populator.populate(row, instance)
        return instance


BOT = CompiledLookup(lambda **key: bot_query(key), "client_id", "enterprise_id", "team_id")
LATEST = CompiledLookup(
    lambda **key: installation_query(key, None), "client_id", "enterprise_id", "team_id"
)
USERS_LATEST = CompiledLookup(
    lambda user_id, **key: installation_query(key, user_id),
    *("client_id", "enterprise_id", "team_id", "user_id"),
)


def installation_from(rows: list[Installation]) -> SdkInstallation | None:
    return to_sdk_installation(rows[0], rows[0].workspace) if rows else None


def bot_from(rows: list[Workspace]) -> Bot | None:
    return to_sdk_bot(rows[0]) if rows else None


class DjangoInstallationStore(InstallationStore):
    """slack_sdk's InstallationStore on our encrypted models: ``App(installation_store=...)``."""

    def __init__(self, client_id: str | None = None, logger: logging.Logger | None = None) -> None:
        self.client_id = client_id if client_id is not None else slack_config().client_id
        self._logger = logger or logging.getLogger(__name__)

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    def _key(self, enterprise_id: str | None, team_id: str | None, org: bool | None) -> dict:
        return target(self.client_id, enterprise_id, team_id, org)

    # --- writes -----------------------------------------------------------------------------
    def save(self, installation: SdkInstallation) -> None:
        """A completed flow, or Bolt's re-save after token rotation (same installed_at)."""
        save_installation(installation, client_id=self.client_id, source="store", actor=ACTOR)

    def save_bot(self, bot: Bot) -> None:
        """Bolt saves a rotated bot this way (bot-only apps): update the target's bot in place."""
        key = self._key(bot.enterprise_id, bot.team_id, bot.is_enterprise_install)
        with transaction.atomic():
            workspace = Workspace.objects.select_for_update().filter(**key).first()
            if workspace is None:  # like slack_sdk: a bot row alone, no installation history
                workspace = Workspace(**key, first_installed_at=as_datetime(bot.installed_at))
                workspace.installed_at = workspace.first_installed_at
            elif as_datetime(bot.installed_at) < workspace.installed_at:
                # slack_sdk's stores keep an older bot as a row that never becomes the latest
                self.logger.info("skipped an older bot for team=%s", key["team_id"] or "-")
                return
            _apply_bot(workspace, bot)
            workspace.save()

    # --- reads ------------------------------------------------------------------------------
    def find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        key = self._key(enterprise_id, team_id, is_enterprise_install)
        workspace = BOT.first(Workspace, **key)
        return None if workspace is None else to_sdk_bot(workspace)

    def find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> SdkInstallation | None:
        key = self._key(enterprise_id, team_id, is_enterprise_install)
        if user_id is None:
            row = LATEST.first(Installation, **key)
        else:
            row = USERS_LATEST.first(Installation, **key, user_id=user_id)
        return None if row is None else to_sdk_installation(row, row.workspace)

    # --- deletes: mark rows and erase their tokens; history stays ------------------------------
    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        revocation.mark_bot_revoked(**self._key(enterprise_id, team_id, False), actor=ACTOR)

    def delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        """Erase the users' tokens (revocation.py), then mark their rows deleted: slack_sdk's
        stores drop them, so lookups must skip them even when they held no user token."""
        key = self._key(enterprise_id, team_id, False)
        user_ids = None if user_id is None else [user_id]
        with transaction.atomic():
            revocation.mark_users_revoked(**key, user_ids=user_ids, actor=ACTOR)
            rows = Installation.objects.filter(**key, deleted_at__isnull=True)
            if user_id is not None:
                rows = rows.filter(user_id=user_id)
            rows.update(deleted_at=timezone.now())

    def delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        revocation.mark_uninstalled(**self._key(enterprise_id, team_id, False), actor=ACTOR)


def _apply_bot(workspace: Workspace, bot: Bot) -> None:
    workspace.app_id = bot.app_id or workspace.app_id
    workspace.enterprise_name = bot.enterprise_name or workspace.enterprise_name
    workspace.team_name = bot.team_name or workspace.team_name
    workspace.is_enterprise_install = bool(bot.is_enterprise_install)
    workspace.bot_token = bot.bot_token
    workspace.bot_id = bot.bot_id or workspace.bot_id
    workspace.bot_user_id = bot.bot_user_id or workspace.bot_user_id
    workspace.bot_scopes = join_scopes(bot.bot_scopes)
    workspace.bot_refresh_token = bot.bot_refresh_token
    workspace.bot_token_expires_at = as_datetime(bot.bot_token_expires_at)
    workspace.bot_revoked_at = None


class DjangoOAuthStateStore(OAuthStateStore):
    """slack_sdk's OAuthStateStore: random single-use states that expire; only hashes stored."""

    def __init__(self, expiration_seconds: int = 600, logger: logging.Logger | None = None) -> None:
        self.expiration_seconds = expiration_seconds
        self._logger = logger or logging.getLogger(__name__)

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    def issue(self, *args: Any, **kwargs: Any) -> str:
        """oauth_state.issue_state with this store's own lifetime (Bolt passes no arguments)."""
        state = secrets.token_urlsafe(oauth_state.STATE_BYTES)
        now = timezone.now()
        oauth_state.purge_expired_states(now=now)
        expires_at = now + timedelta(seconds=self.expiration_seconds)
        OAuthState.objects.create(
            state_hash=oauth_state.hash_state(state), created_at=now, expires_at=expires_at
        )
        return state

    def consume(self, state: str) -> bool:
        """True once for an issued, unexpired state: one conditional DELETE decides."""
        return bool(state) and oauth_state.consume_state(state)
