"""Admin actions on workspaces: a confirmation page first, then one lifecycle service per row
(``lifecycle.staff_actions``); each outcome becomes a message and an admin log entry."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.models import CHANGE, LogEntry
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from installations.exceptions import SlackInstallError
from installations.lifecycle import staff_actions as lifecycle
from installations.lifecycle.erasure import ForgetRefused, describe
from installations.lifecycle.erasure import forget as forget_target
from installations.models import Workspace
from installations.reporting import audit

logger = logging.getLogger(__name__)

# Each row is a call to Slack inside this request: keep a click bounded in time.
MAX_PER_ACTION = 50
# Confirmed with the admin's red "delete" look; verifying or refreshing harms nothing.
DANGEROUS_ACTIONS = frozenset({"revoke", "forget"})


def actor_of(request: HttpRequest) -> str:
    return f"staff:{request.user.get_username()}"


def _outcome_level(outcome: lifecycle.StaffOutcome) -> int:
    """Success; a warning with an error code; an error when this server cannot decrypt a token."""
    if outcome.unreadable:
        return messages.ERROR
    if outcome.error:
        return messages.WARNING
    if isinstance(outcome, lifecycle.RefreshOutcome) and not outcome.refreshed:
        return messages.INFO  # nothing was due, or another runner had it: neutral news
    return messages.SUCCESS


def _confirm(
    model_admin: admin.ModelAdmin[Workspace],
    request: HttpRequest,
    queryset: QuerySet[Workspace],
    *,
    action: str,
    title: str,
    explanation: str,
) -> TemplateResponse:
    workspaces = list(queryset[: MAX_PER_ACTION + 1])
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "explanation": explanation,
        "opts": model_admin.model._meta,
        "workspaces": workspaces[:MAX_PER_ACTION],
        "too_many": len(workspaces) > MAX_PER_ACTION,
        "max_per_action": MAX_PER_ACTION,
        "action": action,
        "dangerous": action in DANGEROUS_ACTIONS,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(
        request, "admin/installations/workspace/action_confirmation.html", context
    )


def _run_each(
    model_admin: admin.ModelAdmin[Workspace],
    request: HttpRequest,
    queryset: QuerySet[Workspace],
    *,
    verb: str,
    service: lifecycle.StaffService,
) -> None:
    actor = actor_of(request)
    for workspace in queryset[:MAX_PER_ACTION]:
        try:
            outcome = service(workspace, actor=actor)
        except lifecycle.EncryptedDataError as exc:  # the services report it; kept as a net
            text, level = key_problem_message(exc), messages.ERROR
            logger.error("admin %s workspace=%s: %s", verb, workspace.pk, exc)
        except SlackInstallError as exc:  # worded without token material
            text, level = exc.message, messages.ERROR
            logger.warning("admin %s failed workspace=%s: %s", verb, workspace.pk, exc.reason)
        else:
            text, level = outcome.message or "Done.", _outcome_level(outcome)
        model_admin.log_change(request, workspace, f"{verb.capitalize()} (admin action): {text}")
        model_admin.message_user(request, f"{workspace}: {text}", level)


def key_problem_message(exc: lifecycle.EncryptedDataError) -> str:
    """What staff see when this server cannot decrypt a token: a key configuration problem."""
    return (
        "Nothing was changed: a stored token cannot be decrypted with this server's keys "
        f"({exc.key_problem}). This is a key configuration problem (TOKEN_ENCRYPTION_KEYS), "
        "not a problem with the workspace."
    )


def _confirmed(request: HttpRequest) -> bool:
    return request.POST.get("confirm") == "yes"


def _service_action(
    name: str,
    *,
    service: lifecycle.StaffService,
    description: str,
    permission: str,
    title: str,
    explanation: str,
    verb: str,
) -> Callable[..., HttpResponse | None]:
    """An action that confirms first, then runs one lifecycle service per workspace."""

    @admin.action(description=description, permissions=[permission])
    def action(
        model_admin: admin.ModelAdmin[Workspace],
        request: HttpRequest,
        queryset: QuerySet[Workspace],
    ) -> HttpResponse | None:
        if not _confirmed(request):
            return _confirm(
                model_admin, request, queryset, action=name, title=title, explanation=explanation
            )
        _run_each(model_admin, request, queryset, verb=verb, service=service)
        return None

    action.__name__ = name  # the admin names an action after its function
    return action


verify_now = _service_action(
    "verify_now",
    service=lifecycle.verify_workspace,
    description="Verify now (auth.test)",
    permission="change",
    verb="verify",
    title="Verify these workspaces now?",
    explanation="Calls Slack's auth.test with each bot token, then updates the granted "
    "scopes and the token's health.",
)
refresh_now = _service_action(
    "refresh_now",
    service=lifecycle.refresh_workspace,
    description="Refresh tokens now (token rotation)",
    permission="change",
    verb="refresh",
    title="Refresh these workspaces' tokens now?",
    explanation="Spends each rotating refresh token once and stores the new pair. "
    "Workspaces without token rotation are left as they are.",
)
revoke = _service_action(
    "revoke",
    service=lifecycle.revoke_workspace,
    description="Revoke tokens (auth.revoke)",
    permission="revoke",
    verb="revoke",
    title="Revoke these workspaces' tokens?",
    explanation="Calls Slack's auth.revoke for each token and erases them here. The app "
    "stops working in these workspaces until someone reinstalls it. This cannot be undone.",
)


@admin.action(description="Export selection as CSV (no secrets)", permissions=["view"])
def export_csv(
    model_admin: admin.ModelAdmin[Workspace], request: HttpRequest, queryset: QuerySet[Workspace]
) -> HttpResponse:
    workspaces = list(queryset)
    if request.user.pk is None:  # the admin runs actions for logged-in staff only
        raise PermissionDenied
    LogEntry.objects.log_actions(
        user_id=request.user.pk,
        queryset=workspaces,
        action_flag=CHANGE,
        change_message="Exported as CSV (admin action; no secrets)",
    )
    response = HttpResponse(audit.to_csv(map(audit.audit_row, workspaces)), content_type="text/csv")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="slack-workspaces-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


@admin.action(
    description="Forget: revoke and erase everything (privacy request)", permissions=["forget"]
)
def forget(
    model_admin: admin.ModelAdmin[Workspace], request: HttpRequest, queryset: QuerySet[Workspace]
) -> HttpResponse | None:
    """``slack_forget_workspace`` for each selected workspace (an org-wide install: its org)."""
    if not _confirmed(request):
        return _confirm(
            model_admin,
            request,
            queryset,
            action="forget",
            title="Forget these workspaces?",
            explanation="Revokes each workspace's tokens at Slack, then erases everything "
            "stored about it: installations, history, events and Sign in with Slack "
            "identities (an org-wide install: the whole org). Only an anonymous tombstone "
            "is kept. This cannot be undone.",
        )
    actor = actor_of(request)
    targets = {ws.enterprise_id if ws.is_enterprise_install else ws.team_id for ws in queryset}
    for target in sorted(t for t in targets if t)[:MAX_PER_ACTION]:
        try:
            outcome = forget_target(target, actor=actor)
        except ForgetRefused as exc:
            model_admin.message_user(request, str(exc), messages.ERROR)
            continue
        level = messages.WARNING if outcome.revoke_problems else messages.SUCCESS
        model_admin.message_user(request, describe(target, outcome), level)
    return None
