"""Whether a workspace needs a reinstall, and why: computed in SQL from stored facts.

Every reason is a boolean annotation, so the admin and the command filter and count in the
database; nothing is decrypted. Granted scopes are Slack's comma-separated list: ``,a,b,``
contains ``,a,`` exactly when ``a`` was granted.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from functools import reduce
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    Exists,
    Expression,
    ExpressionWrapper,
    F,
    FilteredRelation,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Concat, Now
from django.db.models.lookups import Contains, In
from django.db.models.signals import post_delete, post_save

from installations.conf import SlackConfig, parse_scopes, slack_config
from installations.encryption.fields import configured_kids, key_problem
from installations.encryption.stored_kids import kid_expression
from installations.infrastructure import shared_cache
from installations.infrastructure.shared_cache import Validator, cache_key
from installations.models import Health, Installation, LifecycleEvent, Workspace
from installations.reporting import times

# Annotation name -> plain words, in the order staff read them. At most one of uninstalled, revoked
# by staff and bot revoked holds, and then the others stay false (a token gone is not also dead).
REASONS: dict[str, str] = {
    "reason_missing_bot_scopes": "Bot scopes missing",
    "reason_missing_user_scopes": "User scopes missing",
    "reason_uninstalled": "App uninstalled",
    "reason_revoked_by_staff": "Revoked by staff",
    "reason_bot_revoked": "Bot token revoked",
    "reason_token_dead": "Token dead at last verification",
    "reason_refresh_failed": "Token refresh failed",
    "reason_expired": "Token expired, no refresh token",
    "reason_key_missing": "Tokens unreadable with this server's keys",
}
ACTIVE, NEEDS_REINSTALL, UNREADABLE = "Active", "Needs reinstall", "Unreadable here"
T = TypeVar("T")
# Each encrypted column, and the annotation naming its key id when this process lacks it.
TOKEN_COLUMNS: dict[str, str] = {
    "bot_token": "bot_token_missing_kid",
    "bot_refresh_token": "bot_refresh_token_missing_kid",
}


def _boolean(condition: Q) -> ExpressionWrapper[Any]:
    return ExpressionWrapper(condition, output_field=BooleanField())


def _missing_any(scopes_column: Expression | F, wanted: tuple[str, ...]) -> Q:
    """True when some wanted scope is absent from the comma-separated column."""
    if not wanted:
        return Q(pk__isnull=True)  # never true: nothing is wanted
    padded = Concat(Value(","), scopes_column, Value(","), output_field=TextField())
    return reduce(operator.or_, (~Q(Contains(padded, f",{scope},")) for scope in wanted))


def installer_user_scopes() -> Coalesce:
    """The user scopes of the installer's current Installation row ("" when there is none),
    through the ``installer_row`` join that ``with_health`` adds."""
    return Coalesce(F("installer_row__user_scopes"), Value(""), output_field=TextField())


def _token_gone() -> Q:
    """Uninstalled, or the bot token revoked (by Slack or by staff): nothing is left to test."""
    return Q(uninstalled_at__isnull=False) | Q(bot_revoked_at__isnull=False)


def _live_token_reasons(config: SlackConfig) -> dict[str, Q]:
    """Reasons about a token that is still held; each is false once the token is gone."""
    live = ~_token_gone()
    return {
        # Dead only as the verdict of a verification that happened: an uninstall or a revoke
        # also marks the health dead, but nothing was verified then.
        "reason_token_dead": live & Q(health=Health.DEAD, last_verified_at__isnull=False),
        "reason_refresh_failed": live & Q(refresh_failed_at__isnull=False),
        # Every reason must be TRUE or FALSE, never NULL: NULL would slip through both filters.
        "reason_expired": live
        & Q(
            bot_token_expires_at__isnull=False,
            bot_token_expires_at__lt=Now(),
            bot_refresh_token__isnull=True,
        ),
        # Nothing is granted once the app is gone; a reinstall asks for every wanted scope.
        "reason_missing_bot_scopes": live & _missing_any(F("bot_scopes"), config.scopes),
        "reason_missing_user_scopes": live
        & _missing_any(installer_user_scopes(), config.user_scopes),
    }


def _key_missing(column: str, kids: tuple[str, ...]) -> Q:
    """The column holds a value whose envelope names a key id outside ``kids`` (or none)."""
    held = Q(**{f"{column}__isnull": False})
    if not kids:  # no key at all (or a malformed setting): nothing stored is readable
        return held
    return held & ~Q(In(kid_expression(column), list(kids)))


def _key_annotations(kids: tuple[str, ...]) -> dict[str, Any]:
    """``reason_key_missing`` and, per column, the key id it needs when this process lacks it."""
    missing = {column: _key_missing(column, kids) for column in TOKEN_COLUMNS}
    condition = reduce(operator.or_, missing.values())
    needed = {
        name: Case(
            When(missing[column], then=kid_expression(column)),
            default=Value(None),
            output_field=CharField(),
        )
        for column, name in TOKEN_COLUMNS.items()
    }
    return {"reason_key_missing": _boolean(condition), **needed}


def needs_reinstall_condition(config: SlackConfig) -> Q:
    """True exactly when some reason is: the status without the per-row event lookups."""
    return reduce(operator.or_, _live_token_reasons(config).values(), _token_gone())


def _staff_revokes() -> QuerySet[LifecycleEvent]:
    """Staff revokes of the workspace's current install (a reinstall starts afresh)."""
    return LifecycleEvent.objects.filter(
        workspace=OuterRef("pk"),
        kind=LifecycleEvent.Kind.REVOKED,
        occurred_at__gte=OuterRef("installed_at"),
    ).order_by("-occurred_at", "-pk")


