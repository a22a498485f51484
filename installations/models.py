"""Installations of one Slack app: current state per target, history, lifecycle, OAuth state.

Slack ids that may be absent (``enterprise_id`` outside Enterprise Grid, ``team_id`` for an
org-wide install) are stored as ``""`` rather than NULL, so the unique constraints hold on every
database (NULLs never collide in a unique index). The store adapters map ``""`` back to ``None``.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from installations.encryption.fields import EncryptedTextField
from installations.encryption.models import EncryptedModel, encrypted_fields  # noqa: F401


class Health(models.TextChoices):
    UNKNOWN = "unknown", "Not verified yet"
    OK = "ok", "Token works"
    SUSPECT = "suspect", "Token refused once"
    DEAD = "dead", "Token dead"


class InstallIdentity(EncryptedModel):
    """What Slack says an install is of, shared by Workspace (now) and Installation (history).
    Abstract, with the columns in migration order."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client_id = models.CharField(max_length=64)
    app_id = models.CharField(max_length=32, blank=True)
    enterprise_id = models.CharField(max_length=32, blank=True, default="")
    enterprise_name = models.CharField(max_length=255, blank=True)
    enterprise_url = models.URLField(max_length=500, blank=True)
    team_id = models.CharField(max_length=32, blank=True, default="")
    team_name = models.CharField(max_length=255, blank=True)
    is_enterprise_install = models.BooleanField(default=False)
    token_type = models.CharField(max_length=16, blank=True)

    class Meta:
        abstract = True


class Workspace(InstallIdentity):
    """The current state of one install target: a workspace, or an org for org-wide installs."""

    bot_token = EncryptedTextField()
    bot_id = models.CharField(max_length=32, blank=True)
    bot_user_id = models.CharField(max_length=32, blank=True)
    bot_scopes = models.TextField(blank=True, help_text="Comma-separated, as Slack granted them.")
    bot_refresh_token = EncryptedTextField()
    bot_token_expires_at = models.DateTimeField(null=True, blank=True)

    installer_user_id = models.CharField(max_length=32, blank=True)
    first_installed_at = models.DateTimeField(default=timezone.now)
    installed_at = models.DateTimeField(default=timezone.now)

    # Lifecycle facts; the admin derives "needs reinstall" and its reasons from these.
    uninstalled_at = models.DateTimeField(null=True, blank=True)
    bot_revoked_at = models.DateTimeField(null=True, blank=True)
    health = models.CharField(max_length=16, choices=Health.choices, default=Health.UNKNOWN)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    verify_failures = models.PositiveSmallIntegerField(default=0)
    last_error = models.CharField(max_length=64, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    refresh_failed_at = models.DateTimeField(null=True, blank=True)
    # A refresher's claim on the bot's refresh token (rotation.py).
    bot_refresh_claimed_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client_id", "enterprise_id", "team_id"], name="uniq_workspace_target"
            ),
        ]
        indexes = [
            models.Index(fields=["installed_at"], name="workspace_installed_idx"),
            # Admin filters and id searches stay index lookups at 100,000 rows.
            models.Index(fields=["health"], name="workspace_health_idx"),
            models.Index(fields=["team_id"], name="workspace_team_idx"),
            models.Index(fields=["enterprise_id"], name="workspace_enterprise_idx"),
            models.Index(fields=["installer_user_id"], name="workspace_installer_idx"),
            models.Index(fields=["bot_user_id"], name="workspace_bot_user_idx"),
        ]
        permissions = [("revoke_workspace", "Can revoke a workspace's tokens")]

    def __str__(self) -> str:
        if self.is_enterprise_install:
            return f"{self.enterprise_name or 'Org'} ({self.enterprise_id}, org-wide)"
        return f"{self.team_name or 'Workspace'} ({self.team_id})"

    @property
    def install_type(self) -> str:
        return "org-wide" if self.is_enterprise_install else "workspace"

    @property
    def bot_scope_list(self) -> list[str]:
        return [s for s in self.bot_scopes.split(",") if s]


