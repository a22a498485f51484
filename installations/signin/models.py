"""``SlackIdentity``: one Slack user, as Sign in with Slack proves it, linked to one Django user.

Keyed on Slack's own ids, never on email (any workspace's member can type any email): ``home``
(the Grid org when there is one, else the workspace) + ``slack_user_id``. ``team_id``, email and
names are as last seen. The table keeps its first name, ``installations_slackidentity``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class SlackIdentity(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slack_identities"
    )
    home = models.CharField(
        max_length=32, help_text="enterprise_id in Enterprise Grid, else team_id: the key's scope"
    )
    slack_user_id = models.CharField(max_length=32)
    team_id = models.CharField(max_length=32)
    enterprise_id = models.CharField(max_length=32, blank=True, default="")
    email = models.EmailField(max_length=254, blank=True)
    name = models.CharField(max_length=255, blank=True)
    team_name = models.CharField(max_length=255, blank=True)
    granted_staff = models.BooleanField(
        default=False, help_text="Staff status came from the SLACK_SIGNIN_STAFF_* settings"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_signed_in_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # Named, not derived: without the sign-in app listed, the derived label would be the
        # containing ``installations`` app's, and its migrations would gain this model.
        app_label = "slackinstall_signin"
        db_table = "installations_slackidentity"
        verbose_name = "Slack identity"
        verbose_name_plural = "Slack identities"
        constraints = [
            models.UniqueConstraint(fields=["home", "slack_user_id"], name="slack_identity_unique")
        ]

    def __str__(self) -> str:
        return f"{self.slack_user_id} in {self.home}"
