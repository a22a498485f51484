"""Sidebar filters for the workspace audit list: each a WHERE clause. A value a filter could not
have offered leaves the list unfiltered, as Django does for choices it does not know."""

from __future__ import annotations

import re
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from installations.models import Workspace
from installations.reporting import health
from installations.reporting.enterprises import enterprise_choices


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("active", health.ACTIVE),
            ("needs_reinstall", health.NEEDS_REINSTALL),
            ("unreadable", health.UNREADABLE),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> QuerySet[Workspace]:
        value = self.value()
        if value in ("active", "needs_reinstall", "unreadable"):
            return health.filter_status(queryset, value)
        return queryset


class ReasonFilter(admin.SimpleListFilter):
    title = "reinstall reason"
    parameter_name = "reason"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(name.removeprefix("reason_"), label) for name, label in health.REASONS.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> QuerySet[Workspace]:
        name = f"reason_{self.value()}"
        if name in health.REASONS:
            return queryset.filter(**{name: True})
        return queryset


class InstallTypeFilter(admin.SimpleListFilter):
    title = "install type"
    parameter_name = "install_type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("workspace", "Workspace"), ("org-wide", "Org-wide")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> QuerySet[Workspace]:
        if self.value() in ("workspace", "org-wide"):
            return queryset.filter(is_enterprise_install=self.value() == "org-wide")
        return queryset


# Grid org ids: fullmatch, so "E0GRID\n" is not one (``re.match`` with "$" would say it is).
ENTERPRISE_ID = re.compile(r"E[A-Z0-9]{2,31}")


class EnterpriseFilter(admin.SimpleListFilter):
    title = "enterprise"
    parameter_name = "enterprise"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return enterprise_choices()

    def queryset(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> QuerySet[Workspace]:
        # Any well-formed id, not only the 200 choices shown: a link to an org beyond them works.
        value = self.value()
        if value == "none":
            return queryset.filter(enterprise_id="")
        if value is not None and ENTERPRISE_ID.fullmatch(value):
            return queryset.filter(enterprise_id=value)
        return queryset


class YesNoFilter(admin.SimpleListFilter):
    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Yes"), ("no", "No")]


class UserTokensFilter(YesNoFilter):
    title = "has user tokens"
    parameter_name = "user_tokens"

    def queryset(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> QuerySet[Workspace]:
        if self.value() in ("yes", "no"):
            annotated = health.with_user_tokens(queryset)
            # has_user_tokens is with_user_tokens' annotation, which django-stubs cannot see
            return annotated.filter(has_user_tokens=self.value() == "yes")  # type: ignore[misc]
        return queryset


class RotationFilter(YesNoFilter):
    """Rotating tokens expire (docs.slack.dev/authentication/using-token-rotation)."""

    title = "token rotation"
    parameter_name = "rotation"

    def queryset(self, request: HttpRequest, queryset: QuerySet[Workspace]) -> QuerySet[Workspace]:
        if self.value() in ("yes", "no"):
            return queryset.filter(bot_token_expires_at__isnull=self.value() == "no")
        return queryset