class Installation(InstallIdentity):
    """One completed install flow (history) and the installer's token then; a partial unique
    constraint keeps exactly one ``is_current`` row, the latest, per user."""

    class Source(models.TextChoices):
        OAUTH = "oauth", "Add to Slack"
        MANUAL = "manual", "Single-workspace token"
        STORE = "store", "Saved by a Bolt app"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="installations")

    user_id = models.CharField(max_length=32, blank=True)
    user_token = EncryptedTextField()
    user_scopes = models.TextField(blank=True)
    user_refresh_token = EncryptedTextField()
    user_token_expires_at = models.DateTimeField(null=True, blank=True)
    # The user-token twin of Workspace.bot_refresh_claimed_until.
    user_refresh_claimed_until = models.DateTimeField(null=True, blank=True)

    bot_id = models.CharField(max_length=32, blank=True)
    bot_user_id = models.CharField(max_length=32, blank=True)
    bot_scopes = models.TextField(blank=True, help_text="Bot scopes granted by this flow.")

    incoming_webhook_url = EncryptedTextField()
    incoming_webhook_channel = models.CharField(max_length=255, blank=True)
    incoming_webhook_channel_id = models.CharField(max_length=32, blank=True)
    incoming_webhook_configuration_url = models.URLField(max_length=500, blank=True)

    installed_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.OAUTH)
    is_current = models.BooleanField(default=True)
    user_token_revoked_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    custom_values = models.JSONField(default=dict, blank=True)
    # The host site's user who ran the Add to Slack flow, when they were logged in there.
    installed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="slack_installations",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client_id", "enterprise_id", "team_id", "user_id"],
                condition=Q(is_current=True),
                name="uniq_current_installation_per_user",
            ),
        ]
        indexes = [
            models.Index(
                fields=["client_id", "enterprise_id", "team_id", "installed_at"],
                name="installation_latest_idx",
            ),
            models.Index(
                fields=["client_id", "enterprise_id", "team_id", "user_id", "installed_at"],
                name="installation_user_latest_idx",
            ),
        ]

    def __str__(self) -> str:
        target = self.team_id or self.enterprise_id
        when = f"{self.installed_at:%Y-%m-%d %H:%M}"
        return f"Installation by {self.user_id or 'unknown'} in {target} at {when}"


class OAuthState(models.Model):
    """A *spent* OAuth ``state``, by SHA-256 hash: the unique constraint lets exactly one
    callback spend it. Purged after the state's expiry (install/state.py)."""

    state_hash = models.CharField(max_length=64, unique=True)
    spent_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"OAuth state spent {self.spent_at:%Y-%m-%d %H:%M:%S}"


class LifecycleEvent(models.Model):
    """Something that happened to an installation, with who did it. Never holds a token."""

    class Kind(models.TextChoices):
        INSTALLED = "installed", "Installed"
        REINSTALLED = "reinstalled", "Reinstalled"
        UNINSTALLED = "uninstalled", "Uninstalled"
        BOT_REVOKED = "bot_revoked", "Bot token revoked"
        USER_REVOKED = "user_revoked", "User token revoked"
        VERIFIED = "verified", "Verified"
        VERIFY_FAILED = "verify_failed", "Verification failed"
        REFRESHED = "refreshed", "Tokens refreshed"
        REFRESH_FAILED = "refresh_failed", "Token refresh failed"
        REVOKED = "revoked", "Revoked by staff"
        TEAM_ACCESS_GRANTED = "team_access_granted", "Org granted workspaces"
        TEAM_ACCESS_REVOKED = "team_access_revoked", "Org removed workspaces"

    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="events", null=True, blank=True
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    actor = models.CharField(
        max_length=150, help_text="slack, staff:<username>, command:<name>, bolt"
    )
    detail = models.CharField(max_length=255, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    slack_event_id = models.CharField(max_length=64, blank=True)

    class Meta:
        indexes = [models.Index(fields=["workspace", "occurred_at"], name="lifecycle_ws_time_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.actor} at {self.occurred_at:%Y-%m-%d %H:%M}"


class ProcessedSlackEvent(models.Model):
    """Event ids already handled, so Slack's retries apply their effects once."""

    event_id = models.CharField(max_length=64, unique=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return self.event_id


class OrgTeamAccess(models.Model):
    """A workspace an org-wide install covers (team_access_granted / team_access_revoked)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="team_access")
    team_id = models.CharField(max_length=32)
    granted_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "team_id"], name="uniq_org_team_access")
        ]

    def __str__(self) -> str:
        return self.team_id


class JobRun(models.Model):
    """When each scheduled job (``slack_verify``, ``slack_refresh_tokens``, ...) last ran and how it
    ended, so ``/metrics`` can say a job stopped running, whichever host runs it."""

    job = models.CharField(max_length=64, unique=True)
    last_finished_at = models.DateTimeField()
    last_succeeded_at = models.DateTimeField(null=True, blank=True)
    last_failed = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.job


class ForgottenWorkspace(models.Model):
    """The anonymous tombstone of an erased workspace: a random id and the date, nothing else,
    so counts of what was ever installed stay honest (docs/privacy.md)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    forgotten_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Forgotten workspace {self.id}"
