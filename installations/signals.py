"""Hooks for the host project (README.md): Django signals sent once the change they announce is
committed. A failing receiver's exception is logged, never raised into the flow that sent it.

    installation_completed  (workspace, installation, request)   an Add to Slack flow finished
    installation_uninstalled (workspace, actor, kind)            the app was removed (all tokens)
    installation_revoked    (workspace, actor, kind)             a bot or user token was revoked
    token_refreshed         (workspace, which)                   "bot" or "user" token rotated
    health_changed          (workspace, before, after)           Workspace.health changed
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models.signals import post_init, post_save
from django.dispatch import Signal

from installations.observability import metrics

logger = logging.getLogger(__name__)

installation_completed = Signal()
installation_uninstalled = Signal()
installation_revoked = Signal()
token_refreshed = Signal()
health_changed = Signal()

# LifecycleEvent kinds (their values) that announce a revocation or an uninstall.
UNINSTALL_KINDS = frozenset({"uninstalled"})
REVOKE_KINDS = frozenset({"bot_revoked", "user_revoked", "revoked"})
REFRESH_KINDS = frozenset({"refreshed"})


def send_after_commit(signal: Signal, sender: type, **arguments: Any) -> None:
    """Send ``signal`` once the current transaction commits; receivers' errors are logged."""

    def send() -> None:
        for receiver, result in signal.send_robust(sender=sender, **arguments):
            if isinstance(result, Exception):
                logger.error(
                    "a receiver of an installations signal failed: %s.%s raised %s",
                    getattr(receiver, "__module__", "?"),
                    getattr(receiver, "__qualname__", repr(receiver)),
                    type(result).__name__,
                )

    transaction.on_commit(send)


def lifecycle_recorded(workspace: Any, kind: str, actor: str, detail: str) -> None:
    """Called by ``lifecycle.saving.record_event`` for every history entry: the one funnel."""
    metrics.lifecycle_recorded(kind)
    if workspace is None:
        return
    sender = type(workspace)
    if kind in UNINSTALL_KINDS | REVOKE_KINDS:
        signal = installation_uninstalled if kind in UNINSTALL_KINDS else installation_revoked
        send_after_commit(signal, sender, workspace=workspace, actor=actor, kind=kind)
    elif kind in REFRESH_KINDS:
        which = "user" if detail.startswith("user") else "bot"
        send_after_commit(token_refreshed, sender, workspace=workspace, which=which)


# --- health_changed: compare what was loaded with what is saved ------------------------------


def _remember_health(sender: type, instance: Any, **kwargs: Any) -> None:
    instance._loaded_health = instance.__dict__.get("health")


def _announce_health(sender: type, instance: Any, created: bool, **kwargs: Any) -> None:
    before = getattr(instance, "_loaded_health", None)
    after = instance.__dict__.get("health")
    update_fields = kwargs.get("update_fields")
    instance._loaded_health = after
    if created or before is None or after is None or before == after:
        return
    if update_fields is not None and "health" not in update_fields:
        return
    send_after_commit(health_changed, sender, workspace=instance, before=before, after=after)


def connect_model_signals() -> None:
    """Wire ``health_changed`` to Workspace saves (InstallationsConfig.ready)."""
    from installations.models import Workspace

    post_init.connect(_remember_health, sender=Workspace, dispatch_uid="installations.health.init")
    post_save.connect(_announce_health, sender=Workspace, dispatch_uid="installations.health.save")