def _installer_row() -> FilteredRelation:
    return FilteredRelation(
        "installations",
        condition=Q(installations__is_current=True, installations__user_id=F("installer_user_id")),
    )


def with_health(queryset: QuerySet[Workspace]) -> QuerySet[Workspace]:
    """The queryset with ``needs_reinstall``, one ``reason_*`` boolean each, and helpers
    (``staff_revoked_by`` / ``staff_revoked_at``: None unless staff revoked it)."""
    config = slack_config()
    revoked = Q(uninstalled_at__isnull=True, bot_revoked_at__isnull=False)
    by_staff = Exists(_staff_revokes())
    reasons: dict[str, Q] = {
        "reason_uninstalled": Q(uninstalled_at__isnull=False),
        "reason_revoked_by_staff": revoked & Q(by_staff),
        "reason_bot_revoked": revoked & ~Q(by_staff),
        **_live_token_reasons(config),
    }
    return queryset.alias(installer_row=_installer_row()).annotate(
        **{name: _boolean(condition) for name, condition in reasons.items()},
        **_key_annotations(configured_kids()),
        needs_reinstall=_boolean(needs_reinstall_condition(config)),
        installer_user_scopes=installer_user_scopes(),
        staff_revoked_by=Subquery(_staff_revokes().values("actor")[:1]),
        staff_revoked_at=Subquery(_staff_revokes().values("occurred_at")[:1]),
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


# Status filters over ``with_health``'s annotations ("attention": anything not Active).
STATUS_FILTERS: dict[str, Q] = {
    "active": Q(needs_reinstall=False, reason_key_missing=False),
    "needs_reinstall": Q(needs_reinstall=True),
    "unreadable": Q(reason_key_missing=True),
    "attention": Q(needs_reinstall=True) | Q(reason_key_missing=True),
}


def filter_status(queryset: QuerySet[Workspace], status: str) -> QuerySet[Workspace]:
    """Keep ``with_health`` workspaces by status (a key of STATUS_FILTERS)."""
    return queryset.filter(STATUS_FILTERS[status])


COUNTS_CACHE_SECONDS = 60


def status_counts(queryset: QuerySet[Workspace]) -> dict[str, int]:
    """How many workspaces are in each status, in one query, cached (``cached_with_history``)."""
    config = slack_config()

    def count() -> dict[str, int]:
        counts = with_health(queryset.order_by()).aggregate(
            total=Count("pk"),
            needs=Count("pk", filter=STATUS_FILTERS["needs_reinstall"]),
            unreadable=Count("pk", filter=STATUS_FILTERS["unreadable"]),
            active=Count("pk", filter=STATUS_FILTERS["active"]),
        )  # "needs": an aggregate may not take the name of with_health's annotation
        counts["needs_reinstall"] = counts.pop("needs")
        return counts

    parts = (str(queryset.query), config.scopes, config.user_scopes, configured_kids())
    return cached_with_history("status_counts", parts, count, valid_counts)


def valid_counts(value: object) -> dict[str, int] | None:
    """Cached counts as ``status_counts`` stores them, or None (a wrong shape is a miss)."""
    names = {"total", "needs_reinstall", "unreadable", "active"}
    if not isinstance(value, dict) or set(value) != names:
        return None
    if not all(type(value[name]) is int and value[name] >= 0 for name in names):
        return None
    if max(value["needs_reinstall"], value["unreadable"], value["active"]) > value["total"]:
        return None
    return value


# Counts are cached under a generation number in the shared cache that every change moves on.
_GENERATION_KEY = cache_key("status_counts_generation")


def history_generation() -> int | None:
    """A number that moves on with every committed change to the workspaces, installations or
    history, on every instance at once; None while the cache is unavailable."""
    return shared_cache.generation(_GENERATION_KEY)


def cached_with_history(
    name: str, parts: tuple[Any, ...], compute: Callable[[], T], validate: Validator[T]
) -> T:
    """``compute()``, cached for a minute under the history's generation and ``parts`` (so a
    change shows at once on every instance); computed afresh while the cache is unavailable."""
    generation = history_generation()
    if generation is None:
        return compute()
    key = cache_key(name, generation, *parts)
    return shared_cache.get_or_compute(key, compute, COUNTS_CACHE_SECONDS, validate)


def forget_status_counts(**kwargs: Any) -> None:
    """Invalidate every cached count once the current transaction commits, so no instance
    caches a recount of the old state under the new generation."""
    transaction.on_commit(lambda: shared_cache.bump_generation(_GENERATION_KEY))


for _model in (Workspace, Installation, LifecycleEvent):
    post_save.connect(forget_status_counts, sender=_model, dispatch_uid=f"counts-{_model.__name__}")
    post_delete.connect(
        forget_status_counts, sender=_model, dispatch_uid=f"counts-del-{_model.__name__}"
    )


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
    scopes = workspace.installer_user_scopes  # type: ignore[attr-defined]  # with_health adds it
    return compare_scopes(slack_config().user_scopes, scopes or "")


def reasons(workspace: Workspace) -> list[str]:
    """The reasons an annotated workspace needs a reinstall, in plain words."""
    words: list[str] = []
    for name, label in REASONS.items():
        if getattr(workspace, name, False):
            missing: tuple[str, ...] = ()
            if name == "reason_missing_bot_scopes":
                missing = bot_scope_comparison(workspace).missing
            elif name == "reason_missing_user_scopes":
                missing = user_scope_comparison(workspace).missing
            elif name == "reason_key_missing":
                missing = (key_problem(needed_kids(workspace)),)
            words.append(f"{label}: {', '.join(missing)}" if missing else label)
    return words


def needed_kids(workspace: Workspace) -> list[str]:
    """The key ids this process lacks for the workspace's tokens (``with_health``)."""
    kids = (getattr(workspace, name, None) for name in TOKEN_COLUMNS.values())
    return sorted({kid or "unknown" for kid in kids if kid is not None})


@dataclass(frozen=True)
class Reason:
    """One reason in words (missing scopes named), and who and when, as far as is recorded."""

    name: str
    words: str
    detail: str = ""


def _detail(workspace: Workspace, name: str) -> str:
    """Who and when, from the facts the reason stands on (``with_health`` annotations)."""
    if name == "reason_uninstalled":
        return f"at {times.when(workspace.uninstalled_at)}"
    if name == "reason_revoked_by_staff":
        actor = getattr(workspace, "staff_revoked_by", None) or ""
        by = actor.removeprefix("staff:") or "unknown"
        return f"by {by} at {times.when(getattr(workspace, 'staff_revoked_at', None))}"
    if name == "reason_bot_revoked":
        return f"by Slack at {times.when(workspace.bot_revoked_at)}"
    if name == "reason_token_dead":
        said = f"auth.test answered {workspace.last_error}, " if workspace.last_error else ""
        return f"{said}{times.when(workspace.last_verified_at)}"
    if name == "reason_refresh_failed":
        return f"at {times.when(workspace.refresh_failed_at)}"
    if name == "reason_expired":
        return f"at {times.when(workspace.bot_token_expires_at)}"
    return ""


def reason_details(workspace: Workspace) -> list[Reason]:
    """``reasons`` with who and when, for the admin's badge."""
    names = [name for name in REASONS if getattr(workspace, name, False)]
    return [
        Reason(name, text, _detail(workspace, name))
        for name, text in zip(names, reasons(workspace), strict=True)
    ]


def status(workspace: Workspace) -> str:
    """Needs reinstall, else unreadable here (this process lacks a key), else Active."""
    if getattr(workspace, "needs_reinstall", False):
        return NEEDS_REINSTALL
    return UNREADABLE if getattr(workspace, "reason_key_missing", False) else ACTIVE


def missing_scopes(workspace: Workspace) -> list[str]:
    """Missing bot scopes, then missing user scopes (prefixed ``user:``)."""
    bot = list(bot_scope_comparison(workspace).missing)
    return bot + [f"user:{s}" for s in user_scope_comparison(workspace).missing]
