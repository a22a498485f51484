"""Read-only staff audit of installations: status and reasons from SQL, history, actions.

Every field is read-only and the change page refuses POST. Change permission unlocks verify and
refresh; revoking needs ``installations.revoke_workspace``. Tokens are never shown, searched or
exported: the page says only whether one is stored, under which key id, until when.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django.conf import settings
from django.contrib import admin
from django.contrib.admin import AdminSite, helpers
from django.core.exceptions import BadRequest, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.functional import cached_property, lazy
from django.utils.html import format_html, format_html_join

from installations.admin import actions as admin_actions
from installations.admin import detail as admin_detail
from installations.admin import filters as admin_filters
from installations.conf import branding
from installations.install.flow import install_page_url
from installations.models import LifecycleEvent, Workspace
from installations.reporting import chart, health, times

# Generic parameters for django-stubs only: Django's classes cannot be subscripted at run time.
if TYPE_CHECKING:
    _Paginator = Paginator[Any]
    _WorkspaceModelAdmin = admin.ModelAdmin[Workspace]
    _EventModelAdmin = admin.ModelAdmin[LifecycleEvent]
else:
    _Paginator = Paginator
    _WorkspaceModelAdmin = _EventModelAdmin = admin.ModelAdmin

EMPTY = "—"
SLACK_ID = re.compile(r"(?=\S*\d)[TEUWB][A-Z0-9]{6,}")  # T0B00000777, not "TECHCORP"


class CappedCountPaginator(_Paginator):
    """Counts at most CAP + 1 rows (a full COUNT(*) grows with the table); the exact totals
    stand above the list (health.status_counts)."""

    CAP = 1000

    @cached_property
    def count(self) -> int:
        rows = cast("QuerySet[Any]", self.object_list)  # the changelist's queryset
        return rows.order_by()[: self.CAP + 1].count()


class OfferedFiltersOnly:
    """Query-string lookups limited to the filters the page offers: any other lookup (say
    ``?team_id__regex=(``) would reach the database and fail with a 500; Django answers 400."""

    list_filter: ClassVar[Any]

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        offered: set[str] = set()
        for spec in self.list_filter:
            if isinstance(spec, str):  # a field filter: its exact and isnull parameters
                offered |= {spec, f"{spec}__exact", f"{spec}__isnull"}
            else:  # a SimpleListFilter reads its own parameter and validates the value itself
                offered.add(spec.parameter_name)
        return lookup in offered


class ReadOnlyRows:
    """Slack data is never added or deleted by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def time_column(field: str, description: str) -> Callable[[Any, Any], str]:
    """A column of the time in ``field``, to the second and with the zone (``reporting.times``)."""

    @admin.display(description=description, ordering=field)
    def column(model_admin: Any, obj: Any) -> str:
        return times.when_html(getattr(obj, field))

    return column


def refuse_unknown_selection(model: type[Any], request: HttpRequest) -> None:
    """BadRequest (400) when an action's selected ids are not all primary keys of the model
    (Django would filter with them as they are: a ValidationError, a 500)."""
    key = model._meta.pk
    for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
        try:
            key.to_python(value)
        except ValidationError as exc:
            raise BadRequest("an action's selected id is not an id") from exc


@admin.register(Workspace)
class WorkspaceAdmin(ReadOnlyRows, OfferedFiltersOnly, _WorkspaceModelAdmin):
    # What staff ask first leads; the columns after "Last verified" may scroll on a phone.
    list_display = (
        "name_and_id",
        "status_and_reasons",
        "install_type_display",
        "installed_when",
        "last_verified_when",
        "installer",
        "granted_bot_scopes",
    )
    list_display_links = ("name_and_id",)
    empty_value_display = EMPTY  # Django's own is "-"; the app's cells say "—"
    list_filter = (
        admin_filters.StatusFilter,
        admin_filters.ReasonFilter,
        admin_filters.InstallTypeFilter,
        admin_filters.EnterpriseFilter,
        admin_filters.UserTokensFilter,
        admin_filters.RotationFilter,
    )
    # Names and Slack ids only: encrypted columns can be neither searched nor ordered.
    search_fields = (
        "team_id",
        "team_name",
        "enterprise_id",
        "enterprise_name",
        "installer_user_id",
        "bot_user_id",
        "bot_id",
    )
    ordering = ("-installed_at",)
    list_per_page = 50
    show_full_result_count = False  # a second COUNT(*) over 100,000 rows buys little
    paginator = CappedCountPaginator
    actions = (
        admin_actions.verify_now,
        admin_actions.refresh_now,
        admin_actions.revoke,
        admin_actions.export_csv,
        admin_actions.forget,
    )
    fieldsets = (
        (
            "Workspace",
            {
                "fields": (
                    "name_and_id",
                    "enterprise",
                    "install_type_display",
                    "app_id",
                    "installer_user_id",
                    "bot_user_id",
                    "bot_id",
                    "first_installed_when",
                    "installed_when",
                    "slack_management_link",
                )
            },
        ),
        (
            "Status",
            {
                "fields": (
                    "status_and_reasons",
                    "health",
                    "last_verified_when",
                    "verify_failures",
                    "last_error",
                    "last_error_when",
                    "uninstalled_when",
                    "bot_revoked_when",
                    "refresh_failed_when",
                )
            },
        ),
        ("Tokens", {"fields": ("bot_token_summary", "refresh_token_summary")}),
        ("Reinstall", {"fields": ("reinstall_link",)}),
    )
    readonly_fields = tuple(
        name for _, spec in fieldsets for name in spec["fields"] if isinstance(name, str)
    )

    # --- queries --------------------------------------------------------------------------
    def get_queryset(self, request: HttpRequest) -> QuerySet[Workspace]:
        return health.with_health(super().get_queryset(request))

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Workspace], search_term: str
    ) -> tuple[QuerySet[Workspace], bool]:
        """A Slack id (T…, E…, U…, W…, B…) is matched exactly, through the indexes."""
        term = search_term.strip()
        if SLACK_ID.fullmatch(term):
            ids = Q(team_id=term) | Q(enterprise_id=term) | Q(installer_user_id=term)
            ids |= Q(bot_user_id=term) | Q(bot_id=term)
            # Resolve the few matches first: ordered by install time, the planner would rather
            # walk that index across every row than use the id indexes (EXPLAIN at 100k rows).
            matches = list(Workspace.objects.filter(ids).values_list("pk", flat=True)[:1001])
            return queryset.filter(pk__in=matches), False
        return super().get_search_results(request, queryset, search_term)

    def response_action(
        self, request: HttpRequest, queryset: QuerySet[Workspace], *args: Any, **kwargs: Any
    ) -> HttpResponse | None:
        refuse_unknown_selection(self.model, request)
        return super().response_action(request, queryset, *args, **kwargs)

    # --- permissions: view to see, change for actions, no add/edit/delete -------------------
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None:
            return False  # the page is view-only; a POST to it gets 403
        return super().has_change_permission(request)

    def has_forget_permission(self, request: HttpRequest) -> bool:
        """Erasing a workspace is for superusers only (docs/privacy.md)."""
        return bool(request.user.is_active and request.user.is_superuser)

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("installations.revoke_workspace")

    # --- columns ----------------------------------------------------------------------------
    @admin.display(description="Workspace", ordering="team_name")
    def name_and_id(self, obj: Workspace) -> str:
        if obj.is_enterprise_install:
            return f"{obj.enterprise_name or 'Org'} ({obj.enterprise_id})"
        name = f"{obj.team_name or 'Workspace'} ({obj.team_id})"
        if obj.enterprise_id:  # a Grid workspace: its org on a second line
            return format_html('{}<span class="ws-org">{}</span>', name, self.enterprise(obj))
        return name

    @admin.display(description="Enterprise", ordering="enterprise_name")
    def enterprise(self, obj: Workspace) -> str:
        if not obj.enterprise_id:
            return EMPTY
        name = obj.enterprise_name
        return f"{name} ({obj.enterprise_id})" if name else obj.enterprise_id

    @admin.display(description="Install type", ordering="is_enterprise_install")
    def install_type_display(self, obj: Workspace) -> str:
        return "Org-wide" if obj.is_enterprise_install else "Workspace"

    @admin.display(description="Installer", ordering="installer_user_id")
    def installer(self, obj: Workspace) -> str:
        return obj.installer_user_id or EMPTY

    @admin.display(description="Granted bot scopes")
    def granted_bot_scopes(self, obj: Workspace) -> str:
        return ", ".join(obj.bot_scope_list) or EMPTY

    @admin.display(description="Status", ordering="needs_reinstall")
    def status_and_reasons(self, obj: Workspace) -> str:
        """A badge, then each reason in words with its who and when (``reason_details``)."""
        status = health.status(obj)
        if status == health.ACTIVE:
            return format_html('<span class="ws-status ws-active">{}</span>', status)
        reasons = format_html_join(
            "",
            '<li>{}<span class="ws-reason-detail">{}</span></li>',
            ((reason.words, f" ({reason.detail})" if reason.detail else "") for reason in
             health.reason_details(obj)),
        )  # fmt: skip
        return format_html(
            '<strong class="ws-status ws-needs-reinstall">{}</strong>'
            '<ul class="ws-reasons">{}</ul>',
            status,
            reasons,
        )

    installed_when = time_column("installed_at", "Installed")
    first_installed_when = time_column("first_installed_at", "First installed")
    last_verified_when = time_column("last_verified_at", "Last verified")
    last_error_when = time_column("last_error_at", "Last error at")
    uninstalled_when = time_column("uninstalled_at", "Uninstalled at")
    bot_revoked_when = time_column("bot_revoked_at", "Bot token revoked at")
    refresh_failed_when = time_column("refresh_failed_at", "Refresh failed at")

    @admin.display(description="The app on Slack")
    def slack_management_link(self, obj: Workspace) -> str:
        url = admin_detail.slack_management_url(obj)
        if not url:
            return "— (no app id recorded for this install)"
        return format_html('<a href="{}" rel="noreferrer">Manage the app on Slack</a>', url)

    # --- detail page ----------------------------------------------------------------------
    @admin.display(description="Bot token")
    def bot_token_summary(self, obj: Workspace) -> str:
        return admin_detail.token_summary(obj, "bot_token", obj.bot_token_expires_at, check=True)

    @admin.display(description="Bot refresh token")
    def refresh_token_summary(self, obj: Workspace) -> str:
        return admin_detail.token_summary(obj, "bot_refresh_token", check=True)

    @admin.display(description="Reinstall link (send it to the workspace's admin)")
    def reinstall_link(self, obj: Workspace) -> str:
        url = install_page_url(obj.team_id)  # org-wide installs: the plain install page
        return format_html('<a href="{}" rel="noreferrer">{}</a>', url, url)

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        counts = health.status_counts(Workspace.objects.all())
        extra: dict[str, Any] = {"status_counts": counts, "active_label": health.ACTIVE}
        extra["title"] = "Slack workspaces: status and reinstall needs"
        extra["needs_label"] = health.NEEDS_REINSTALL
        extra["unreadable_label"] = health.UNREADABLE
        extra["activity_chart"] = chart.activity_chart()  # one grouped query, cached
        return super().changelist_view(request, {**extra, **(extra_context or {})})

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra: dict[str, Any] = {}
        if self.has_view_or_change_permission(request):  # else Django answers 403 below
            workspace = self.get_object(request, object_id)
            if workspace is not None:
                extra = admin_detail.detail_context(workspace)
        extra["can_change"] = super().has_change_permission(request)
        extra["can_revoke"] = self.has_revoke_permission(request)
        if "offered" in extra:
            extra["actions_absent"] = extra["offered"].absent(
                can_change=extra["can_change"], can_revoke=extra["can_revoke"]
            )
        return super().change_view(request, object_id, form_url, {**extra, **(extra_context or {})})


