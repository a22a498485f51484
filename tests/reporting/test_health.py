"""Status and reinstall reasons, computed in SQL from stored facts and the configured scopes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import Q
from django.utils import timezone

from installations.models import Health, Installation, Workspace
from installations.reporting import health
from installations.reporting.health import REASONS
from tests.support.admin import health_row, past, with_user_tokens

pytestmark = pytest.mark.django_db


def true_reasons(workspace: Workspace) -> set[str]:
    row = health_row(workspace)
    return {name for name in REASONS if getattr(row, name)}


def test_fresh_install_with_every_wanted_scope_is_active(audit_workspace: Callable) -> None:
    ws = health_row(audit_workspace())
    assert ws.needs_reinstall is False
    assert true_reasons(ws) == set()
    assert health.status(ws) == "Active"
    assert health.reasons(ws) == []


@pytest.mark.parametrize(
    ("facts", "reason", "words"),
    [
        ({"uninstalled_at": past(hours=1)}, "reason_uninstalled", "App uninstalled"),
        ({"bot_revoked_at": past(hours=1)}, "reason_bot_revoked", "Bot token revoked"),
        (
            {"health": Health.DEAD, "last_verified_at": past(minutes=1)},
            "reason_token_dead",
            "Token dead at last verification",
        ),
        ({"refresh_failed_at": past(minutes=5)}, "reason_refresh_failed", "Token refresh failed"),
        (
            {"bot_token_expires_at": past(minutes=1)},
            "reason_expired",
            "Token expired, no refresh token",
        ),
    ],
)
def test_each_lifecycle_fact_is_a_reason(
    audit_workspace: Callable, facts: dict[str, Any], reason: str, words: str
) -> None:
    ws = audit_workspace(**facts)
    assert true_reasons(ws) == {reason}
    row = health_row(ws)
    assert row.needs_reinstall is True
    assert health.status(row) == "Needs reinstall"
    assert health.reasons(row) == [words]


def test_suspect_health_is_not_a_reason(audit_workspace: Callable) -> None:
    assert true_reasons(audit_workspace(health=Health.SUSPECT)) == set()


def test_expiry_with_a_refresh_token_is_not_a_reason(audit_workspace: Callable) -> None:
    ws = audit_workspace(rotation=True, bot_token_expires_at=past(minutes=1))
    assert true_reasons(ws) == set()


def test_future_expiry_is_not_a_reason(audit_workspace: Callable) -> None:
    ws = audit_workspace(bot_token_expires_at=timezone.now() + timedelta(hours=2))
    assert true_reasons(ws) == set()


def test_missing_bot_scope_is_named(audit_workspace: Callable, settings: Any) -> None:
    settings.SLACK_SCOPES = "commands,chat:write"
    ws = health_row(audit_workspace(bot_scopes="commands"))
    assert ws.reason_missing_bot_scopes is True
    assert health.reasons(ws) == ["Bot scopes missing: chat:write"]
    assert health.missing_scopes(ws) == ["chat:write"]


def test_a_scope_added_to_settings_turns_active_into_needs_reinstall(
    audit_workspace: Callable, settings: Any
) -> None:
    settings.SLACK_SCOPES = "commands,chat:write"
    ws = audit_workspace(bot_scopes="commands,chat:write")
    assert health_row(ws).needs_reinstall is False
    settings.SLACK_SCOPES = "commands,chat:write,channels:read"  # no data migration
    row = health_row(ws)
    assert row.needs_reinstall is True
    assert health.missing_scopes(row) == ["channels:read"]
    settings.SLACK_SCOPES = "commands"  # asking for less never needs a reinstall
    assert health_row(ws).needs_reinstall is False


def test_scope_match_is_exact_not_a_substring(audit_workspace: Callable, settings: Any) -> None:
    # "chat:write.public" contains "chat:write" as text, but does not grant it.
    settings.SLACK_SCOPES = "chat:write"
    ws = audit_workspace(bot_scopes="chat:write.public,commands")
    assert true_reasons(ws) == {"reason_missing_bot_scopes"}
    settings.SLACK_SCOPES = "users:read_email"  # LIKE's _ wildcard must not match any character
    ws2 = audit_workspace(bot_scopes="users:readXemail")
    assert true_reasons(ws2) == {"reason_missing_bot_scopes"}


def test_scope_comparison_lists_wanted_granted_missing_extra(
    audit_workspace: Callable, settings: Any
) -> None:
    settings.SLACK_SCOPES = "commands,chat:write,channels:read"
    ws = audit_workspace(bot_scopes="commands,users:read")
    cmp = health.bot_scope_comparison(ws)
    assert cmp.wanted == ("commands", "chat:write", "channels:read")
    assert cmp.granted == ("commands", "users:read")
    assert cmp.missing == ("chat:write", "channels:read")
    assert cmp.extra == ("users:read",)


def test_missing_user_scopes_follow_the_current_installer(
    audit_workspace: Callable, settings: Any
) -> None:
    settings.SLACK_USER_SCOPES = "search:read,users:read"
    ws = audit_workspace(user_id="U0ALICE", user_scopes="search:read")
    row = health_row(ws)
    assert true_reasons(ws) == {"reason_missing_user_scopes"}
    assert health.reasons(row) == ["User scopes missing: users:read"]
    assert health.missing_scopes(row) == ["user:users:read"]
    # The same user installs again with every user scope: reason gone.
    audit_workspace(team_id=ws.team_id, user_id="U0ALICE", user_scopes="search:read,users:read")
    assert true_reasons(ws) == set()


def test_installer_without_user_token_misses_every_wanted_user_scope(
    audit_workspace: Callable, settings: Any
) -> None:
    settings.SLACK_USER_SCOPES = "search:read"
    ws = audit_workspace(user_scopes="")
    assert true_reasons(ws) == {"reason_missing_user_scopes"}
    settings.SLACK_USER_SCOPES = ""
    assert true_reasons(ws) == set()


def test_several_reasons_are_all_listed(audit_workspace: Callable, settings: Any) -> None:
    settings.SLACK_SCOPES = "commands,chat:write"
    ws = audit_workspace(
        bot_scopes="commands", health=Health.DEAD, last_verified_at=past(minutes=1)
    )
    assert true_reasons(ws) == {"reason_missing_bot_scopes", "reason_token_dead"}
    assert health.reasons(health_row(ws)) == [
        "Bot scopes missing: chat:write",
        "Token dead at last verification",
    ]


def test_an_uninstall_is_the_only_reason_it_shows(audit_workspace: Callable, settings: Any) -> None:
    """Facts recorded before the uninstall (a dead verdict, missing scopes) no longer apply."""
    settings.SLACK_SCOPES = "commands,chat:write"
    ws = audit_workspace(
        bot_scopes="commands",
        uninstalled_at=past(hours=2),
        health=Health.DEAD,
        last_verified_at=past(hours=3),
    )
    assert true_reasons(ws) == {"reason_uninstalled"}
    assert health.reasons(health_row(ws)) == ["App uninstalled"]


def test_status_filter_and_counts_run_in_sql(
    audit_workspace: Callable, django_assert_num_queries: Any
) -> None:
    healthy = [audit_workspace() for _ in range(3)]
    broken = [
        audit_workspace(bot_revoked_at=past(hours=1)),
        audit_workspace(health=Health.DEAD, last_verified_at=past(minutes=1)),
    ]
    queryset = health.with_health(Workspace.objects.all())
    with django_assert_num_queries(1):
        needs = set(health.filter_status(queryset, "needs_reinstall").values_list("pk", flat=True))
    assert needs == {w.pk for w in broken}
    active = set(health.filter_status(queryset, "active").values_list("pk", flat=True))
    assert active == {w.pk for w in healthy}
    with django_assert_num_queries(1):
        counts = health.status_counts(Workspace.objects.all())
    assert counts == {"total": 5, "needs_reinstall": 2, "unreadable": 0, "active": 3}


def test_reason_annotations_are_filterable(audit_workspace: Callable) -> None:
    gone = audit_workspace(uninstalled_at=past(days=1))
    audit_workspace()
    rows = health.with_health(Workspace.objects.all()).filter(Q(reason_uninstalled=True))
    assert list(rows.values_list("pk", flat=True)) == [gone.pk]


def test_user_tokens_flag(audit_workspace: Callable) -> None:
    with_user = audit_workspace(user_scopes="search:read")
    without = audit_workspace()
    annotated_all = with_user_tokens(Workspace.objects.all())
    flags = dict(annotated_all.values_list("pk", "has_user_tokens"))
    assert flags == {with_user.pk: True, without.pk: False}
    Installation.objects.filter(workspace=with_user).update(user_token_revoked_at=timezone.now())
    assert (
        with_user_tokens(Workspace.objects.filter(pk=with_user.pk)).get().has_user_tokens is False
    )
