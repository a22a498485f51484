"""Whether a workspace needs a reinstall, and why: computed in SQL from stored facts.

Every reason is a boolean annotation, so the admin and the command filter and count in the
database (fast at 100,000 rows) instead of looping in Python. The wanted scopes come from the
settings at query time (``slack_config()``), so changing ``SLACK_SCOPES`` needs no data migration.
Granted bot scopes are Slack's comma-separated list (oauth.v2.access ``scope``, and the
``x-oauth-scopes`` header of auth.test; docs.slack.dev/reference/methods/oauth.v2.access):
``,a,b,`` contains ``,a,`` exactly when ``a`` was granted, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    Expression,
    ExpressionWrapper,
    F,
    FilteredRelation,
    OuterRef,
    Q,
    QuerySet,
    TextField,
    Value,
)
from django.db.models.functions import Coalesce, Concat, Now
from django.db.models.lookups import Contains

from installations.conf import parse_scopes, slack_config
from installations.models import Health, Installation, Workspace

# Annotation name -> plain words, in the order staff read them.
REASONS: dict[str, str] = {
    "reason_missing_bot_scopes": "Bot scopes missing",
    "reason_missing_user_scopes": "User scopes missing",
    "reason_uninstalled": "App uninstalled",
    "reason_bot_revoked": "Bot token revoked",
    "reason_token_dead": "Token dead at last verification",
    "reason_refresh_failed": "Token refresh failed",
    "reason_expired": "Token expired, no refresh token",
}
ACTIVE, NEEDS_REINSTALL = "Active", "Needs reinstall"


def _boolean(condition: Q) -> ExpressionWrapper:
    return ExpressionWrapper(condition, output_field=BooleanField())


def _missing_any(scopes_column: Expression, wanted: tuple[str, ...]) -> Q:
    """True when some wanted scope is absent from the comma-separated column."""
    if not wanted:
        return Q(pk__isnull=True)  # never true: nothing is wanted
    padded = Concat(Value(","), scopes_column, Value(","), output_field=TextField())
    missing = Q()
    for scope in wanted:
        missing |= ~Q(Contains(padded, f",{scope},"))
    return missing


def installer_user_scopes() -> Coalesce:
    """The user scopes of the installer's current Installation row ("" when there is none).

    Reads the ``installer_row`` join that ``with_health`` adds: a LEFT JOIN on a row the partial
    unique constraint keeps single, instead of a correlated subquery run once per workspace.
    """
    return Coalesce(F("installer_row__user_scopes"), Value(""), output_field=TextField())


def with_health(queryset: QuerySet[Workspace]) -> QuerySet[Workspace]:
    """The queryset with ``needs_reinstall``, one ``reason_*`` boolean each, and helpers."""
    config = slack_config()
    user_scopes = installer_user_scopes()
    reasons: dict[str, Q] = {
        "reason_missing_bot_scopes": _missing_any(F("bot_scopes"), config.scopes),
        "reason_missing_user_scopes": _missing_any(user_scopes, config.user_scopes),
        "reason_uninstalled": Q(uninstalled_at__isnull=False),
        "reason_bot_revoked": Q(bot_revoked_at__isnull=False),
        "reason_token_dead": Q(health=Health.DEAD),
        "reason_refresh_failed": Q(refresh_failed_at__isnull=False),
        # Every reason must be TRUE or FALSE, never NULL: NULL would slip through both filters.
        "reason_expired": Q(
            bot_token_expires_at__isnull=False,
            bot_token_expires_at__lt=Now(),
            bot_refresh_token__isnull=True,
        ),
    }
    any_reason = Q()
    for condition in reasons.values():
        any_reason |= condition
    installer_row = FilteredRelation(
        "installations",
        condition=Q(installations__is_current=True, installations__user_id=F("installer_user_id")),
    )
    return queryset.alias(installer_row=installer_row).annotate(
        **{name: _boolean(condition) for name, condition in reasons.items()},
        needs_reinstall=_boolean(any_reason),
        installer_user_scopes=user_scopes,
    )


def with_user_tokens(queryset: QuerySet[Workspace]) -> QuerySet[Workspace]:
    """Adds ``has_user_tokens``; only the filter that needs it pays for it."""
    user_tokens = Installation.objects.filter(
        workspace=OuterRef("pk"),
        is_current=True,
        user_token__isnull=False,
        user_token_revoked_at__isnull=True,
        deleted_at__isnull=True,
    )
    return queryset.annotate(has_user_tokens=Exists(user_tokens))


def filter_status(queryset: QuerySet[Workspace], *, needs_reinstall: bool) -> QuerySet[Workspace]:
    """Keep workspaces by status; the queryset must come from ``with_health``."""
    return queryset.filter(needs_reinstall=needs_reinstall)


COUNTS_CACHE_SECONDS = 60


def status_counts(queryset: QuerySet[Workspace]) -> dict[str, int]:
    """How many workspaces are active and how many need a reinstall, in one query.

    A full count costs hundreds of milliseconds at 100,000 rows (benchmarks/admin_list.py), so
    it is cached for a minute, keyed by the wanted scopes (changing them changes the answer).
    """
    config = slack_config()
    key = (
        "slackinstall:status_counts:"
        + hashlib.sha256(
            repr((str(queryset.query), config.scopes, config.user_scopes)).encode()
        ).hexdigest()
    )
    cached = cache.get(key)
    if cached is not None:
        return cached
    counts = with_health(queryset.order_by()).aggregate(
        total=Count("pk"), needs=Count("pk", filter=Q(needs_reinstall=True))
    )
    result = {
        "total": counts["total"],
        "needs_reinstall": counts["needs"],
        "active": counts["total"] - counts["needs"],
    }
    cache.set(key, result, COUNTS_CACHE_SECONDS)
    return result


# --- Python helpers for one (annotated) workspace ---------------------------------------------


@dataclass(frozen=True)
class ScopeComparison:
    wanted: tuple[str, ...]
    granted: tuple[str, ...]
    missing: tuple[str, ...]
    extra: tuple[str, ...]


def compare_scopes(wanted: tuple[str, ...], granted: Any) -> ScopeComparison:
    granted_t = parse_scopes(granted)
    return ScopeComparison(
        wanted=wanted,
        granted=granted_t,
        missing=tuple(s for s in wanted if s not in granted_t),
        extra=tuple(s for s in granted_t if s not in wanted),
    )


def bot_scope_comparison(workspace: Workspace) -> ScopeComparison:
    return compare_scopes(slack_config().scopes, workspace.bot_scopes)


def user_scope_comparison(workspace: Workspace) -> ScopeComparison:
    """Needs ``installer_user_scopes`` from ``with_health`` (no extra query per row)."""
    return compare_scopes(slack_config().user_scopes, workspace.installer_user_scopes or "")


def reasons(workspace: Workspace) -> list[str]:
    """The reasons an annotated workspace needs a reinstall, in plain words."""
    words = []
    for name, label in REASONS.items():
        if getattr(workspace, name, False):
            missing = ()
            if name == "reason_missing_bot_scopes":
                missing = bot_scope_comparison(workspace).missing
            elif name == "reason_missing_user_scopes":
                missing = user_scope_comparison(workspace).missing
            words.append(f"{label}: {', '.join(missing)}" if missing else label)
    return words


def status(workspace: Workspace) -> str:
    return NEEDS_REINSTALL if getattr(workspace, "needs_reinstall", False) else ACTIVE


def missing_scopes(workspace: Workspace) -> list[str]:
    """Missing bot scopes, then missing user scopes (prefixed ``user:``)."""
    bot = list(bot_scope_comparison(workspace).missing)
    return bot + [f"user:{s}" for s in user_scope_comparison(workspace).missing]