@admin.register(LifecycleEvent)
class LifecycleEventAdmin(ReadOnlyRows, OfferedFiltersOnly, _EventModelAdmin):
    """Every lifecycle event across workspaces, read-only (facts, never tokens)."""

    list_display = ("occurred_when", "kind", "workspace_link", "actor", "detail")
    list_display_links = ("occurred_when",)
    empty_value_display = EMPTY
    list_filter = ("kind",)
    search_fields = ("workspace__team_id", "workspace__enterprise_id", "actor", "slack_event_id")
    list_select_related = ("workspace",)
    ordering = ("-occurred_at",)
    # A read-only foreign key is shown as a link to the workspace's page.
    fields = ("occurred_when", "kind", "workspace", "actor", "detail", "slack_event_id")
    readonly_fields = fields

    occurred_when = time_column("occurred_at", "When")

    @admin.display(description="Workspace", ordering="workspace__team_name")
    def workspace_link(self, obj: LifecycleEvent) -> str:
        if obj.workspace is None:
            return EMPTY
        url = reverse("admin:installations_workspace_change", args=[obj.workspace.pk])
        return format_html('<a href="{}">{}</a>', url, obj.workspace)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _titled(default: object) -> str:
    """The app's admin title if the host opted in (``SLACK_ADMIN_TITLES``), else Django's
    ``default`` (translated when the page is drawn)."""
    opted_in = getattr(settings, "SLACK_ADMIN_TITLES", False)
    return branding().admin_title if opted_in else str(default)


# The admin's header and title stay the host's unless it opts in; read when a page is drawn.
if admin.site.site_header is AdminSite.site_header:
    admin.site.site_header = lazy(_titled, str)(AdminSite.site_header)
if admin.site.site_title is AdminSite.site_title:
    admin.site.site_title = lazy(_titled, str)(AdminSite.site_title)
